import type { SignatureError } from "../errors/Errors.js"
import type { VerifyInput } from "./ring.js"

/**
 * Synchronous twins of services built by this library, found by identity.
 * A service object a user builds or wraps (even by spreading one of ours)
 * is not in these maps, so the pipeline goes through its Effect methods.
 *
 * @internal
 */
export const syncAuthorize = new WeakMap<object, (method: string, url: string, body: string, nowMillis: number) => string>()

/** @internal */
export const syncVerify = new WeakMap<object, (input: VerifyInput) => SignatureError | undefined>()

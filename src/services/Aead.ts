/**
 * `AEAD_AES_256_GCM`, the scheme WeChat Pay uses for platform certificates
 * and callback payloads: AES-256-GCM with the 32-byte APIv3 key, a 12-byte
 * nonce and the resource's associated data; the ciphertext is Base64 with the
 * 16-byte tag at its end.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as crypto from "node:crypto"
import { DecryptError, InvalidKeyError } from "../errors/Errors.js"
import * as Protocol from "../protocol/aead.js"
import { DecryptFailure, KeyFailure } from "../protocol/failures.js"

/**
 * An encrypted resource as WeChat Pay sends it.
 *
 * @since 0.1.0
 * @category models
 */
export type EncryptedResource = Protocol.EncryptedResource

/**
 * The algorithm name of every resource this module handles.
 *
 * @since 0.1.0
 * @category constants
 */
export const ALGORITHM: string = Protocol.ALGORITHM

/**
 * A parsed APIv3 key: exactly 32 bytes of UTF-8.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiV3Key {
  readonly _tag: "ApiV3Key"
  readonly key: crypto.KeyObject
}

/**
 * Checks and parses an APIv3 key (32 bytes, UTF-8). Fails with an
 * `InvalidKeyError` that never echoes the key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const apiV3Key = (key: Redacted.Redacted<string>): Either.Either<ApiV3Key, InvalidKeyError> => {
  if (!Redacted.isRedacted(key)) {
    return Either.left(new InvalidKeyError({ key: "ApiV3Key", description: "the APIv3 key must be Redacted: Redacted.make(key)" }))
  }
  const parsed = Protocol.parseApiV3Key(Redacted.value(key))
  return parsed instanceof KeyFailure
    ? Either.left(InvalidKeyError.fromFailure(parsed))
    : Either.right({ _tag: "ApiV3Key", key: parsed })
}

const isApiV3Key = (u: unknown): u is ApiV3Key =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "ApiV3Key"

/**
 * Decrypts a resource synchronously, returning the UTF-8 plaintext or the
 * failure.
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptResourceEither = (key: ApiV3Key, resource: EncryptedResource): Either.Either<string, DecryptError> => {
  const plaintext = Protocol.decrypt(key.key, resource)
  return plaintext instanceof DecryptFailure ? Either.left(DecryptError.fromFailure(plaintext)) : Either.right(plaintext)
}

/**
 * Decrypts an `AEAD_AES_256_GCM` resource (a platform certificate or a
 * callback's `resource`) with the APIv3 key.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Aead } from "effect-wechatpay"
 *
 * const plaintext = Aead.decryptResource(Redacted.make(process.env.WECHATPAY_APIV3_KEY ?? ""), {
 *   algorithm: "AEAD_AES_256_GCM",
 *   nonce: "9ac6f6d1c3b2",
 *   associated_data: "transaction",
 *   ciphertext: "..."
 * })
 * ```
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptResource = (
  key: ApiV3Key | Redacted.Redacted<string>,
  resource: EncryptedResource
): Effect.Effect<string, DecryptError | InvalidKeyError> =>
  Effect.suspend(() => Either.flatMap(isApiV3Key(key) ? Either.right(key) : apiV3Key(key), (k) => decryptResourceEither(k, resource)))

/**
 * Encrypts a plaintext the way WeChat Pay does (for sandboxes and tests). The
 * nonce defaults to 12 random hex characters.
 *
 * @since 0.1.0
 * @category encryption
 */
export const encryptResource = (
  key: ApiV3Key,
  plaintext: string,
  options: { readonly nonce?: string | undefined; readonly associatedData?: string | undefined } = {}
): EncryptedResource => Protocol.encrypt(key.key, plaintext, options)

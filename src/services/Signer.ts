/**
 * Signs APIv3 requests with the merchant API private key
 * (`WECHATPAY2-SHA256-RSA2048`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { InvalidKeyError, SignatureError } from "../errors/Errors.js"
import { KeyFailure, safeCause, SignatureFailure } from "../protocol/failures.js"
import { parsePrivateKey } from "../protocol/keys.js"
import * as Signing from "../protocol/signing.js"

/**
 * The signing scheme name that prefixes every `Authorization` header.
 *
 * @since 0.1.0
 * @category constants
 */
export const SCHEME: typeof Signing.SCHEME = Signing.SCHEME

/**
 * The shape of the `Signer` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The merchant id (`mchid`). */
  readonly mchid: string
  /** The serial number of the merchant API certificate the key belongs to. */
  readonly serialNo: string
  /** Signs an arbitrary message: RSASSA-PKCS1-v1_5 with SHA-256, Base64. */
  readonly sign: (message: string) => Effect.Effect<string, SignatureError>
  /**
   * Builds the full `Authorization` header value for one request. `url` is
   * the path plus `?query` exactly as sent; `body` is `""` for a GET. The
   * timestamp comes from Effect's `Clock`, the 32-character nonce from a
   * CSPRNG, so every call (and every retry) is signed afresh.
   */
  readonly authorize: (method: string, url: string, body: string) => Effect.Effect<string, SignatureError>
}

/**
 * The request signer: a `Context.Tag` for {@link Service}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Signer extends Context.Tag("effect-wechatpay/Signer")<Signer, Service>() {}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The merchant id, e.g. `"1900000001"`. */
  readonly mchid: string
  /** The merchant API certificate serial number. */
  readonly serialNo: string
  /**
   * The merchant API private key (`apiclient_key.pem`): PKCS#8 or PKCS#1
   * PEM text, `Redacted` so it never shows in a log.
   */
  readonly privateKey: Redacted.Redacted<string>
}

/**
 * Formats the five-line message that is signed for a request: method, URL,
 * timestamp, nonce and body, each followed by `\n`.
 *
 * @since 0.1.0
 * @category signing
 */
export const message: (method: string, url: string, timestamp: string, nonce: string, body: string) => string =
  Signing.signingMessage

/**
 * Formats an `Authorization` header value from its parts.
 *
 * @since 0.1.0
 * @category signing
 */
export const header: typeof Signing.authorizationHeader = Signing.authorizationHeader

const signingFailed = (cause: unknown): SignatureError =>
  SignatureError.fromFailure(
    new SignatureFailure(
      "SigningFailed",
      "RSA-SHA256 signing with the merchant private key failed",
      undefined,
      safeCause(cause)
    )
  )

/**
 * Builds a `Signer` from a signing function of your own, e.g. one backed by
 * a KMS or HSM. `authorize` is derived: it reads the `Clock`, draws a nonce
 * and calls `sign` on the signing message.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Signer } from "effect-wechatpay"
 *
 * declare const kmsSign: (message: string) => Promise<string>
 *
 * const KmsSigner = Signer.makeWith({
 *   mchid: "1900000001",
 *   serialNo: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
 *   sign: (message) =>
 *     Effect.tryPromise({ try: () => kmsSign(message), catch: (cause) => Signer.signingFailed(cause) })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (options: {
  readonly mchid: string
  readonly serialNo: string
  readonly sign: (message: string) => Effect.Effect<string, SignatureError>
}): Service => {
  const { mchid, serialNo, sign } = options
  return {
    mchid,
    serialNo,
    sign,
    authorize: (method, url, body) =>
      Effect.clockWith((clock) => {
        const timestamp = String(Math.floor(clock.unsafeCurrentTimeMillis() / 1000))
        const nonce = Signing.nonce()
        return Effect.map(
          sign(Signing.signingMessage(method, url, timestamp, nonce, body)),
          (signature) => Signing.authorizationHeader({ mchid, nonce, signature, timestamp, serialNo })
        )
      })
  }
}

export {
  /**
   * The `SignatureError` (reason `SigningFailed`) for a signing step that
   * failed, keeping only a safe cause (the name and code of the failure).
   *
   * @since 0.2.0
   * @category errors
   */
  signingFailed
}

/**
 * Builds a `Signer` from the merchant private key. The PEM is parsed once,
 * here; an unusable key, merchant id or serial fails with an
 * `InvalidKeyError` that names it and never echoes the key.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Signer } from "effect-wechatpay"
 *
 * const signer = Signer.make({
 *   mchid: "1900000001",
 *   serialNo: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
 *   privateKey: Redacted.make(process.env.WECHATPAY_PRIVATE_KEY ?? "")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, InvalidKeyError> =>
  Effect.suspend(() => {
    const invalid = Signing.checkIdentity(options.mchid, options.serialNo)
    if (invalid !== undefined) return Effect.fail(InvalidKeyError.fromFailure(invalid))
    if (!Redacted.isRedacted(options.privateKey)) {
      return Effect.fail(new InvalidKeyError({ key: "PrivateKey", description: "privateKey must be Redacted: Redacted.make(pem)" }))
    }
    const privateKey = parsePrivateKey(Redacted.value(options.privateKey))
    if (privateKey instanceof KeyFailure) return Effect.fail(InvalidKeyError.fromFailure(privateKey))
    return Effect.succeed(makeWith({
      mchid: options.mchid,
      serialNo: options.serialNo,
      sign: (message) => Effect.try({ try: () => Signing.sign(privateKey, message), catch: signingFailed })
    }))
  })

/**
 * A layer providing a {@link Signer} built with {@link make}.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Signer } from "effect-wechatpay"
 *
 * const SignerLive = Signer.layer({
 *   mchid: "1900000001",
 *   serialNo: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
 *   privateKey: Redacted.make(process.env.WECHATPAY_PRIVATE_KEY ?? "")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Signer, InvalidKeyError> => Layer.effect(Signer, make(options))

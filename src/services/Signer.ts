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
import * as Crypto from "../internal/crypto.js"
import { syncAuthorize } from "../internal/fastPaths.js"

/**
 * The signing scheme name that prefixes every `Authorization` header.
 *
 * @since 0.1.0
 * @category constants
 */
export const SCHEME = "WECHATPAY2-SHA256-RSA2048"

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
  /**
   * Signs an arbitrary message: RSASSA-PKCS1-v1_5 with SHA-256, Base64.
   */
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
   * The merchant API private key (`apiclient_key.pem`), PEM text: PKCS#8
   * PEM or PKCS#1 ("RSA PRIVATE KEY") PEM.
   */
  readonly privateKey: Redacted.Redacted<string> | string
}

/**
 * Formats the five-line message that is signed for a request:
 * method, URL, timestamp, nonce and body, each followed by `\n`.
 *
 * @since 0.1.0
 * @category signing
 */
export const message = (method: string, url: string, timestamp: string, nonce: string, body: string): string =>
  `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`

/**
 * Formats an `Authorization` header value from its parts.
 *
 * @since 0.1.0
 * @category signing
 */
export const header = (parts: {
  readonly mchid: string
  readonly nonce: string
  readonly signature: string
  readonly timestamp: string
  readonly serialNo: string
}): string =>
  `${SCHEME} mchid="${parts.mchid}",nonce_str="${parts.nonce}",signature="${parts.signature}",timestamp="${parts.timestamp}",serial_no="${parts.serialNo}"`

const HEADER_VALUE = /^[\x21-\x7e]+$/

const checkHeaderValue = (name: "mchid" | "serialNo", value: string): InvalidKeyError | undefined =>
  HEADER_VALUE.test(value) && !value.includes("\"")
    ? undefined
    : new InvalidKeyError({
      key: "PrivateKey",
      description: `${name} must be non-empty printable ASCII without spaces or quotes`
    })

/**
 * Builds a `Signer` from a custom signing function, e.g. one backed by a KMS
 * or HSM. `authorize` is derived: it reads the `Clock`, draws a nonce and
 * calls `sign` on the canonical message.
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
        const nonce = Crypto.nonce()
        return Effect.map(
          sign(message(method, url, timestamp, nonce, body)),
          (signature) => header({ mchid, nonce, signature, timestamp, serialNo })
        )
      })
  }
}

/**
 * Builds a `Signer` from the merchant private key. The PEM is parsed once,
 * here; an unreadable key fails with an `InvalidKeyError` that names the
 * problem and never echoes the key.
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
    const invalid = checkHeaderValue("mchid", options.mchid) ?? checkHeaderValue("serialNo", options.serialNo)
    if (invalid !== undefined) return Effect.fail(invalid)
    const pem = Redacted.isRedacted(options.privateKey) ? Redacted.value(options.privateKey) : options.privateKey
    const key = Crypto.parsePrivateKey(pem)
    if (key instanceof InvalidKeyError) return Effect.fail(key)
    const unsafeAuthorize = (method: string, url: string, body: string, nowMillis: number): string => {
      const timestamp = String(Math.floor(nowMillis / 1000))
      const nonce = Crypto.nonce()
      const signature = Crypto.sign(key, message(method, url, timestamp, nonce, body))
      return header({ mchid: options.mchid, nonce, signature, timestamp, serialNo: options.serialNo })
    }
    const service = makeWith({
      mchid: options.mchid,
      serialNo: options.serialNo,
      sign: (message) => Effect.try({ try: () => Crypto.sign(key, message), catch: Crypto.signingFailed })
    })
    // the pipeline signs synchronously with this exact service (not with a copy or wrapper)
    syncAuthorize.set(service, unsafeAuthorize)
    return Effect.succeed(service)
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

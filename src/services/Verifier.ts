/**
 * Verifies WeChat Pay response signatures against a key ring holding WeChat
 * Pay public keys (`PUB_KEY_ID_…`) and platform certificates at once.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type CertificateError, InvalidKeyError, SignatureError } from "../errors/Errors.js"
import * as Certificates from "../internal/certificates.js"
import { KeyFailure } from "../protocol/failures.js"
import { parseRingKeys, type RingKey } from "../protocol/keys.js"
import * as Verification from "../protocol/verification.js"
import type { Signer } from "./Signer.js"

/**
 * What a response (or a callback) brings to be verified: the four
 * `Wechatpay-*` headers, the optional `Wechatpay-Signature-Type`, the body
 * exactly as received (raw bytes, or text when only text is at hand), and
 * when it was received (epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export type VerifyInput = Verification.VerifyInput

/**
 * One key of the ring: a WeChat Pay public key or a platform certificate.
 *
 * @since 0.1.0
 * @category models
 */
export type { RingKey }

/**
 * Prefix of the deliberately invalid signatures WeChat Pay sends to check that
 * merchants verify responses.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROBE_PREFIX: string = Verification.PROBE_PREFIX

/**
 * The shape of the `Verifier` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * The key id sent as the `Wechatpay-Serial` request header: it asks WeChat
   * Pay to sign the response with this key (public key or certificate).
   */
  readonly preferredSerial: string
  /** Every key id in the ring. */
  readonly serials: () => ReadonlyArray<string>
  /**
   * Checks the signature type, the timestamp window, the signature's form,
   * the key for the serial and finally RSA-SHA256 over
   * `${timestamp}\n${nonce}\n${body}\n`. Fails with a `SignatureError` whose
   * `reason` says which check failed.
   */
  readonly verify: (input: VerifyInput) => Effect.Effect<void, SignatureError>
}

/**
 * The response verifier: a `Context.Tag` for {@link Service}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Verifier extends Context.Tag("effect-wechatpay/Verifier")<Verifier, Service>() {}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * WeChat Pay public keys by id: `{ "PUB_KEY_ID_0114232134912410000000000000": "-----BEGIN PUBLIC KEY-----…" }`.
   */
  readonly publicKeys?: Readonly<Record<string, string>> | undefined
  /**
   * Platform certificates, PEM text (one or several certificates per entry);
   * each is known by its serial number in uppercase hex.
   */
  readonly certificates?: ReadonlyArray<string> | undefined
  /**
   * The key id to send as `Wechatpay-Serial`. Defaults to the first public
   * key, else the certificate that expires last.
   */
  readonly preferredSerial?: string | undefined
  /** The accepted distance between `Wechatpay-Timestamp` and the local clock. Default 300 s. */
  readonly maxClockSkewSeconds?: number | undefined
}

/**
 * Certificate serials in canonical form (uppercase hex, no leading zeros).
 *
 * @since 0.1.0
 * @category verification
 */
export { normalizeSerial } from "../protocol/keys.js"

/**
 * Builds a verifier over a fixed set of ring keys.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeys = (
  keys: ReadonlyArray<RingKey>,
  options?: { readonly preferredSerial?: string | undefined; readonly maxClockSkewSeconds?: number | undefined }
): Service => {
  const ring = new Verification.KeyRing(keys)
  const serials = ring.serials
  const maxSkew = options?.maxClockSkewSeconds
  return {
    preferredSerial: options?.preferredSerial ?? ring.preferred() ?? "",
    serials: () => serials,
    verify: (input) => {
      const failure = Verification.verify(ring, input, maxSkew)
      return failure === undefined ? Effect.void : Effect.fail(SignatureError.fromFailure(failure))
    }
  }
}

/**
 * Builds a verifier from PEM key material, parsed once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, InvalidKeyError> =>
  Effect.suspend(() => {
    const keys = parseRingKeys(options)
    if (keys instanceof KeyFailure) return Effect.fail(InvalidKeyError.fromFailure(keys))
    if (options.preferredSerial !== undefined && !keys.some((k) => k.serial === options.preferredSerial)) {
      return Effect.fail(
        new InvalidKeyError({ key: "KeyRing", id: options.preferredSerial, description: "preferredSerial is not in the ring" })
      )
    }
    return Effect.succeed(fromKeys(keys, options))
  })

/**
 * A layer providing a {@link Verifier} over WeChat Pay public keys and/or
 * platform certificates.
 *
 * @example
 * ```ts
 * import { Verifier } from "effect-wechatpay"
 *
 * const VerifierLive = Verifier.layer({
 *   publicKeys: { PUB_KEY_ID_0114232134912410000000000000: "-----BEGIN PUBLIC KEY-----\n..." }
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Verifier, InvalidKeyError> => Layer.effect(Verifier, make(options))

/**
 * Options of {@link layerAutoCertificates}.
 *
 * @since 0.1.0
 * @category models
 */
export type AutoCertificatesOptions = Certificates.AutoCertificatesOptions

/**
 * A verifier that downloads the platform certificates itself
 * (`GET /v3/certificates` through the signed pipeline), decrypts them with the
 * APIv3 key, and accepts a download only when its own signature verifies with
 * a delivered certificate or an already trusted key. It refreshes every
 * `refreshInterval` (12 h) and once when a response names an unknown serial:
 * single-flight, and at most once per `minRefreshInterval` (60 s), so a flood
 * of unknown serials cannot cause a flood of downloads. `publicKeys` are
 * trusted alongside. A merchant without platform certificates gets a
 * `CertificateError` with reason `NotAvailable` that says to use the public
 * key instead.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer, Redacted } from "effect"
 * import { Signer, Verifier } from "effect-wechatpay"
 *
 * declare const SignerLive: Layer.Layer<Signer.Signer>
 *
 * const VerifierLive = Verifier.layerAutoCertificates({ apiV3Key: Redacted.make("0123456789abcdef0123456789abcdef") }).pipe(
 *   Layer.provide(Layer.merge(SignerLive, NodeHttpClient.layerUndici))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAutoCertificates = (
  options: AutoCertificatesOptions
): Layer.Layer<Verifier, CertificateError | InvalidKeyError, Signer | HttpClient.HttpClient> =>
  Layer.scoped(Verifier, Certificates.makeAutoCertificates(options))

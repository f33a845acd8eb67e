/**
 * Verifies WeChat Pay response signatures against a key ring holding WeChat
 * Pay public keys (`PUB_KEY_ID_…`) and platform certificates at once.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as HttpClient from "@effect/platform/HttpClient"
import { type CertificateError, InvalidKeyError } from "../errors/Errors.js"
import type * as Certificates from "../internal/certificates.js"
import {
  fromKeys,
  type Options,
  parseKeys,
  type Service
} from "../internal/ring.js"
import type { Signer } from "./Signer.js"

export {
  /**
   * Builds a verifier over a fixed set of ring keys.
   *
   * @since 0.1.0
   * @category constructors
   */
  fromKeys,
  /**
   * Certificate serials in canonical form (uppercase hex, no leading zeros).
   *
   * @since 0.1.0
   * @category verification
   */
  normalizeSerial,
  /**
   * @since 0.1.0
   * @category models
   */
  type Options,
  /**
   * Parses PEM key material into ring keys.
   *
   * @since 0.1.0
   * @category constructors
   */
  parseKeys,
  /**
   * Checks signature type, timestamp window and signature form.
   *
   * @since 0.1.0
   * @category verification
   */
  precheck,
  /**
   * Prefix of WeChat Pay's deliberately invalid probe signatures.
   *
   * @since 0.1.0
   * @category constants
   */
  PROBE_PREFIX,
  /**
   * @since 0.1.0
   * @category models
   */
  type RingKey,
  /**
   * @since 0.1.0
   * @category models
   */
  type Service,
  /**
   * The error for a serial the ring does not hold.
   *
   * @since 0.1.0
   * @category verification
   */
  unknownSerial,
  /**
   * Verifies one response with one ring key, synchronously.
   *
   * @since 0.1.0
   * @category verification
   */
  verifyWith,
  /**
   * @since 0.1.0
   * @category models
   */
  type VerifyInput
} from "../internal/ring.js"

/**
 * The response verifier: a `Context.Tag` for {@link Service}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Verifier extends Context.Tag("effect-wechatpay/Verifier")<Verifier, Service>() {}

/**
 * Builds a verifier from PEM key material, parsed once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, InvalidKeyError> =>
  Effect.flatMap(parseKeys(options), (keys) => {
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
export const layer = (options: Options): Layer.Layer<Verifier, InvalidKeyError> =>
  Layer.effect(Verifier, make(options))

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
  // loaded when used: most merchants verify with a public key and never pay for this module
  Layer.scoped(
    Verifier,
    Effect.flatMap(
      Effect.promise(() => import("../internal/certificates.js")),
      (certificates) => certificates.makeAutoCertificates(options)
    )
  )

/**
 * effect-wechatpay: an Effect-native client for WeChat Pay APIv3.
 *
 * @since 0.1.0
 */

/**
 * Pay Score authorizations: queries, pre-authorization, termination.
 *
 * @since 0.1.0
 */
export * as Payscore from "./services/Payscore.js"

/**
 * Business Circle member-points authorization query.
 *
 * @since 0.1.0
 */
export * as BusinessCircle from "./services/BusinessCircle.js"

/**
 * AEAD_AES_256_GCM resources: platform certificates and callback payloads.
 *
 * @since 0.1.0
 */
export * as Aead from "./services/Aead.js"

/**
 * Notifications WeChat Pay POSTs: `parse`, `httpApp`, the APIv3 key.
 *
 * @since 0.2.0
 */
export * as Notifications from "./services/Notifications.js"

/**
 * A cache of lookup results, in one process or shared through Redis.
 *
 * @since 0.2.0
 */
export * as LookupCache from "./services/LookupCache.js"

/**
 * Per-merchant rate limits, in one process or shared through Redis.
 *
 * @since 0.2.0
 */
export * as RateLimit from "./services/RateLimit.js"

/**
 * Request signing (`Signer.Signer`, `Signer.layer`).
 *
 * @since 0.1.0
 */
export * as Signer from "./services/Signer.js"

/**
 * Response verification (`Verifier.Verifier`, `Verifier.layer`).
 *
 * @since 0.1.0
 */
export * as Verifier from "./services/Verifier.js"

/**
 * The signed pipeline, base URL, generic `get` and `layerConfig`.
 *
 * @since 0.1.0
 */
export * as Wechatpay from "./services/Wechatpay.js"

/**
 * Request and response schemas.
 *
 * @since 0.1.0
 */
export * as Schemas from "./schemas/Schemas.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  BusinessError,
  /**
   * @since 0.1.0
   * @category models
   */
  BusinessErrorDetail,
  /**
   * @since 0.1.0
   * @category errors
   */
  CertificateError,
  /**
   * @since 0.1.0
   * @category errors
   */
  DecodeError,
  /**
   * @since 0.1.0
   * @category errors
   */
  DecryptError,
  /**
   * @since 0.2.0
   * @category errors
   */
  DedupeError,
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidKeyError,
  /**
   * @since 0.1.0
   * @category errors
   */
  InvalidRequestError,
  /**
   * @since 0.1.0
   * @category errors
   */
  NetworkError,
  /**
   * @since 0.2.0
   * @category errors
   */
  RateLimitError,
  /**
   * @since 0.1.0
   * @category errors
   */
  SignatureError,
  /**
   * @since 0.1.0
   * @category models
   */
  type WechatpayError
} from "./errors/Errors.js"

export {
  /**
   * The seed SDK's call form.
   *
   * @since 0.1.0
   */
  wxpay
} from "./services/Wxpay.js"

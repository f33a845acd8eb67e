/**
 * The typed failures of effect-wechatpay.
 *
 * Every error is a `Schema.TaggedError` whose `_tag` equals its class name, so
 * it can be matched with `Effect.catchTag`, serialised, and compared with
 * `Equal`. Each one carries the `Request-ID` of the response when there was
 * one, and a `message` that reads well in a log. None of them ever holds key
 * material, a signature or an `Authorization` header value.
 *
 * @since 0.1.0
 */
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as Schema from "effect/Schema"
import { type ErrorBody, truncate } from "../protocol/errorBody.js"
import type { CertificateFailure, DecryptFailure, KeyFailure, SignatureFailure } from "../protocol/failures.js"

/** The longest description a `DecodeError` keeps, in characters. */
const MAX_DESCRIPTION = 1024

/**
 * A `Request-ID` as errors keep it: a server sends what it likes in a header,
 * so at most 128 characters.
 */
const boundedRequestId = (requestId: string | undefined): string | undefined =>
  requestId === undefined ? undefined : truncate(requestId, 128)

/**
 * A transport failure's cause, kept as its name, message and code only: a
 * cause a user's client made may hold the request, `Authorization` included.
 */
const transportCause = (cause: unknown): Error | undefined => {
  if (!(cause instanceof Error)) return undefined
  const kept = new Error(truncate(cause.message, 256))
  kept.name = cause.name
  if ("code" in cause) Object.assign(kept, { code: cause.code })
  return kept
}

/**
 * Where an answer came from, as every error that has one records it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Origin {
  readonly method: string
  readonly path: string
  readonly status?: number | undefined
  readonly requestId?: string | undefined
}

/** `{ key: value }` without the keys whose value is `undefined` (for exact optional fields). */
const defined = <A extends Record<string, unknown>>(fields: A): { [K in keyof A]: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const key in fields) if (fields[key] !== undefined) out[key] = fields[key]
  return out as { [K in keyof A]: Exclude<A[K], undefined> }
}

const suffix = (requestId: string | undefined, attempts?: number | undefined): string =>
  (attempts !== undefined && attempts > 1 ? ` (after ${attempts} attempts)` : "") +
  (requestId !== undefined ? ` [Request-ID: ${requestId}]` : "")

/**
 * Why a signature check or a signing step failed.
 *
 * - `SigningFailed`: the request could not be signed.
 * - `MissingHeaders`: a 2xx response came without the `Wechatpay-*` signature headers.
 * - `MalformedHeaders`: a signature header is present but unusable (e.g. a non-numeric timestamp).
 * - `UnsupportedSignatureType`: `Wechatpay-Signature-Type` is not `WECHATPAY2-SHA256-RSA2048`.
 * - `UnknownSerial`: no key in the ring for the response's `Wechatpay-Serial`.
 * - `CertificateExpired`: the platform certificate selected by the serial is outside its validity.
 * - `TimestampSkew`: `Wechatpay-Timestamp` is more than 300 s away from the local clock.
 * - `MalformedSignature`: `Wechatpay-Signature` is not Base64 (e.g. the `WECHATPAY/SIGNTEST/` probe).
 * - `InvalidSignature`: the RSA-SHA256 signature does not match the message.
 *
 * @since 0.1.0
 * @category models
 */
export const SignatureErrorReason = Schema.Literal(
  "SigningFailed",
  "MissingHeaders",
  "MalformedHeaders",
  "UnsupportedSignatureType",
  "UnknownSerial",
  "CertificateExpired",
  "TimestampSkew",
  "MalformedSignature",
  "InvalidSignature"
)

/**
 * The type of `SignatureErrorReason`.
 *
 * @since 0.1.0
 * @category models
 */
export type SignatureErrorReason = typeof SignatureErrorReason.Type

/**
 * Signing a request failed, or a response failed verification. Never
 * retried: a response that does not verify may be forged.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Payscore } from "effect-wechatpay"
 *
 * const program = Payscore.getPermissionsByOpenid({
 *   openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
 *   params: { service_id: "500001", appid: "wxd678efh567hg6787" }
 * }).pipe(
 *   Effect.catchTag("SignatureError", (e) => Effect.logError(e.reason, e.requestId))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SignatureError extends Schema.TaggedError<SignatureError>()("SignatureError", {
  reason: SignatureErrorReason,
  description: Schema.String,
  serial: Schema.optional(Schema.String),
  method: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  path: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * The error for a protocol failure, with where the answer came from when
   * there was one.
   *
   * @since 0.2.0
   */
  static fromFailure(failure: SignatureFailure, origin?: Origin): SignatureError {
    return new SignatureError(defined({
      reason: failure.reason,
      description: failure.description,
      serial: failure.serial,
      cause: failure.cause,
      method: origin?.method,
      path: origin?.path,
      status: origin?.status,
      requestId: boundedRequestId(origin?.requestId)
    }))
  }

  /**
   * The same error, saying where the answer it is about came from.
   *
   * @since 0.2.0
   */
  withOrigin(origin: Origin): SignatureError {
    return new SignatureError(defined({
      reason: this.reason,
      description: this.description,
      serial: this.serial,
      cause: this.cause,
      method: origin.method,
      path: origin.path,
      status: origin.status,
      requestId: boundedRequestId(origin.requestId)
    }))
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.path !== undefined ? `${this.method ?? "GET"} ${this.path}: ` : ""
    return `${where}signature ${this.reason}: ${this.description}${suffix(this.requestId)}`
  }
}

/**
 * Why nothing usable came back.
 *
 * - `Transport`: the connection failed or dropped, or the body could not be read.
 * - `Timeout`: no complete answer within `Wechatpay.RequestTimeout`.
 * - `InvalidUrl`: the base URL does not form a URL.
 * - `ResponseTooLarge`: the body is larger than `Wechatpay.MaxResponseBytes`; it
 *   was abandoned as soon as that was known, and is not retried.
 *
 * @since 0.1.0
 * @category models
 */
export const NetworkErrorReason = Schema.Literal("Transport", "Timeout", "InvalidUrl", "ResponseTooLarge")

/**
 * The type of `NetworkErrorReason`.
 *
 * @since 0.1.0
 * @category models
 */
export type NetworkErrorReason = typeof NetworkErrorReason.Type

/**
 * Nothing usable came back: the connection failed or dropped, the request
 * timed out, the URL could not be built, or the answer was larger than the
 * library reads (`reason` says which). `Transport` and `Timeout` are retried
 * for a query; a POST (apply, terminate) is not sent again, since WeChat Pay
 * may have acted on it: query to find out before sending it yourself.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetworkError extends Schema.TaggedError<NetworkError>()("NetworkError", {
  reason: NetworkErrorReason,
  method: Schema.String,
  path: Schema.String,
  description: Schema.String,
  attempts: Schema.optional(Schema.Number),
  requestId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * The error for a failure of the `HttpClient`: `InvalidUrl` when the base
   * URL does not make a URL, `Transport` otherwise.
   *
   * @since 0.2.0
   */
  static fromHttpClientError(error: HttpClientError.HttpClientError, origin: Origin): NetworkError {
    const detail = error.cause instanceof Error ? `: ${truncate(error.cause.message, 256)}` : ""
    const invalidUrl = error._tag === "RequestError" && error.reason === "InvalidUrl"
    return new NetworkError(defined({
      reason: invalidUrl ? "InvalidUrl" : "Transport",
      method: origin.method,
      path: origin.path,
      description: invalidUrl
        ? "the base URL does not form a valid URL"
        : error._tag === "RequestError"
        ? `request failed${detail}`
        : `reading the response failed${detail}`,
      requestId: boundedRequestId(error._tag === "ResponseError" ? error.response.headers["request-id"] : undefined),
      cause: transportCause(error.cause)
    }) as ConstructorParameters<typeof NetworkError>[0])
  }

  /**
   * The error for an answer whose body is larger than `max` bytes.
   *
   * @since 0.2.0
   */
  static responseTooLarge(origin: Origin, max: number): NetworkError {
    return new NetworkError(defined({
      reason: "ResponseTooLarge",
      method: origin.method,
      path: origin.path,
      description: `the ${origin.status === undefined ? "" : `${origin.status} `}answer's body is larger than ${max} bytes (MaxResponseBytes)`,
      requestId: boundedRequestId(origin.requestId)
    }) as ConstructorParameters<typeof NetworkError>[0])
  }

  /**
   * The same error, saying how many attempts were made.
   *
   * @since 0.2.0
   */
  withAttempts(attempts: number): NetworkError {
    return new NetworkError(defined({
      reason: this.reason,
      method: this.method,
      path: this.path,
      description: this.description,
      attempts,
      requestId: this.requestId,
      cause: this.cause
    }) as ConstructorParameters<typeof NetworkError>[0])
  }

  /**
   * Whether the failure may go away on another attempt: `Transport` and
   * `Timeout`. Whether another attempt is safe is another matter: for a
   * POST the first may have been acted on.
   *
   * @since 0.2.0
   */
  get retryable(): boolean {
    return this.reason === "Transport" || this.reason === "Timeout"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.method} ${this.path}: ${this.reason}: ${this.description}${suffix(this.requestId, this.attempts)}`
  }
}

/**
 * The `detail` object WeChat Pay adds to some error bodies (mostly
 * `PARAM_ERROR`): which field was wrong, where, and why.
 *
 * @since 0.1.0
 * @category models
 */
export const BusinessErrorDetail = Schema.Struct({
  field: Schema.optional(Schema.String),
  value: Schema.optional(Schema.Unknown),
  issue: Schema.optional(Schema.String),
  location: Schema.optional(Schema.String)
})

/**
 * The type of `BusinessErrorDetail`.
 *
 * @since 0.1.0
 * @category models
 */
export type BusinessErrorDetail = typeof BusinessErrorDetail.Type

/**
 * WeChat Pay answered with a non-2xx status. `code` and `serverMessage` are
 * WeChat's `code` and `message` when the body was the documented JSON; a body
 * that was empty or not JSON (a gateway page) leaves them out and keeps a
 * short `body` excerpt instead. `verified` tells whether the error response
 * carried signature headers that verified (error responses are often
 * unsigned).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Payscore } from "effect-wechatpay"
 *
 * const orNone = Payscore.getPermissionsByAuthorizationCode({
 *   authorization_code: "1234323JKHDFE1243252",
 *   params: { service_id: "500001" }
 * }).pipe(
 *   Effect.asSome,
 *   Effect.catchIf(
 *     (e) => e._tag === "BusinessError" && e.code === "ORDER_NOT_EXIST",
 *     () => Effect.succeedNone
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BusinessError extends Schema.TaggedError<BusinessError>()("BusinessError", {
  status: Schema.Number,
  code: Schema.optional(Schema.String),
  serverMessage: Schema.optional(Schema.String),
  detail: Schema.optional(BusinessErrorDetail),
  body: Schema.optional(Schema.String),
  verified: Schema.Boolean,
  method: Schema.String,
  path: Schema.String,
  attempts: Schema.optional(Schema.Number),
  requestId: Schema.optional(Schema.String)
}) {
  /**
   * The error for a non-2xx answer and what its body said.
   *
   * @since 0.2.0
   */
  static fromAnswer(
    answer: Origin & { readonly status: number; readonly body: ErrorBody; readonly verified: boolean }
  ): BusinessError {
    const { body } = answer
    return new BusinessError(defined({
      status: answer.status,
      code: body.code,
      serverMessage: body.message,
      detail: body.detail === undefined ? undefined : defined(body.detail),
      body: body.excerpt,
      verified: answer.verified,
      method: answer.method,
      path: answer.path,
      requestId: boundedRequestId(answer.requestId)
    }))
  }

  /**
   * The same error, saying how many attempts were made.
   *
   * @since 0.2.0
   */
  withAttempts(attempts: number): BusinessError {
    return new BusinessError(defined({
      status: this.status,
      code: this.code,
      serverMessage: this.serverMessage,
      detail: this.detail,
      body: this.body,
      verified: this.verified,
      method: this.method,
      path: this.path,
      attempts,
      requestId: this.requestId
    }))
  }

  /**
   * Whether WeChat Pay documents this answer as transient (429 and 5xx).
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500 || this.rateLimited
  }

  /**
   * Whether WeChat Pay refused the request for the merchant's rate limit:
   * HTTP 429, or the codes `FREQUENCY_LIMITED` and `RATELIMIT_EXCEED`
   * (whatever the status). Such answers are retried with backoff; a fleet
   * shares its budget with `RateLimit.layer` so that they stay rare.
   *
   * @since 0.2.0
   */
  get rateLimited(): boolean {
    return this.status === 429 || this.code === "FREQUENCY_LIMITED" || this.code === "RATELIMIT_EXCEED"
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const what = this.code !== undefined
      ? `${this.code}${this.serverMessage !== undefined ? `: ${this.serverMessage}` : ""}`
      : this.body !== undefined && this.body.length > 0
      ? "non-JSON error body"
      : "empty error body"
    const field = this.detail?.field !== undefined ? ` (field ${this.detail.field})` : ""
    return `${this.method} ${this.path}: HTTP ${this.status} ${what}${field}${
      this.verified ? "" : " (unverified)"
    }${suffix(this.requestId, this.attempts)}`
  }
}

/**
 * A 2xx response, or a notification, verified, but its body (or a
 * notification's decrypted resource) is not the documented JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  method: Schema.String,
  path: Schema.String,
  /** The HTTP status of the answer (none for a notification). */
  status: Schema.optional(Schema.Number),
  description: Schema.String,
  requestId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * The error for a verified answer that does not decode; the description is
   * cut to 1,024 characters.
   *
   * @since 0.2.0
   */
  static fromAnswer(origin: Origin, description: string, cause?: unknown): DecodeError {
    return new DecodeError(defined({
      method: origin.method,
      path: origin.path,
      status: origin.status,
      description: truncate(description, MAX_DESCRIPTION),
      requestId: boundedRequestId(origin.requestId),
      cause
    }) as ConstructorParameters<typeof DecodeError>[0])
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.method} ${this.path}: ${this.status === undefined ? "" : `HTTP ${this.status} `}body does not decode: ${this.description}${
      suffix(this.requestId)
    }`
  }
}

/**
 * The caller's input was rejected before anything was sent: a path parameter
 * that is empty, too long or outside its character set, a missing query
 * parameter, or a path that is not an APIv3 path.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestError extends Schema.TaggedError<InvalidRequestError>()("InvalidRequestError", {
  operation: Schema.String,
  field: Schema.String,
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.operation}: invalid ${this.field}: ${this.description}`
  }
}

/**
 * Key material could not be used: a merchant private key, a WeChat Pay public
 * key or a platform certificate that does not parse, an empty key ring, an
 * APIv3 key of the wrong length, or a merchant id (`MerchantId`) or serial
 * number (`SerialNo`) that cannot go into a header. Raised when a `Signer` or
 * `Verifier` layer is built; it names the key, never its content.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKeyError extends Schema.TaggedError<InvalidKeyError>()("InvalidKeyError", {
  key: Schema.Literal("PrivateKey", "PublicKey", "Certificate", "KeyRing", "ApiV3Key", "MerchantId", "SerialNo"),
  id: Schema.optional(Schema.String),
  description: Schema.String
}) {
  /**
   * The error for key material the protocol could not use.
   *
   * @since 0.2.0
   */
  static fromFailure(failure: KeyFailure): InvalidKeyError {
    return new InvalidKeyError(defined({ key: failure.key, id: failure.id, description: failure.description }))
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.key}${this.id !== undefined ? ` ${this.id}` : ""}: ${this.description}`
  }
}

/**
 * An `AEAD_AES_256_GCM` resource (a platform certificate, a callback payload)
 * could not be decrypted: the algorithm is not supported, a field is
 * malformed, or authentication failed (wrong APIv3 key, altered ciphertext,
 * nonce or associated data). The plaintext and the key are never included.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecryptError extends Schema.TaggedError<DecryptError>()("DecryptError", {
  reason: Schema.Literal("UnsupportedAlgorithm", "Malformed", "AuthenticationFailed"),
  description: Schema.String
}) {
  /**
   * The error for a resource the protocol could not decrypt.
   *
   * @since 0.2.0
   */
  static fromFailure(failure: DecryptFailure): DecryptError {
    return new DecryptError({ reason: failure.reason, description: failure.description })
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `decryption ${this.reason}: ${this.description}`
  }
}

/**
 * A notification dedupe store could not answer (a store of your own on
 * Redis or a database, say). `Notifications.httpApp` answers WeChat Pay
 * `500` then, so the notification is delivered again later.
 *
 * @since 0.2.0
 * @category errors
 */
export class DedupeError extends Schema.TaggedError<DedupeError>()("DedupeError", {
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return `notification dedupe store: ${this.description}`
  }
}

/**
 * A lookup was held back by the merchant's own rate limit
 * (`RateLimit.layer`), before anything was sent:
 *
 * - `Exceeded`: over the budget, with `onExceeded: "fail"`; `retryAfterMillis`
 *   says when a token is free again;
 * - `StoreUnavailable`: the limiter's store (Redis) did not answer, so the
 *   budget could not be checked and nothing was sent.
 *
 * @since 0.2.0
 * @category errors
 */
export class RateLimitError extends Schema.TaggedError<RateLimitError>()("RateLimitError", {
  reason: Schema.Literal("Exceeded", "StoreUnavailable"),
  /** The endpoint's name, e.g. `BusinessCircle.getUserAuthorization`. */
  endpoint: Schema.String,
  mchid: Schema.String,
  limit: Schema.Number,
  retryAfterMillis: Schema.optional(Schema.Number),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * @since 0.2.0
   */
  override get message(): string {
    return this.reason === "Exceeded"
      ? `${this.endpoint}: over the rate limit of ${this.limit}/s for merchant ${this.mchid}${
        this.retryAfterMillis === undefined ? "" : ` (retry after ${this.retryAfterMillis} ms)`
      }`
      : `${this.endpoint}: the rate limiter's store did not answer; nothing was sent`
  }
}

/**
 * Platform certificates could not be downloaded or trusted.
 *
 * - `NotAvailable`: 404 `RESOURCE_NOT_EXISTS`: the merchant has no platform
 *   certificates; use the WeChat Pay public key (`publicKeys`) instead.
 * - `Download`: the download failed (network, non-2xx, body not as documented).
 * - `Decrypt`: a certificate did not decrypt with the APIv3 key.
 * - `Unverified`: the download's own signature did not verify with a
 *   delivered certificate or an already trusted key.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends Schema.TaggedError<CertificateError>()("CertificateError", {
  reason: Schema.Literal("NotAvailable", "Download", "Decrypt", "Unverified"),
  description: Schema.String,
  requestId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /**
   * The error for a download the protocol did not accept; a signature
   * failure behind it is kept as the cause.
   *
   * @since 0.2.0
   */
  static fromFailure(failure: CertificateFailure, requestId: string | undefined, cause?: unknown): CertificateError {
    return new CertificateError(defined({
      reason: failure.reason,
      description: failure.description,
      requestId: boundedRequestId(requestId),
      cause
    }) as ConstructorParameters<typeof CertificateError>[0])
  }

  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `platform certificates ${this.reason}: ${this.description}${suffix(this.requestId)}`
  }
}

/**
 * Every failure a query can end with.
 *
 * @since 0.1.0
 * @category models
 */
export type WechatpayError =
  | RateLimitError
  | SignatureError
  | NetworkError
  | BusinessError
  | DecodeError
  | InvalidRequestError

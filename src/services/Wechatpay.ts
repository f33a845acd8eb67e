/**
 * The signed APIv3 pipeline: base URL, the one `send` path that signs, sends,
 * verifies, decodes and maps failures, a generic `get` for endpoints this
 * library does not cover yet, and configuration from the environment.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  BusinessError,
  type BusinessErrorDetail,
  DecodeError,
  InvalidRequestError,
  SignatureError,
  type WechatpayError
} from "../errors/Errors.js"
import { decodeUnknownEither } from "../internal/fastDecode.js"
import { syncVerify } from "../internal/fastPaths.js"
import { exchange, type Exchange, exchangeIn } from "../internal/pipeline.js"
import type { Signer } from "./Signer.js"
import { Verifier } from "./Verifier.js"

export {
  /**
   * The signed exchange under every request: signing, sending, timeout,
   * retries and failover, with verification left to a `finish` step.
   *
   * @since 0.1.0
   * @category pipeline
   */
  exchange,
  /**
   * One HTTP exchange as received.
   *
   * @since 0.1.0
   * @category models
   */
  type Exchange
} from "../internal/pipeline.js"

export {
  /**
   * The backup APIv3 host (another city).
   *
   * @since 0.1.0
   * @category constants
   */
  BACKUP_BASE_URL,
  /**
   * The base URL requests are sent to: a `Context.Reference` defaulting to
   * `https://api.mch.weixin.qq.com`. Override it with
   * `Layer.succeed(Wechatpay.BaseUrl, "http://127.0.0.1:8080")`.
   *
   * @since 0.1.0
   * @category references
   */
  BaseUrl,
  /**
   * The hosts tried in turn after a transport failure while `BaseUrl` is at
   * its default: primary, then backup.
   *
   * @since 0.1.0
   * @category references
   */
  FailoverHosts,
  /**
   * The primary APIv3 host, `https://api.mch.weixin.qq.com`.
   *
   * @since 0.1.0
   * @category constants
   */
  PRIMARY_BASE_URL,
  /**
   * The time one attempt may take, sending to last body byte (default 10 s).
   *
   * @since 0.1.0
   * @category references
   */
  RequestTimeout,
  /**
   * The retry policy (default: 3 attempts in all, 200 ms doubling to 2 s, with jitter).
   *
   * @since 0.1.0
   * @category references
   */
  Retry,
  /**
   * @since 0.1.0
   * @category models
   */
  type RetryPolicy
} from "../internal/references.js"

export {
  /**
   * A layer providing `Signer`, `Verifier` (and `BaseUrl` when
   * `WECHATPAY_BASE_URL` is set) from Effect `Config`.
   *
   * @since 0.1.0
   * @category layers
   */
  layerConfig,
  /**
   * The `Config` read by `layerConfig`.
   *
   * @since 0.1.0
   * @category config
   */
  WechatpayConfig
} from "../internal/config.js"

/**
 * A verified, decoded response: the seed SDK's `{ data, status, headers }`
 * plus WeChat Pay's `Request-ID`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WechatpayResponse<A> {
  readonly data: A
  readonly status: number
  readonly headers: Headers.Headers
  readonly requestId: string | undefined
}

/**
 * What every request needs from the context.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = Signer | Verifier | HttpClient.HttpClient

type Decoder<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError>

// ---------------------------------------------------------------------------
// URL building
// ---------------------------------------------------------------------------

/**
 * A tagged template for APIv3 paths that percent-encodes every interpolated
 * value as one path segment (`/` in a value becomes `%2F`, so a value can
 * never leave its segment).
 *
 * @example
 * ```ts
 * import { Wechatpay } from "effect-wechatpay"
 *
 * Wechatpay.path`/v3/payscore/permissions/openid/${"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}`
 * // "/v3/payscore/permissions/openid/oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
 * ```
 *
 * @since 0.1.0
 * @category url
 */
export const path = (strings: TemplateStringsArray, ...values: ReadonlyArray<string>): string => {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) {
    out += encodeSegment(values[i]!) + strings[i + 1]!
  }
  return out
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** encodeURIComponent, with lone surrogates (which it throws on) replaced by U+FFFD. */
const encode = (value: string | number): string => {
  try {
    return encodeURIComponent(value)
  } catch {
    return encodeURIComponent(String(value).replace(LONE_SURROGATE, "\uFFFD"))
  }
}

const SUB_DELIMS = /[!'()*]/g
const HAS_SUB_DELIM = /[!'()*]/

/**
 * encodeURIComponent plus `!'()*` (RFC 3986 strict): URL parsers re-encode
 * `'` in a query, which would make the URL sent differ from the URL signed.
 */
const encodeQueryComponent = (value: string | number): string => {
  const encoded = encode(value)
  return HAS_SUB_DELIM.test(encoded)
    ? encoded.replace(SUB_DELIMS, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded
}

const encodeSegment = (value: string): string => {
  const encoded = encode(value)
  // URL parsers treat "%2E" like ".", so "." and ".." cannot be sent as a segment
  // at all; they are encoded visibly here and refused before sending.
  return encoded === "." ? "%2E" : encoded === ".." ? "%2E%2E" : encoded
}

const DOT_SEGMENT = "must not contain '.' or '..' segments (also percent-encoded): URL parsers would rewrite the path"

/**
 * Whether a path has a `.` or `..` segment, plain or percent-encoded, which
 * every URL parser collapses (the signed path would differ from the sent
 * one). A fast no-op for paths without a dot.
 */
const hasDotSegment = (p: string): boolean => {
  if (!p.includes(".") && !/%2e/i.test(p)) return false
  const q = p.indexOf("?")
  for (const segment of (q === -1 ? p : p.slice(0, q)).split("/")) {
    const decoded = segment.replace(/%2e/gi, ".")
    if (decoded === "." || decoded === "..") return true
  }
  return false
}

/**
 * Query parameters: pairs in the order they go out; `undefined` values are
 * left out.
 *
 * @since 0.1.0
 * @category url
 */
export type QueryInput =
  | ReadonlyArray<readonly [string, string | number | undefined]>
  | Readonly<Record<string, string | number | undefined>>

/**
 * Formats query parameters as `?a=1&b=2` (or `""` when there are none),
 * percent-encoding names and values (RFC 3986 strict, so no URL parser
 * rewrites them), in the given order, leaving out `undefined` values.
 *
 * @since 0.1.0
 * @category url
 */
export const query = (params: QueryInput | undefined): string => {
  if (params === undefined) return ""
  const entries = Array.isArray(params)
    ? params as ReadonlyArray<readonly [string, string | number | undefined]>
    : Object.entries(params)
  let out = ""
  for (const [name, value] of entries) {
    if (value === undefined) continue
    out += `${out === "" ? "?" : "&"}${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`
  }
  return out
}

// ---------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const optionalString = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

const BODY_EXCERPT = 256

const businessError = (
  status: number,
  text: string,
  verified: boolean,
  canonical: string,
  requestId: string | undefined
): BusinessError => {
  let parsed: unknown = undefined
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined
  } catch {
    // not JSON: keep an excerpt below
  }
  if (isRecord(parsed) && typeof parsed.code === "string") {
    let detail: BusinessErrorDetail | undefined = undefined
    if (isRecord(parsed.detail)) {
      const d = parsed.detail
      const field = optionalString(d.field), issue = optionalString(d.issue), location = optionalString(d.location)
      detail = {
        ...(field !== undefined ? { field } : {}),
        ...("value" in d ? { value: d.value } : {}),
        ...(issue !== undefined ? { issue } : {}),
        ...(location !== undefined ? { location } : {})
      }
    }
    const serverMessage = optionalString(parsed.message)
    return new BusinessError({
      status,
      code: parsed.code,
      ...(serverMessage !== undefined ? { serverMessage } : {}),
      ...(detail !== undefined ? { detail } : {}),
      verified,
      method: "GET",
      path: canonical,
      ...(requestId !== undefined ? { requestId } : {})
    })
  }
  return new BusinessError({
    status,
    body: text.length > BODY_EXCERPT ? text.slice(0, BODY_EXCERPT) + "…" : text,
    verified,
    method: "GET",
    path: canonical,
    ...(requestId !== undefined ? { requestId } : {})
  })
}

const withContext = (
  error: SignatureError,
  status: number,
  canonical: string,
  requestId: string | undefined
): SignatureError =>
  new SignatureError({
    reason: error.reason,
    description: error.description,
    ...(error.serial !== undefined ? { serial: error.serial } : {}),
    ...(error.cause !== undefined ? { cause: error.cause } : {}),
    status,
    path: canonical,
    ...(requestId !== undefined ? { requestId } : {})
  })

/** What a verified, decoded 2xx answers: the whole response, or only its body. */
type Select<A, B> = (data: A, status: number, headers: Headers.Headers, requestId: string | undefined) => B

const toResponse = <A>(
  data: A,
  status: number,
  headers: Headers.Headers,
  requestId: string | undefined
): WechatpayResponse<A> => ({ data, status, headers, requestId })

const toData = <A>(data: A): A => data

const decodeBody = <A, B>(
  decode: Decoder<A>,
  status: number,
  headers: Headers.Headers,
  text: string,
  canonical: string,
  requestId: string | undefined,
  select: Select<A, B>
): Effect.Effect<B, DecodeError> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    return Effect.fail(
      new DecodeError({
        method: "GET",
        path: canonical,
        status,
        description: text.length === 0 ? "empty body" : "body is not JSON",
        ...(requestId !== undefined ? { requestId } : {}),
        cause
      })
    )
  }
  const result = decode(json)
  if (Either.isLeft(result)) {
    return Effect.fail(
      new DecodeError({
        method: "GET",
        path: canonical,
        status,
        description: ParseResult.TreeFormatter.formatErrorSync(result.left),
        ...(requestId !== undefined ? { requestId } : {})
      })
    )
  }
  return Effect.succeed(select(result.right, status, headers, requestId))
}

/**
 * Verifies an exchange and decodes it: a 2xx must carry signature headers
 * that verify, then its body must decode with `decode`; a non-2xx becomes a
 * `BusinessError`, verified when it carries signature headers.
 *
 * @since 0.1.0
 * @category pipeline
 */
export const verifyAndDecode = <A>(
  decode: Decoder<A>,
  verifier: Verifier["Type"],
  exchange: Exchange
): Effect.Effect<WechatpayResponse<A>, SignatureError | BusinessError | DecodeError> =>
  verifyAndDecodeWith(decode, verifier, exchange, toResponse)

const verifyAndDecodeWith = <A, B>(
  decode: Decoder<A>,
  verifier: Verifier["Type"],
  exchange: Exchange,
  select: Select<A, B>
): Effect.Effect<B, SignatureError | BusinessError | DecodeError> => {
  const { bytes, canonical, headers, receivedAt, status, text } = exchange
  const requestId = headers["request-id"]
  const serial = headers["wechatpay-serial"]
  const timestamp = headers["wechatpay-timestamp"]
  const nonce = headers["wechatpay-nonce"]
  const signature = headers["wechatpay-signature"]
  const ok = status >= 200 && status < 300
  if (serial === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
    if (!ok) return Effect.fail(businessError(status, text, false, canonical, requestId))
    const missing = [
      serial === undefined ? "Wechatpay-Serial" : undefined,
      timestamp === undefined ? "Wechatpay-Timestamp" : undefined,
      nonce === undefined ? "Wechatpay-Nonce" : undefined,
      signature === undefined ? "Wechatpay-Signature" : undefined
    ].filter((h) => h !== undefined)
    return Effect.fail(
      new SignatureError({
        reason: "MissingHeaders",
        description: `a ${status} response without ${missing.join(", ")}: refusing an unsigned answer`,
        status,
        path: canonical,
        ...(requestId !== undefined ? { requestId } : {})
      })
    )
  }
  const input = {
    serial,
    timestamp,
    nonce,
    signature,
    signatureType: headers["wechatpay-signature-type"],
    body: bytes,
    receivedAt
  }
  const verified = (): Effect.Effect<B, SignatureError | BusinessError | DecodeError> =>
    ok
      ? decodeBody(decode, status, headers, text, canonical, requestId, select)
      : Effect.fail(businessError(status, text, true, canonical, requestId))
  // a synchronous verifier checks right here; any other through its Effect
  const verifyNow = syncVerify.get(verifier)
  if (verifyNow !== undefined) {
    const error = verifyNow(input)
    return error === undefined ? verified() : Effect.fail(withContext(error, status, canonical, requestId))
  }
  return Effect.matchEffect(verifier.verify(input), {
    onFailure: (error) => Effect.fail(withContext(error, status, canonical, requestId)),
    onSuccess: verified
  })
}

/**
 * Sends one signed GET for a canonical `path?query` (already encoded) and
 * returns the verified, decoded response. This is the single pipeline every
 * query goes through:
 *
 * 1. sign `GET\n{canonical}\n{timestamp}\n{nonce}\n\n` (fresh on every attempt);
 * 2. send it with `Accept`, `User-Agent`, `Authorization` and
 *    `Wechatpay-Serial` (no trace-propagation headers);
 * 3. read the raw body once and verify it (2xx must be signed; non-2xx are
 *    verified when signed);
 * 4. decode 2xx bodies with `decode`, map non-2xx to `BusinessError`;
 *
 * with the timeout, retries and failover of {@link exchange}. With
 * `annotateSpan`, the current span gets `wechatpay.path`,
 * `http.response.status_code` and `wechatpay.request_id`.
 *
 * @since 0.1.0
 * @category pipeline
 */
export const send = <A>(
  canonical: string,
  decode: Decoder<A>,
  options?: { readonly annotateSpan?: boolean | undefined }
): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements> =>
  sendAs(canonical, decode, options?.annotateSpan === true, toResponse)

/** `send` answering what `select` makes of the decoded 2xx. */
const sendAs = <A, B>(
  canonical: string,
  decode: Decoder<A>,
  annotate: boolean,
  select: Select<A, B>
): Effect.Effect<B, WechatpayError, Requirements> =>
  Effect.contextWithEffect((context: Context.Context<Requirements>) =>
    sendIn(context, canonical, decode, annotate, undefined, select)
  )

/** `send` with the context (and, when there is no span to annotate, the fiber) at hand. */
const sendIn = <A, B>(
  context: Context.Context<Requirements>,
  canonical: string,
  decode: Decoder<A>,
  annotate: boolean,
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined,
  select: Select<A, B>
): Effect.Effect<B, WechatpayError> => {
  const verifier = Context.get(context, Verifier)
  return exchangeIn(
    context,
    canonical,
    verifier.preferredSerial,
    (ex) => verifyAndDecodeWith(decode, verifier, ex, select),
    annotate,
    fiber
  )
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

const decoders = new WeakMap<Schema.Schema.Any, Decoder<any>>()

/**
 * The compiled decoder of a response schema, built once per schema and
 * cached.
 *
 * @since 0.1.0
 * @category pipeline
 */
export const decoderFor = <A, I>(schema: Schema.Schema<A, I, never>): Decoder<A> => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = decodeUnknownEither(schema)
    decoders.set(schema, decoder)
  }
  return decoder
}

const SPAN = { captureStackTrace: false } as const
const ANNOTATE = { annotateSpan: true } as const
const builtInTracer = Effect.runSync(Effect.tracer)

/**
 * `Effect.withSpan(name)`, when a span can be seen: skipped when tracing is
 * off or the tracer is Effect's built-in one, which exports nothing (install
 * a tracer, e.g. `@effect/opentelemetry`, and every query is a span).
 */
const traced = <A, E, R>(
  name: string,
  body: (fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    fiber.currentTracer === builtInTracer || !fiber.getFiberRef(FiberRef.currentTracerEnabled)
      // no span: the body can run on the fiber at hand
      ? body(fiber)
      : Effect.withSpan(body(undefined), name, SPAN)
  )

const invalidRequest = (operation: string, error: ParseResult.ParseError): InvalidRequestError => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return new InvalidRequestError({
    operation,
    field: issue === undefined || issue.path.length === 0 ? "input" : issue.path.map(String).join("."),
    description: issue?.message ?? "invalid input"
  })
}

/**
 * A query made by {@link endpoint}: call it for the full response, or call
 * `.data` for the decoded body alone (one step and one object less than
 * mapping the response).
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint<I, A> {
  (input: I): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements>
  readonly data: (input: I) => Effect.Effect<A, WechatpayError, Requirements>
}

/**
 * Defines a signed GET endpoint from a request schema (validated before
 * anything is sent), a function from the validated request to the canonical
 * `path?query`, and a response schema. Each call is a span named `name` (like
 * `Effect.fn(name)`). The endpoint answers the full response
 * (`data`, `status`, `headers`, `requestId`); its `.data` answers the decoded
 * body alone. This is how every query of this library is made, and how to add
 * one:
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const getMerchantConfig = Wechatpay.endpoint({
 *   name: "Payscore.getServiceAccount",
 *   request: Schema.Struct({ service_id: Schema.NonEmptyString, appid: Schema.NonEmptyString }),
 *   url: ({ service_id, appid }) =>
 *     Wechatpay.path`/v3/payscore/merchant-bill/${service_id}` + Wechatpay.query([["appid", appid]]),
 *   response: Schema.Struct({ service_id: Schema.String })
 * })
 *
 * const response = getMerchantConfig({ service_id: "500001", appid: "wxd678efh567hg6787" })
 * const body = getMerchantConfig.data({ service_id: "500001", appid: "wxd678efh567hg6787" })
 * ```
 *
 * @since 0.1.0
 * @category pipeline
 */
export const endpoint = <RA, RI, A, AI>(options: {
  readonly name: string
  readonly request: Schema.Schema<RA, RI, never>
  readonly url: (request: RA) => string
  readonly response: Schema.Schema<A, AI, never>
}): Endpoint<RI, A> => {
  const validate = decodeUnknownEither(options.request)
  const decode = decoderFor(options.response)
  const name = options.name
  // Like `Effect.fn(name)`: a span named `name` around each call, but without
  // capturing a stack trace per call (measured in bench/: the capture is the
  // costliest part of a span).
  const call = <B>(input: RI, select: Select<A, B>): Effect.Effect<B, WechatpayError, Requirements> => {
    const request = validate(input)
    if (Either.isLeft(request)) {
      const error = invalidRequest(name, request.left)
      return traced(name, () => Effect.fail(error))
    }
    const url = options.url(request.right)
    if (hasDotSegment(url)) {
      const error = new InvalidRequestError({ operation: name, field: "path", description: DOT_SEGMENT })
      return traced(name, () => Effect.fail(error))
    }
    // attributes go on the query's own span, never on the caller's
    return traced(name, (fiber) =>
      fiber === undefined
        ? sendAs(url, decode, true, select)
        : sendIn(fiber.currentContext as Context.Context<Requirements>, url, decode, false, fiber, select))
  }
  return Object.assign((input: RI) => call(input, toResponse), {
    data: (input: RI) => call(input, toData)
  })
}

const API_PATH = /^\/v3(?:\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+)+$/
const QUERY_NAME = /^[A-Za-z0-9_.\-]+$/

const checkPath = (p: string): string | undefined => {
  if (typeof p !== "string" || !API_PATH.test(p)) {
    return "must be an encoded APIv3 path such as /v3/certificates (no query, fragment, spaces or empty segments)"
  }
  if (hasDotSegment(p)) return DOT_SEGMENT
  return undefined
}

/**
 * Sends a signed GET to any APIv3 path and decodes the verified response
 * with `schema`: for endpoints this library does not wrap yet. Path segments
 * must already be encoded (use {@link path}); `query` goes out in the given
 * order, `undefined` values left out.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const Certificates = Schema.Struct({
 *   data: Schema.Array(Schema.Struct({ serial_no: Schema.String, expire_time: Schema.String }))
 * })
 *
 * const program = Wechatpay.get("/v3/certificates", { schema: Certificates }).pipe(
 *   Effect.map(({ data }) => data.data.map((c) => c.serial_no))
 * )
 * ```
 *
 * @since 0.1.0
 * @category requests
 */
export const get: <A, I>(
  path: string,
  options: { readonly query?: QueryInput | undefined; readonly schema: Schema.Schema<A, I, never> }
) => Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements> = Effect.fn("Wechatpay.get")(
  <A, I>(
    p: string,
    options: { readonly query?: QueryInput | undefined; readonly schema: Schema.Schema<A, I, never> }
  ) => {
    const problem = checkPath(p)
    if (problem !== undefined) {
      return Effect.fail(new InvalidRequestError({ operation: "Wechatpay.get", field: "path", description: problem }))
    }
    const entries = options.query === undefined
      ? []
      : Array.isArray(options.query)
      ? options.query as ReadonlyArray<readonly [string, unknown]>
      : Object.entries(options.query)
    for (const [name, value] of entries) {
      if (typeof name !== "string" || !QUERY_NAME.test(name)) {
        return Effect.fail(
          new InvalidRequestError({
            operation: "Wechatpay.get",
            field: "query",
            description: "parameter names may only contain letters, digits, '_', '.' and '-'"
          })
        )
      }
      if (value !== undefined && typeof value !== "string" && typeof value !== "number") {
        return Effect.fail(
          new InvalidRequestError({
            operation: "Wechatpay.get",
            field: `query.${name}`,
            description: "must be a string, a number or undefined"
          })
        )
      }
    }
    return send(p + query(options.query), decoderFor(options.schema), ANNOTATE)
  }
)

/**
 * Keeps only the decoded body of a response effect.
 *
 * @since 0.1.0
 * @category combinators
 */
export const data = <A, E, R>(self: Effect.Effect<WechatpayResponse<A>, E, R>): Effect.Effect<A, E, R> =>
  Effect.map(self, (response) => response.data)

/**
 * The signed APIv3 pipeline: base URL, timeout and retry settings, the one
 * request path that signs, sends, verifies, decodes and maps failures,
 * `endpoint` to define a query, a generic `get` for endpoints this library
 * does not cover yet, and configuration from `Config`.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  BusinessError,
  DecodeError,
  InvalidRequestError,
  SignatureError,
  type WechatpayError
} from "../errors/Errors.js"
import { exchange, type Exchange, type Outgoing } from "../internal/pipeline.js"
import { BaseUrl } from "../internal/references.js"
import { SingleFlight } from "../internal/singleFlight.js"
import { LookupCache } from "./LookupCache.js"
import type * as LookupCacheModel from "./LookupCache.js"

export {
  /**
   * A single-flight map of a layer's own, instead of the
   * process's.
   *
   * @since 0.2.0
   * @category layers
   */
  layerSingleFlight,
  /**
   * A single-flight map of its own.
   *
   * @since 0.2.0
   * @category constructors
   */
  makeSingleFlight,
  /**
   * Where GET lookups in flight are shared: identical lookups (same
   * merchant, host, endpoint and input) at the same time make one call and
   * get its answer, success or typed error; a caller that leaves does not
   * cancel the call for the others, the last one does. A
   * `Context.Reference`: by default one map for the process.
   *
   * @since 0.2.0
   * @category references
   */
  SingleFlight,
  /**
   * The shape of {@link SingleFlight}.
   *
   * @since 0.2.0
   * @category models
   */
  type SingleFlightService
} from "../internal/singleFlight.js"
import { parseErrorBody } from "../protocol/errorBody.js"
import { SignatureFailure } from "../protocol/failures.js"
import * as Url from "../protocol/url.js"
import { signatureHeaders } from "../protocol/verification.js"
import { Signer } from "./Signer.js"
import { Verifier } from "./Verifier.js"

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
   * The hosts used while `BaseUrl` is at its default: primary, then backup.
   * After a transport failure or a timeout the next attempt goes to the next
   * host, and later attempts of the lookup stay there.
   *
   * @since 0.1.0
   * @category references
   */
  FailoverHosts,
  /**
   * The largest response body read, in bytes (default 4 MiB); a larger one
   * fails the lookup with `NetworkError` reason `ResponseTooLarge`.
   *
   * @since 0.2.0
   * @category references
   */
  MaxResponseBytes,
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
   * The retry setting, a policy record or any `Schedule` (default: 3
   * attempts in all, 200 ms doubling to 2 s, with jitter).
   *
   * @since 0.1.0
   * @category references
   */
  Retry,
  /**
   * @since 0.1.0
   * @category models
   */
  type RetryPolicy,
  /**
   * Whether trace-propagation headers go with this library's requests (off
   * by default: they would send your trace ids to WeChat Pay).
   *
   * @since 0.2.0
   * @category references
   */
  TracePropagation,
  /**
   * @since 0.2.0
   * @category models
   */
  type RetrySetting
} from "../internal/references.js"

export {
  /**
   * What `layerConfig` builds its layers from.
   *
   * @since 0.2.0
   * @category config
   */
  type ConfigOptions,
  /**
   * A layer providing `Signer`, `Verifier` (and `BaseUrl` when one is set)
   * from Effect `Config`: `WechatpayConfig` (the `WECHATPAY_*` variables) by
   * default, or any `Config.Wrap` of `ConfigOptions`.
   *
   * @example
   * ```ts
   * import { Config } from "effect"
   * import { Wechatpay } from "effect-wechatpay"
   *
   * // the WECHATPAY_* variables
   * const Default = Wechatpay.layerConfig()
   * // the same variables under a prefix: SHOP_A.WECHATPAY_MCHID, …
   * const ShopA = Wechatpay.layerConfig(Config.nested(Wechatpay.WechatpayConfig, "SHOP_A"))
   * // names of your own
   * const Custom = Wechatpay.layerConfig({
   *   mchid: Config.string("MCHID"),
   *   serialNo: Config.string("MERCHANT_SERIAL"),
   *   privateKey: Config.redacted("MERCHANT_KEY"),
   *   publicKeys: Config.all({ PUB_KEY_ID_0114232134912410000000000000: Config.string("WECHATPAY_PUBLIC_KEY") })
   * })
   * ```
   *
   * @since 0.1.0
   * @category layers
   */
  layerConfig,
  /**
   * The `WECHATPAY_*` configuration read by `layerConfig` by default.
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
export const path: (strings: TemplateStringsArray, ...values: ReadonlyArray<string>) => string = Url.path

/**
 * Query parameters: pairs in the order they go out; `undefined` values are
 * left out.
 *
 * @since 0.1.0
 * @category url
 */
export type QueryInput = Url.QueryInput

/**
 * Formats query parameters as `?a=1&b=2` (or `""` when there are none),
 * percent-encoding names and values (RFC 3986 strict, so no URL parser
 * rewrites them), in the given order, leaving out `undefined` values.
 *
 * @since 0.1.0
 * @category url
 */
export const query: (params: QueryInput | undefined) => string = Url.query

// ---------------------------------------------------------------------------
// The answer: verify, then decode
// ---------------------------------------------------------------------------

/** What a verified, decoded 2xx answers: the whole response, or only its body. */
type Select<A, B> = (data: A, exchange: Exchange) => B

/** A response as the lookup cache keeps it: the headers without the answer's signature. */
const toCached = <A>(response: WechatpayResponse<A>): LookupCacheModel.Cached<A> => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (!name.startsWith("wechatpay-signature")) headers[name] = value
  }
  return { data: response.data, status: response.status, requestId: response.requestId, headers }
}

const fromCached = <A>(cached: LookupCacheModel.Cached<A>): WechatpayResponse<A> => ({
  data: cached.data,
  status: cached.status,
  requestId: cached.requestId,
  headers: Headers.fromInput(cached.headers)
})

const toResponse = <A>(data: A, exchange: Exchange): WechatpayResponse<A> => ({
  data,
  status: exchange.status,
  headers: exchange.headers,
  requestId: exchange.headers["request-id"]
})

type Decoder<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError>

/** Where an answer came from, as its errors record it. */
const originOf = (exchange: Exchange) => ({
  method: exchange.method,
  path: exchange.canonical,
  status: exchange.status,
  requestId: exchange.headers["request-id"]
})

/**
 * What does not match the schema, described, or a plain sentence when the
 * value is too deep to describe (formatting it would overflow the stack).
 */
const describe = (error: ParseResult.ParseError): string => {
  try {
    return ParseResult.TreeFormatter.formatErrorSync(error)
  } catch {
    return "the body does not match the documented schema (the value is too deeply nested to describe)"
  }
}

/** Decodes a verified 2xx: any JSON, however deep or large, ends as a value or a `DecodeError`. */
const decode = <A, B>(decoder: Decoder<A>, exchange: Exchange, select: Select<A, B>): Effect.Effect<B, DecodeError> => {
  let json: unknown
  try {
    // an empty answer (204 No Content) is `undefined`, which `Schema.Void` accepts
    json = exchange.text.length === 0 && exchange.status === 204 ? undefined : JSON.parse(exchange.text)
  } catch (cause) {
    return Effect.fail(
      DecodeError.fromAnswer(originOf(exchange), exchange.text.length === 0 ? "empty body" : "body is not JSON", cause)
    )
  }
  let result: Either.Either<A, ParseResult.ParseError>
  try {
    result = decoder(json)
  } catch (cause) {
    return Effect.fail(DecodeError.fromAnswer(
      originOf(exchange),
      cause instanceof RangeError
        ? "the body could not be decoded (too deeply nested)"
        : "the body could not be decoded (the decoder failed)",
      cause
    ))
  }
  return Either.isRight(result)
    ? Effect.succeed(select(result.right, exchange))
    : Effect.fail(DecodeError.fromAnswer(originOf(exchange), describe(result.left)))
}

/**
 * Verifies an answer, then reads it: a 2xx must carry signature headers that
 * verify, then its body must decode; a non-2xx becomes a `BusinessError`,
 * verified when it carries signature headers (error answers often do not).
 */
const answer = <A, B>(
  verifier: Verifier["Type"],
  decoder: Decoder<A>,
  select: Select<A, B>
) =>
(exchange: Exchange): Effect.Effect<B, SignatureError | BusinessError | DecodeError> => {
  const ok = exchange.status >= 200 && exchange.status < 300
  const origin = originOf(exchange)
  const rejected = (verified: boolean) =>
    Effect.fail(BusinessError.fromAnswer({ ...origin, body: parseErrorBody(exchange.text), verified }))
  const signature = signatureHeaders(exchange.headers)
  if ("missing" in signature) {
    if (!ok) return rejected(false)
    return Effect.fail(SignatureError.fromFailure(
      new SignatureFailure(
        "MissingHeaders",
        `a ${exchange.status} response without ${signature.missing.join(", ")}: refusing an unsigned answer`
      ),
      origin
    ))
  }
  return Effect.matchEffect(
    verifier.verify({ ...signature, body: exchange.bytes, receivedAt: exchange.receivedAt }),
    {
      onFailure: (error) => Effect.fail(error.withOrigin(origin)),
      onSuccess: (): Effect.Effect<B, BusinessError | DecodeError> =>
        ok ? decode(decoder, exchange, select) : rejected(true)
    }
  )
}

/** Sends a signed request and answers what `select` makes of the verified, decoded 2xx. */
const send = <A, B>(
  outgoing: Omit<Outgoing, "preferredSerial">,
  decoder: Decoder<A>,
  select: Select<A, B>
): Effect.Effect<B, WechatpayError, Requirements> =>
  Effect.flatMap(Verifier, (verifier) =>
    exchange({ ...outgoing, preferredSerial: verifier.preferredSerial }, answer(verifier, decoder, select)))

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

const SPAN = { captureStackTrace: false } as const

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
 * `.data` for the decoded body alone.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint<I, A> {
  (input: I): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements>
  readonly data: (input: I) => Effect.Effect<A, WechatpayError, Requirements>
}

/**
 * What {@link endpoint} is given: a `GET` (the default) has no body, a
 * `POST` says what its JSON body is.
 *
 * @since 0.2.0
 * @category models
 */
export type EndpointOptions<RA, RI, A, AI> =
  & {
    /** The span name, and the `operation` of an `InvalidRequestError`. */
    readonly name: string
    readonly request: Schema.Schema<RA, RI, never>
    /** The canonical `path?query` of a validated request. */
    readonly url: (request: RA) => string
    readonly response: Schema.Schema<A, AI, never>
    /**
     * Whether an attempt that failed in transport or timed out (WeChat Pay
     * may have acted on it) may be sent again, to the backup host too.
     * Default: yes for a `GET`, no for a `POST`. Answers WeChat Pay documents
     * as transient (429, 5xx) are retried either way.
     */
    readonly idempotent?: boolean | undefined
  }
  & (
    | {
      readonly method?: "GET" | undefined
      readonly body?: undefined
      /**
       * For a `LookupCache`: the user the answer is about (see
       * `LookupCache.subjects`), so that a change of that user's
       * authorization drops it.
       */
      readonly subject?: ((request: RA) => string) | undefined
    }
    | {
      readonly method: "POST"
      /** The JSON value sent as the body, from the request as encoded (strings for a `NumberFromString`, …). */
      readonly body: (request: RI) => unknown
      /** For a `LookupCache`: the users whose cached answers this call makes stale (dropped whatever its outcome). */
      readonly invalidates?: ((request: RA) => ReadonlyArray<string>) | undefined
    }
  )

/**
 * Defines an endpoint: a request schema (the input, validated before anything
 * is sent: path parameters at the top level, query parameters in `params`, a
 * JSON body in `data`, as the seed SDK names them), the canonical
 * `path?query` of a validated request, for a `POST` the value sent as its JSON
 * body (taken from the validated request in its encoded form; the signature
 * covers those exact bytes), and a response schema (an empty `204` decodes as
 * `undefined`: use `Schema.Void`). Each call is a span named `name` with the
 * path, the status and the Request-ID as attributes. The endpoint answers
 * the full response (`data`, `status`, `headers`, `requestId`); its `.data`
 * answers the decoded body alone. This is how every endpoint of this library
 * is made, and how to add one:
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const getServiceAccount = Wechatpay.endpoint({
 *   name: "Payscore.getServiceAccount",
 *   request: Schema.Struct({ service_id: Schema.NonEmptyString, params: Schema.Struct({ appid: Schema.NonEmptyString }) }),
 *   url: ({ service_id, params }) =>
 *     Wechatpay.path`/v3/payscore/merchant-bill/${service_id}` + Wechatpay.query([["appid", params.appid]]),
 *   response: Schema.Struct({ service_id: Schema.String })
 * })
 *
 * const closeOrder = Wechatpay.endpoint({
 *   name: "Payscore.closeOrder",
 *   method: "POST",
 *   request: Schema.Struct({ out_order_no: Schema.NonEmptyString, data: Schema.Struct({ reason: Schema.String }) }),
 *   url: ({ out_order_no }) => Wechatpay.path`/v3/payscore/serviceorder/${out_order_no}/close`,
 *   body: ({ data }) => data,
 *   response: Schema.Void
 * })
 * ```
 *
 * @since 0.1.0
 * @category pipeline
 */
export const endpoint = <RA, RI, A, AI>(options: EndpointOptions<RA, RI, A, AI>): Endpoint<RI, A> => {
  const validate = Schema.decodeUnknownEither(options.request)
  const encode = Schema.encodeEither(options.request)
  const decoder = Schema.decodeUnknownEither(options.response)
  const { name } = options
  const method = options.method ?? "GET"
  const idempotent = options.idempotent ?? method === "GET"
  const failed = (error: InvalidRequestError) => Effect.withSpan(Effect.fail(error), name, SPAN)
  /** The body's bytes: the encoded request's JSON, or why there are none. */
  const jsonOf = (request: RA): Either.Either<string | undefined, InvalidRequestError> => {
    if (options.body === undefined) return Either.right(undefined)
    const toBody = options.body
    return Either.flatMap(Either.mapLeft(encode(request), (error) => invalidRequest(name, error)), (encoded) => {
      try {
        const json = JSON.stringify(toBody(encoded))
        return json === undefined
          ? Either.left(new InvalidRequestError({ operation: name, field: "data", description: "the body is not a JSON value" }))
          : Either.right(json)
      } catch (cause) {
        const description = `the body cannot be sent as JSON (${cause instanceof Error ? cause.name : "a failure"})`
        return Either.left(new InvalidRequestError({ operation: name, field: "data", description }))
      }
    })
  }
  const call = (input: RI): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements> => {
    const request = validate(input)
    if (Either.isLeft(request)) return failed(invalidRequest(name, request.left))
    const canonical = options.url(request.right)
    if (Url.hasDotSegment(canonical)) {
      return failed(new InvalidRequestError({ operation: name, field: "path", description: Url.DOT_SEGMENT }))
    }
    const body = jsonOf(request.right)
    if (Either.isLeft(body)) return failed(body.left)
    const sent = options.method === "POST"
      ? invalidating(
        send({ method, canonical, body: body.right, idempotent, endpoint: name }, decoder, toResponse),
        options.invalidates?.(request.right)
      )
      : shared(canonical, options.subject?.(request.right))
    return Effect.withSpan(sent, name, { captureStackTrace: false, attributes: { "wechatpay.path": canonical } })
  }
  /**
   * A GET, shared with the identical ones in flight (same merchant, host,
   * endpoint and path, and with a `LookupCache` the same generation of its
   * subject, so that a lookup made after a drop never joins one made
   * before it): the first caller's call, with its settings, answers them all.
   */
  const shared = (
    canonical: string,
    subject: string | undefined
  ): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements> =>
    Effect.contextWithEffect((context: Context.Context<Requirements>) => {
      const mchid = Context.get(context, Signer).mchid
      const baseUrl = Context.get(context, BaseUrl)
      const flights = Context.get(context, SingleFlight)
      const key = `${mchid}\n${baseUrl}\n${name}\n${canonical}`
      const call = send({ method, canonical, idempotent, endpoint: name }, decoder, toResponse)
      const cache = Context.get(context, LookupCache)
      if (cache === undefined || !cache.caches(name)) return flights.run(key, call)
      return Effect.flatMap(cache.generation(mchid, subject), (generation) =>
        generation === undefined
          // the store did not answer: an uncached lookup, shared only with the like
          ? flights.run(`${key}\n-`, call)
          : flights.run(
            `${key}\n${generation}`,
            Effect.map(
              cache.get(
                { mchid, baseUrl, endpoint: name, canonical, schema: cachedSchema(), run: Effect.map(Effect.provide(call, context), toCached) },
                generation
              ),
              fromCached
            )
          ))
    })
  let cached: Schema.Schema<LookupCacheModel.Cached<A>, unknown> | undefined
  /** How the cache keeps this endpoint's answers: the body in its encoded form. */
  const cachedSchema = () =>
    cached ??= Schema.Struct({
      data: options.response,
      status: Schema.Number,
      requestId: Schema.UndefinedOr(Schema.String),
      headers: Schema.Record({ key: Schema.String, value: Schema.String })
    }) as Schema.Schema<LookupCacheModel.Cached<A>, unknown>
  /** A POST that changes users' authorizations drops what is cached about them, whatever its outcome. */
  const invalidating = <B, E, R>(
    effect: Effect.Effect<B, E, R>,
    subjects: ReadonlyArray<string> | undefined
  ): Effect.Effect<B, E, R | Signer> =>
    subjects === undefined || subjects.length === 0 ? effect : Effect.ensuring(
      effect,
      Effect.contextWithEffect((context: Context.Context<Signer>) => {
        const cache = Context.get(context, LookupCache)
        return cache === undefined ? Effect.void : cache.invalidate(Context.get(context, Signer).mchid, subjects).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning(`effect-wechatpay: ${name} could not drop cached answers; they live out their time`, cause)
          )
        )
      })
    )
  return Object.assign(call, { data: (input: RI) => Effect.map(call(input), (response) => response.data) })
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
export const get = <A, I>(
  path: string,
  options: { readonly query?: QueryInput | undefined; readonly schema: Schema.Schema<A, I, never> }
): Effect.Effect<WechatpayResponse<A>, WechatpayError, Requirements> => {
  const invalid = (field: string, description: string) =>
    Effect.withSpan(Effect.fail(new InvalidRequestError({ operation: "Wechatpay.get", field, description })), "Wechatpay.get", SPAN)
  const problem = Url.checkApiPath(path)
  if (problem !== undefined) return invalid("path", problem)
  const entries = options.query === undefined
    ? []
    : Array.isArray(options.query)
    ? options.query as ReadonlyArray<readonly [string, unknown]>
    : Object.entries(options.query)
  for (const [name, value] of entries) {
    if (typeof name !== "string" || !Url.QUERY_NAME.test(name)) {
      return invalid("query", "parameter names may only contain letters, digits, '_', '.' and '-'")
    }
    if (value !== undefined && typeof value !== "string" && typeof value !== "number") {
      return invalid(`query.${name}`, "must be a string, a number or undefined")
    }
  }
  const canonical = path + Url.query(options.query)
  return Effect.withSpan(send({ method: "GET", canonical, endpoint: "Wechatpay.get" }, Schema.decodeUnknownEither(options.schema), toResponse), "Wechatpay.get", {
    captureStackTrace: false,
    attributes: { "wechatpay.path": canonical }
  })
}

/**
 * Keeps only the decoded body of a response effect.
 *
 * @since 0.1.0
 * @category combinators
 */
export const data = <A, E, R>(self: Effect.Effect<WechatpayResponse<A>, E, R>): Effect.Effect<A, E, R> =>
  Effect.map(self, (response) => response.data)

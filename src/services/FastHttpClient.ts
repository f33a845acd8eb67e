/**
 * A lean `HttpClient.HttpClient` on undici for small JSON APIs such as
 * WeChat Pay, built with `HttpClient.makeWith`: every `HttpClient`
 * combinator applies to it and it swaps like any other layer. It skips what
 * `HttpClient.make` does per request for the general case (a WHATWG `URL`
 * parse, an `http.client` span, trace headers, a finalization-registry
 * entry, a body effect per read) and buffers each answer in undici's
 * callbacks.
 *
 * Trade-offs: bodies are buffered in memory before the response is handed
 * over (right for API answers, wrong for large downloads); request bodies may
 * be empty, bytes or text (not `FormData` or streams); no `http.client` span
 * and no trace-context headers. Interruption aborts the request.
 *
 * @since 0.1.0
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import type * as Undici from "@effect/platform-node/Undici"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * Options of the fast client.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * The longest a request may take, from sending to the last body byte;
   * past it the request is aborted and fails with a `RequestError` (reason
   * `Transport`) whose cause says so. Default: none (the pipeline's
   * `Wechatpay.RequestTimeout` applies in any case).
   */
  readonly timeout?: Duration.DurationInput | undefined
}

const PLAIN_PATH = /^\/[\x21-\x22\x24-\x7e]*$/
// scheme, a plain host name or IPv4 address, an optional port of at most 65535
const PLAIN_ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(?::(?:[0-5]?\d{1,4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]))?$/

/** Origin and path of a request, without a URL parse when the string is already plain. */
const target = (request: HttpClientRequest.HttpClientRequest): { origin: string; path: string } | Error => {
  let url = request.url
  if (request.urlParams.length > 0 || request.hash._tag === "Some") {
    const built = UrlParams.makeUrl(url, request.urlParams, request.hash)
    if (built._tag === "Left") return built.left
    url = built.right.toString()
  }
  const scheme = url.startsWith("https://") ? 8 : url.startsWith("http://") ? 7 : -1
  if (scheme !== -1) {
    const slash = url.indexOf("/", scheme)
    const origin = slash === -1 ? url : url.slice(0, slash)
    const path = slash === -1 ? "/" : url.slice(slash)
    if (PLAIN_ORIGIN.test(origin) && PLAIN_PATH.test(path)) return { origin, path }
  }
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return new TypeError(`unsupported protocol ${parsed.protocol}`)
    }
    return { origin: parsed.origin, path: parsed.pathname + parsed.search }
  } catch (error) {
    return error as Error
  }
}

const requestBody = (
  request: HttpClientRequest.HttpClientRequest
): string | Uint8Array | null | HttpClientError.RequestError => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
      return body.body
    case "Raw":
      if (typeof body.body === "string" || body.body instanceof Uint8Array) return body.body
  }
  return new HttpClientError.RequestError({
    request,
    reason: "Encode",
    description: `FastHttpClient sends empty, byte and text bodies, not ${body._tag} ones: use NodeHttpClient.layerUndici`
  })
}

/** A response whose body was read whole before it was handed over. */
class BufferedResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private cookiesCache: Cookies.Cookies | undefined = undefined

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly status: number,
    readonly headers: Headers.Headers,
    private readonly body: Buffer
  ) {
    super()
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  get cookies(): Cookies.Cookies {
    if (this.cookiesCache === undefined) {
      const header = this.headers["set-cookie"]
      this.cookiesCache = header === undefined ? Cookies.empty : Cookies.fromSetCookie(header.split(/,(?=[^;,]+=)/))
    }
    return this.cookiesCache
  }

  private decodeError(cause: unknown, description: string) {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause, description })
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.sync(() => this.body.toString("utf8"))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => (text === "" ? null : JSON.parse(text)) as unknown,
        catch: (cause) => this.decodeError(cause, "the body is not JSON")
      }))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.sync(() =>
      this.body.buffer.slice(this.body.byteOffset, this.body.byteOffset + this.body.byteLength) as ArrayBuffer
    )
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.tryPromise({
      try: () => new Response(this.body, { headers: this.headers as Record<string, string> }).formData(),
      catch: (cause) => this.decodeError(cause, "the body is not form data")
    })
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.succeed(new Uint8Array(this.body))
  }

  toJSON(): unknown {
    return {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status,
      headers: Inspectable.redact(this.headers)
    }
  }
}

/** undici's parsed headers (lower-case keys; repeated ones as arrays) as platform `Headers`. */
const toHeaders = (input: Record<string, string | ReadonlyArray<string> | undefined>): Headers.Headers => {
  const record: Record<string, string> = {}
  for (const key in input) {
    const value = input[key]
    if (value !== undefined) record[key] = typeof value === "string" ? value : value.join(", ")
  }
  return Headers.unsafeFromRecord(record)
}

/** undici's own timeouts are off: the client's `timeout` (or the caller's) decides. */
const NO_TIMEOUTS = { headersTimeout: 0, bodyTimeout: 0 } as const

/**
 * Builds the client over an undici dispatcher (an `Agent` or `Pool`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (dispatcher: Undici.Dispatcher, options: Options = {}): HttpClient.HttpClient => {
  const timeoutMillis = options.timeout === undefined ? undefined : Duration.toMillis(Duration.decode(options.timeout))
  const send = (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
    const where = target(request)
    if (where instanceof Error) {
      return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: where }))
    }
    const body = requestBody(request)
    if (body instanceof HttpClientError.RequestError) return Effect.fail(body)
    return Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
      let controller: Undici.Dispatcher.DispatchController | undefined
      let settled = false
      let status = 0
      let headers: Headers.Headers = Headers.empty
      const chunks: Array<Buffer> = []
      const abort = () => controller?.abort(new Error("aborted"))
      const settle = (effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>) => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        resume(effect)
      }
      const timer = timeoutMillis === undefined || !Number.isFinite(timeoutMillis) ? undefined : setTimeout(() => {
        settle(Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: new Error(`no complete answer within ${timeoutMillis} ms`)
          })
        ))
        abort()
      }, timeoutMillis)
      const handler: Undici.Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c
          if (settled) c.abort(new Error("aborted"))
        },
        onResponseStart(_c, statusCode, responseHeaders) {
          status = statusCode
          headers = toHeaders(responseHeaders)
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk)
        },
        onResponseEnd() {
          const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          settle(Effect.succeed(new BufferedResponse(request, status, headers, data)))
        },
        onResponseError(_c, error) {
          settle(Effect.fail(
            status === 0
              ? new HttpClientError.RequestError({ request, reason: "Transport", cause: error })
              : new HttpClientError.ResponseError({
                request,
                response: new BufferedResponse(request, status, headers, Buffer.alloc(0)),
                reason: "Decode",
                cause: error,
                description: "the connection failed while reading the body"
              })
          ))
        }
      }
      try {
        dispatcher.dispatch({
          origin: where.origin,
          path: where.path,
          method: request.method,
          headers: request.headers as Record<string, string>,
          body,
          ...NO_TIMEOUTS
        }, handler)
      } catch (cause) {
        settle(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
      }
      // interrupted: stop waiting and abort the request
      return Effect.sync(() => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        abort()
      })
    })
  }
  return HttpClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(request, send),
    (request) => Effect.succeed(request)
  )
}

/**
 * The client over a fresh undici `Agent` (keep-alive pools per origin),
 * closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScoped = (options: Options = {}): Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => import("@effect/platform-node/Undici").then((undici) => new undici.Agent())),
      (agent) => Effect.promise(() => agent.destroy())
    ),
    (agent) => make(agent, options)
  )

/**
 * A layer providing the fast client with {@link Options}.
 *
 * @example
 * ```ts
 * import { FastHttpClient } from "effect-wechatpay"
 *
 * const HttpLive = FastHttpClient.layerWith({ timeout: "5 seconds" })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(HttpClient.HttpClient, makeScoped(options))

/**
 * A layer providing the fast client, where `NodeHttpClient.layerUndici`
 * would go.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { FastHttpClient, Wechatpay } from "effect-wechatpay"
 *
 * const MainLive = Layer.merge(Wechatpay.layerConfig(), FastHttpClient.layer)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = layerWith({})

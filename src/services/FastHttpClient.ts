/**
 * A lean `HttpClient.HttpClient` on undici for small JSON APIs such as
 * WeChat Pay: built with `HttpClient.makeWith`, so it composes with every
 * `HttpClient` combinator and swaps like any other layer, but without the
 * per-request machinery of `HttpClient.make` (an `AbortController` per
 * request, a WHATWG `URL` re-parse of a URL that is already a string, a
 * finalization-registry entry, a nested runtime to read the body, and
 * `Headers` rebuilt on every access).
 *
 * Trade-offs: response bodies are buffered in memory before the response is
 * handed over (right for API answers, wrong for large downloads); request
 * bodies may be empty, bytes or text (not `FormData` or streams); it opens no
 * `http.client` span of its own (the query spans of this library remain).
 * Interruption, and so timeouts, abort the in-flight request.
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
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BufferedBody, DirectTransport, MAX_TIMER_MILLIS } from "../internal/pipeline.js"

const PLAIN_PATH = /^\/[\x21-\x22\x24-\x7e]*$/
// scheme, a plain host name or IPv4 address, an optional port of at most 65535
const PLAIN_ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(?::(?:[0-5]?\d{1,4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]))?$/

/** Origin and path of a request, without a URL re-parse when the string is already plain. */
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
    if (PLAIN_ORIGIN.test(origin) && PLAIN_PATH.test(path)) {
      return { origin, path }
    }
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
      return typeof body.body === "string" || body.body instanceof Uint8Array
        ? body.body
        : new HttpClientError.RequestError({
          request,
          reason: "Encode",
          description: "FastHttpClient sends only string or Uint8Array raw bodies"
        })
    default:
      return new HttpClientError.RequestError({
        request,
        reason: "Encode",
        description: `FastHttpClient does not send ${body._tag} bodies; use NodeHttpClient.layerUndici`
      })
  }
}

class BufferedResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  get [BufferedBody](): Uint8Array {
    return this.body
  }
  private textCache: string | undefined = undefined
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
    return Effect.sync(() => (this.textCache ??= this.body.toString("utf8")))
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

const NO_TIMEOUT = { headersTimeout: 0, bodyTimeout: 0 } as const

/** undici's parsed headers (lower-case keys; repeated ones as arrays) as platform `Headers`. */
const toHeaders = (input: Record<string, string | ReadonlyArray<string> | undefined>): Headers.Headers => {
  const record: Record<string, string> = {}
  for (const key in input) {
    const value = input[key]
    if (value !== undefined) record[key] = typeof value === "string" ? value : value.join(", ")
  }
  return Headers.unsafeFromRecord(record)
}

/**
 * Builds the client over an undici dispatcher (an `Agent` or `Pool`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (dispatcher: Undici.Dispatcher): HttpClient.HttpClient => {
  const send = <B, E2>(
    request: HttpClientRequest.HttpClientRequest,
    timeoutMillis: number | undefined,
    onTimeout: () => E2,
    onError: (error: HttpClientError.HttpClientError) => E2,
    received: (response: HttpClientResponse.HttpClientResponse, body: Uint8Array) => Effect.Effect<B, E2>
  ): Effect.Effect<B, E2> => {
    const where = target(request)
    if (where instanceof Error) {
      return Effect.fail(onError(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: where })))
    }
    const body = requestBody(request)
    if (body instanceof HttpClientError.RequestError) return Effect.fail(onError(body))
    let cancel: (() => void) | undefined
    const waiting = Effect.async<B, E2>((resume) => {
      let controller: Undici.Dispatcher.DispatchController | undefined
      let settled = false
      let status = 0
      let headers: Headers.Headers = Headers.empty
      const chunks: Array<Buffer> = []
      const settle = (effect: Effect.Effect<B, E2>) => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        resume(effect)
      }
      const abort = () => controller?.abort(new Error("aborted"))
      const timer = timeoutMillis === undefined || timeoutMillis > MAX_TIMER_MILLIS ? undefined : setTimeout(() => {
        settle(Effect.fail(onTimeout()))
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
          if (settled) return
          const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          // the caller's next step is this resumption, not a step after it
          let next: Effect.Effect<B, E2>
          try {
            next = received(new BufferedResponse(request, status, headers, data), data)
          } catch (defect) {
            next = Effect.die(defect)
          }
          settle(next)
        },
        onResponseError(_c, error) {
          settle(Effect.fail(onError(
            status === 0
              ? new HttpClientError.RequestError({ request, reason: "Transport", cause: error })
              : new HttpClientError.ResponseError({
                request,
                response: new BufferedResponse(request, status, headers, Buffer.alloc(0)),
                reason: "Decode",
                cause: error,
                description: "the connection failed while reading the body"
              })
          )))
        }
      }
      try {
        dispatcher.dispatch({
          origin: where.origin,
          path: where.path,
          method: request.method,
          headers: request.headers as Record<string, string>,
          body,
          ...NO_TIMEOUT
        }, handler)
      } catch (cause) {
        settle(Effect.fail(onError(new HttpClientError.RequestError({ request, reason: "Transport", cause }))))
      }
      cancel = () => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        abort()
      }
    })
    // interruption: stop waiting and abort the request (nothing to abort once it has ended: the
    // effect resumed with runs inside this region). A region of our own rather than a canceler
    // returned to Effect.async, which wraps the wait in onInterrupt: fewer steps, about 4 % less
    // CPU per lookup at C=1, within noise at C=32 (bench/, 3 alternating pairs)
    return Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(restore(waiting), {
        onFailure: (cause) => {
          if (Cause.isInterrupted(cause)) cancel?.()
          return Effect.failCause(cause)
        },
        onSuccess: Effect.succeed
      })
    )
  }
  const client = HttpClient.makeWith(
    (effect) =>
      Effect.flatMap(
        effect,
        (request) =>
          send<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>(
            request,
            undefined,
            absurdTimeout,
            identity,
            Effect.succeed
          )
      ),
    Effect.succeed as HttpClient.HttpClient.Preprocess<never, never>
  )
  return Object.assign(client, { [DirectTransport]: send })
}

const absurdTimeout = (): never => {
  throw new Error("unreachable: no timeout was set")
}

/**
 * The client over a fresh undici `Agent` (keep-alive pools per origin),
 * closed with the scope. undici is loaded when the layer is built.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeScoped: Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.promise(() => import("@effect/platform-node/Undici").then((undici) => new undici.Agent())),
    (agent) => Effect.promise(() => agent.destroy())
  ),
  make
)

/**
 * A layer providing the fast client. Use it where `NodeHttpClient.layerUndici`
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
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(HttpClient.HttpClient, makeScoped)

/**
 * Two shortcuts through `@effect/platform`'s `HttpClient.make` for an attempt
 * run in a region that aborts its request itself when it ends (the in-place
 * region of `pipeline.ts`). Both lean on how the installed platform works
 * inside: the first is checked once, on first use, the second on every
 * response, and each falls back to the public path when its check fails
 * (`test/platformShortcuts.test.ts` fails then, so the loss is noticed).
 *
 * 1. A request with an `AbortController` in the platform's `scopedRequests`
 *    map (what `HttpClient.withScope` fills) is sent with that controller's
 *    signal and answered with the transport's response as is: `make` then
 *    builds no `AbortController` of its own, no `InterruptibleResponse`, no
 *    finalization-registry entry and (with spans off) no uninterruptible
 *    region. In exchange
 *    the caller must see that nothing sent with it stays open when the attempt
 *    ends, whatever its exit (`withScope`'s scope aborts when it closes):
 *    `make` no longer aborts on interruption, nor when an unread response is
 *    collected. {@link endAttempt} does that.
 * 2. Such a response from `@effect/platform-node`'s undici client keeps
 *    undici's response (`statusCode`, `body`) as `source`; reading
 *    `source.body.arrayBuffer()` directly, when nothing has read the body
 *    yet, skips the body effect the platform builds per response
 *    (`Effect.cached` run with `Effect.runSync`: a nested fiber, a semaphore
 *    and a `Deferred` for every read).
 *
 * Measured (`bench/`, `layerUndici`, 3 alternating pairs, N=3000 after 5000,
 * with the GC placement of before commit c392c62): CPU per lookup −9 % at
 * C=1 and −14 % at C=32, peak RSS 170–188 → 148–160 MB.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { globalValue } from "effect/GlobalValue"
import { getEventListeners } from "node:events"

/** The `globalValue` key of the platform's map of scoped requests (its `HttpClient.withScope`). */
const SCOPED_REQUESTS_KEY = "@effect/platform/HttpClient/scopedRequests"

type ScopedRequests = WeakMap<HttpClientRequest.HttpClientRequest, AbortController>

/** `undefined`: not checked yet; `null`: the platform does not honour it. */
let scoped: ScopedRequests | null | undefined

/**
 * Whether `HttpClient.make` sends a request with the controller found for it
 * in the platform's map of scoped requests: one request through a client
 * made for the check, run synchronously, no I/O.
 */
const check = (): ScopedRequests | null => {
  try {
    const candidate: unknown = globalValue(SCOPED_REQUESTS_KEY, () => new WeakMap())
    if (!(candidate instanceof WeakMap)) return null
    const map = candidate as ScopedRequests
    const request = HttpClientRequest.get("http://scoped-request.invalid/")
    const controller = new AbortController()
    map.set(request, controller)
    let honoured = false
    const client = HttpClient.make((request, _url, signal) => {
      honoured = signal === controller.signal
      return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" }))
    })
    const exit = Effect.runSyncExit(client.execute(request))
    map.delete(request)
    return honoured && Exit.isFailure(exit) ? map : null
  } catch {
    return null
  }
}

/**
 * The platform's map of requests to the `AbortController` they are to be sent
 * with, when the installed `@effect/platform` honours it (checked once, on
 * first use); else `undefined`.
 *
 * @internal
 */
export const scopedRequests = (): ScopedRequests | undefined => {
  if (scoped === undefined) scoped = check()
  return scoped ?? undefined
}

/**
 * Why a request sent with a controller of the region was aborted: the attempt
 * had ended. One reason made once (an `abort()` without one builds a
 * `DOMException`, stack trace included, on every call).
 */
const ATTEMPT_ENDED: Error = new Error("the attempt this request belonged to has ended")

/** What undici's `request` answers with, as far as it is read here. */
interface UndiciResponseData {
  readonly statusCode: number
  readonly body: UndiciBody
}

/**
 * undici's response body (a `Readable`), as far as it is read here.
 *
 * @internal
 */
export interface UndiciBody {
  arrayBuffer(): Promise<ArrayBuffer>
  readonly bodyUsed: boolean
  /** `Readable#readableFlowing`: `null` until something starts reading the stream. */
  readonly readableFlowing?: boolean | null
  /**
   * `Readable#closed`: undici's abort listener for the body goes when `close`
   * is emitted, a tick after this turns true (in that tick one abort too many
   * is possible, never one too few).
   */
  readonly closed?: boolean
}

/** The platform response's memoised body reads (set as soon as one is asked for). */
interface PlatformBodyReads {
  readonly arrayBufferBody?: unknown
  readonly textBody?: unknown
  readonly formDataBody?: unknown
}

/**
 * Ends an attempt whose request went with `controller`, so nothing it sent
 * stays open. After a failure (or an interruption) it aborts, and after a
 * success whose body was not read here (another client's response, a
 * redirect's last hop, a body a combinator read). After a success whose body
 * was read here in full (`body`), aborting would only tear down that
 * finished body (measured: +8 % CPU per lookup in 3 alternating pairs,
 * commit 474224d), so it aborts only when something else still listens on
 * the signal: another send of the same request the client made and left
 * open (a retry after an unread error body, a race or hedge, a redirect's
 * first hop). undici's listener for the body read here stays until the
 * body's `close`.
 *
 * @internal
 */
export const endAttempt = (controller: AbortController, success: boolean, body: UndiciBody | undefined): void => {
  if (
    !success || body === undefined ||
    getEventListeners(controller.signal, "abort").length > (body.closed === true ? 0 : 1)
  ) {
    controller.abort(ATTEMPT_ENDED)
  }
}

/**
 * The undici body behind a response of `@effect/platform-node`'s undici
 * client (its `source`), when the response is one and nothing has asked for
 * its body yet; else `undefined`: any other client's response, one
 * `HttpClient.make` wrapped, or one whose body a client combinator has read
 * or started to read (through the platform, which memoises the read, so the
 * public path shares it; or from the stream).
 *
 * @internal
 */
export const undiciBody = (
  response: HttpClientResponse.HttpClientResponse
): UndiciBody | undefined => {
  const source = (response as unknown as { readonly source?: unknown }).source
  if (typeof source !== "object" || source === null) return undefined
  const { body, statusCode } = source as Partial<UndiciResponseData>
  if (
    statusCode !== response.status || typeof body !== "object" || body === null ||
    typeof body.arrayBuffer !== "function" || body.bodyUsed !== false || body.readableFlowing != null
  ) return undefined
  const reads = response as unknown as PlatformBodyReads
  return reads.arrayBufferBody === undefined && reads.textBody === undefined && reads.formDataBody === undefined
    ? body
    : undefined
}

/**
 * Reads the whole body of a response {@link undiciBody} recognised, failing
 * as the platform's own read does (`ResponseError`, reason `Decode`).
 *
 * @internal
 */
export const readUndiciBody = (
  response: HttpClientResponse.HttpClientResponse,
  body: UndiciBody
): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> =>
  Effect.tryPromise({
    try: () => body.arrayBuffer(),
    catch: (cause) =>
      new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })
  })

import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { globalValue } from "effect/GlobalValue"

/**
 * Two shortcuts through `@effect/platform`'s `HttpClient.make` for an attempt
 * run in a region that aborts the request itself when it is interrupted (the
 * in-place region of `pipeline.ts`). Both lean on how the installed platform
 * works inside, so both are checked before use and fall back to the public
 * path when the check fails: nothing breaks when the platform changes, the
 * attempt only gets slower again (`test/platformShortcuts.test.ts` fails, so
 * the loss is noticed).
 *
 * 1. A request with an `AbortController` of the caller's in the platform's
 *    `scopedRequests` map (what `HttpClient.withScope` fills) is sent with that
 *    controller's signal and answered with the transport's response as is:
 *    `make` then builds no `AbortController` of its own, no uninterruptible
 *    region, no `InterruptibleResponse` and no finalization-registry entry.
 *    The caller must abort the controller when the attempt is interrupted
 *    (as `withScope`'s scope would).
 * 2. Such a response from `@effect/platform-node`'s undici client keeps
 *    undici's response (`statusCode`, `body`) as `source`; reading
 *    `source.body.arrayBuffer()` directly skips the body effect the platform
 *    builds per response (`Effect.cached` run with `Effect.runSync`: a nested
 *    fiber, a semaphore and a `Deferred` for every read).
 *
 * Measured (`bench/`, `layerUndici`, 3 alternating pairs, N=3000 after 5000):
 * CPU per lookup −9 % at C=1 and −14 % at C=32, peak RSS −25 MB.
 *
 * @internal
 */
const SCOPED_REQUESTS_KEY = "@effect/platform/HttpClient/scopedRequests"

type ScopedRequests = WeakMap<HttpClientRequest.HttpClientRequest, AbortController>

/** `undefined`: not checked yet; `null`: the platform does not honour it. */
let scoped: ScopedRequests | null | undefined

/**
 * Whether `HttpClient.make` sends a request with the controller found for it
 * in the map under {@link SCOPED_REQUESTS_KEY}: one request through a client
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

/** What undici's `request` answers with, as far as it is read here. */
interface UndiciResponseData {
  readonly statusCode: number
  readonly body: { arrayBuffer(): Promise<ArrayBuffer> }
}

/**
 * The undici body behind a response of `@effect/platform-node`'s undici
 * client (its `source`), when the response is one; else `undefined` (any
 * other client's response, or one `HttpClient.make` wrapped).
 *
 * @internal
 */
export const undiciBody = (
  response: HttpClientResponse.HttpClientResponse
): UndiciResponseData["body"] | undefined => {
  const source = (response as unknown as { readonly source?: unknown }).source
  if (typeof source !== "object" || source === null) return undefined
  const { body, statusCode } = source as Partial<UndiciResponseData>
  return statusCode === response.status && typeof body === "object" && body !== null &&
      typeof body.arrayBuffer === "function"
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
  body: UndiciResponseData["body"]
): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> =>
  Effect.tryPromise({
    try: () => body.arrayBuffer(),
    catch: (cause) =>
      new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })
  })

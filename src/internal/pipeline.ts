import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Headers from "@effect/platform/Headers"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Arr from "effect/Array"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Exit from "effect/Exit"
import { BusinessError, NetworkError, SignatureError } from "../errors/Errors.js"
import { signingFailed } from "./crypto.js"
import { syncAuthorize } from "./fastPaths.js"
import { endAttempt, readUndiciBody, scopedRequests, type UndiciBody, undiciBody } from "./platformShortcuts.js"
import { Signer } from "../services/Signer.js"
import { BaseUrl, FailoverHosts, PRIMARY_BASE_URL, RequestTimeout, Retry, type RetryPolicy } from "./references.js"
import { USER_AGENT } from "./version.js"

const prepared = new WeakMap<HttpClient.HttpClient, HttpClient.HttpClient>()

const withSignature = new WeakMap<ReadonlyArray<string | RegExp>, ReadonlyArray<string | RegExp>>()

/**
 * The redacted header names plus `Wechatpay-Signature`: a frozen array, cached
 * per input array and used again only while the input still holds the same
 * names (an application may change the array it set).
 */
const redactSignature = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => {
  if (names.includes("wechatpay-signature")) return names
  const cached = withSignature.get(names)
  if (cached !== undefined && cached.length === names.length + 1 && names.every((name, i) => cached[i] === name)) {
    return cached
  }
  const extended = Object.freeze([...names, "wechatpay-signature"])
  withSignature.set(names, extended)
  return extended
}

const builtInTracer = Effect.runSync(Effect.tracer)
const always = () => true

/**
 * The fiber refs `prepareClient` sets around each request, set in one step
 * (one copy of the refs) for an attempt run in a region of the caller's fiber
 * or in a fiber of our own: no trace-context headers, `Wechatpay-Signature`
 * redacted, and no `http.client` span when the tracer is Effect's built-in
 * one (it exports nothing).
 */
const quietClient = (spans: boolean) => (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime): FiberRefs.FiberRefs => {
  const redacted: readonly [FiberRef.FiberRef<any>, Arr.NonEmptyReadonlyArray<readonly [FiberId.Runtime, any]>] = [
    Headers.currentRedactedNames,
    [[fiberId, redactSignature(FiberRefs.getOrDefault(refs, Headers.currentRedactedNames))]]
  ]
  const propagation: readonly [FiberRef.FiberRef<any>, Arr.NonEmptyReadonlyArray<readonly [FiberId.Runtime, any]>] = [
    HttpClient.currentTracerPropagation,
    [[fiberId, false]]
  ]
  return FiberRefs.updateManyAs(refs, {
    entries: spans
      ? [propagation, redacted]
      : [propagation, redacted, [HttpClient.currentTracerDisabledWhen, [[fiberId, always]]]]
  })
}
const quietWithSpans = quietClient(true)
const quietWithoutSpans = quietClient(false)

/**
 * The user's client, decorated once (cached per client): no trace-context
 * headers to a third-party API, and `Wechatpay-Signature` redacted from span
 * attributes like `Authorization`.
 */
const prepareClient = (client: HttpClient.HttpClient): HttpClient.HttpClient => {
  let decorated = prepared.get(client)
  if (decorated === undefined) {
    decorated = HttpClient.transformResponse(
      HttpClient.withTracerPropagation(client, false),
      Effect.locallyWith(Headers.currentRedactedNames, redactSignature)
    )
    prepared.set(client, decorated)
  }
  return decorated
}

const joinUrl = (base: string, canonical: string): string =>
  (base.endsWith("/") ? base.replace(/\/+$/, "") : base) + canonical

const networkError = (canonical: string) => (error: HttpClientError.HttpClientError): NetworkError =>
  new NetworkError({
    reason: error._tag === "RequestError" && error.reason === "InvalidUrl" ? "InvalidUrl" : "Transport",
    method: "GET",
    path: canonical,
    description: error._tag === "RequestError"
      ? error.reason === "InvalidUrl"
        ? "the base URL does not form a valid URL"
        : `request failed${error.cause instanceof Error ? `: ${error.cause.message}` : ""}`
      : `reading the response failed${error.cause instanceof Error ? `: ${error.cause.message}` : ""}`,
    ...(error._tag === "ResponseError" && error.response.headers["request-id"] !== undefined
      ? { requestId: error.response.headers["request-id"] }
      : {}),
    ...(error.cause !== undefined ? { cause: error.cause } : {})
  })

const liveClock = Effect.runSync(Effect.clock)

/** The longest delay `setTimeout` honours (2^31 - 1 ms); longer ones fire at once. */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * What a transport of this library (`FastHttpClient`) offers beside
 * `execute`: a send with the timeout handled in its own callback, which hands
 * the response, its body already buffered, to `received` and resumes with
 * that effect (one effect step less than a `flatMap` after the send).
 *
 * @internal
 */
export const DirectTransport: unique symbol = Symbol.for("effect-wechatpay/DirectTransport") as never

/** @internal */
export type DirectTransportFn = <B, E2>(
  request: HttpClientRequest.HttpClientRequest,
  timeoutMillis: number | undefined,
  onTimeout: () => E2,
  onError: (error: HttpClientError.HttpClientError) => E2,
  received: (response: HttpClientResponse.HttpClientResponse, body: Uint8Array) => Effect.Effect<B, E2>
) => Effect.Effect<B, E2>

/** @internal */
export const BufferedBody: unique symbol = Symbol.for("effect-wechatpay/BufferedBody") as never

const directTransportOf = (client: HttpClient.HttpClient): DirectTransportFn | undefined =>
  (client as unknown as { [DirectTransport]?: DirectTransportFn })[DirectTransport]

const bufferedBody = (response: HttpClientResponse.HttpClientResponse): Uint8Array | undefined =>
  (response as unknown as { [BufferedBody]?: Uint8Array })[BufferedBody]

/**
 * The fallback of {@link timeoutInPlace} (a caller in an uninterruptible
 * region, or one with child fibers): `Effect.timeoutFail` on the live clock,
 * cheaper: the effect runs in a root
 * fiber started at once on the caller's runtime (no scheduler hop, no message
 * to the parent fiber), with `updateRefs` applied to its fiber refs as it is
 * made, raced against one `setTimeout` (measured in `bench/`: a quarter of a
 * millisecond of CPU and 30 MB of peak RSS less per lookup than
 * `Effect.timeoutFail`'s two racing fibers). As with `Effect.timeoutFail`,
 * the timer firing or the caller being interrupted interrupts that fiber and
 * waits until it has ended (its transport aborts the request), so no attempt
 * outlives its caller or overlaps the next one. Any other clock (a
 * `TestClock`) takes `Effect.timeoutFail`, so tests control time.
 */
const raceTimer = <A, E, E2>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  effect: Effect.Effect<A, E>,
  millis: number,
  onTimeout: () => E2,
  updateRefs: (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime) => FiberRefs.FiberRefs
): Effect.Effect<A, E | E2> =>
  Effect.async<A, E | E2>((resume) => {
    const fiberRefs = parent.getFiberRefs()
    const runtime = Runtime.make({
      context: parent.currentContext,
      // interruptible whatever region the caller is in: the timer and the caller must reach it
      runtimeFlags: RuntimeFlags.enable(
        FiberRefs.getOrDefault(fiberRefs, FiberRef.currentRuntimeFlags),
        RuntimeFlags.Interruption
      ),
      fiberRefs
    })
    let done = false
    let expired = false
    const observer = (exit: Exit.Exit<A, E>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(expired ? Effect.fail(onTimeout()) : exit)
    }
    const fiber = Runtime.runFork(runtime)(effect, { updateRefs })
    const timer = setTimeout(() => {
      if (done) return
      // the observer answers the timeout once the interrupted fiber has ended
      expired = true
      fiber.unsafeInterruptAsFork(fiber.id())
    }, millis)
    // called at once when the fiber already finished (it starts synchronously)
    fiber.addObserver(observer)
    return Effect.suspend(() => {
      done = true
      clearTimeout(timer)
      fiber.removeObserver(observer)
      return Fiber.interrupt(fiber)
    })
  })

/**
 * Whom the in-place timeout names as the interruptor: no real fiber's id
 * (those count up from 0), so its interruption is told apart from any other.
 */
const TIMEOUT_INTERRUPTOR = FiberId.make(-1, 0)

/** The two fields of Effect's `FiberRuntime` the in-place timeout reads (absent: it is not used). */
interface FiberState {
  readonly _children?: ReadonlySet<Fiber.RuntimeFiber<unknown, unknown>> | null
  readonly currentRuntimeFlags?: RuntimeFlags.RuntimeFlags
}

/** Fibers inside a {@link timeoutInPlace} region: one region per fiber (they share the interruptor). */
const inRegion = new WeakSet<Fiber.RuntimeFiber<unknown, unknown>>()

const childrenOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => (fiber as unknown as FiberState)._children

/** Whether the fiber is Effect's `FiberRuntime`, whose fields the in-place region reads. */
const hasFiberState = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  const children = childrenOf(fiber)
  return typeof (fiber as unknown as FiberState).currentRuntimeFlags === "number" &&
    (children === null || children instanceof Set)
}

/**
 * Whether {@link timeoutInPlace} may interrupt this fiber when its timer
 * fires: it is interruptible (an uninterruptible caller could not be cut
 * short), it has no child fibers (an interruption reaches every child, and
 * the caller's own must not be touched), and it is not inside a timed region
 * already (a client that itself makes a lookup: the regions would share the
 * interruptor). Read from the `FiberRuntime`'s fields; on any other fiber
 * implementation the answer is no.
 */
const canTimeOutInPlace = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  if (!hasFiberState(fiber)) return false
  const children = childrenOf(fiber)
  return RuntimeFlags.interruptible((fiber as unknown as FiberState).currentRuntimeFlags!) &&
    (children === null || children!.size === 0) &&
    !inRegion.has(fiber)
}

/** An interruption, by {@link TIMEOUT_INTERRUPTOR} alone. */
const interruptedByTimeoutOnly = (cause: Cause.Cause<never>): boolean => {
  if (Cause.isEmpty(cause) || !Cause.isInterruptedOnly(cause)) return false
  for (const id of Cause.interruptors(cause)) {
    if (id !== TIMEOUT_INTERRUPTOR) return false
  }
  return true
}

/** The cause without the parts {@link TIMEOUT_INTERRUPTOR} added. */
const withoutTimeout = <E>(cause: Cause.Cause<E>): Cause.Cause<E> =>
  Cause.filter(cause, (part) => !(part._tag === "Interrupt" && part.fiberId === TIMEOUT_INTERRUPTOR))

/**
 * `Effect.timeoutFail` on the live clock without a fiber: the effect runs in
 * the caller's own fiber, with the client's fiber refs (`quiet`) set for its
 * duration, and a `setTimeout` that, should it fire first, interrupts the
 * caller's fiber as {@link TIMEOUT_INTERRUPTOR}. The interruption ends the
 * attempt like any other (the request is aborted: by `HttpClient.make`'s own
 * controller, or by `end` when it went with ours) and is caught at
 * the end of the region, where it is taken back (the fiber's interrupted
 * cause cleared) and answered as `onTimeout()`. An interruption from anyone
 * else is kept and ends the caller as usual.
 *
 * Safe because the fiber cannot be running when a timer fires: it is
 * suspended inside the region, and its next step handles the interruption
 * first (a fiber's messages are processed in order), so the interruption
 * never lands outside the region. The end of the region is one step (the
 * decision to take the interruption back and the clearing cannot be split by
 * a yield, during which another interruption could arrive). As with a fiber
 * of its own, the attempt leaves nothing behind: the caller's fiber refs are
 * put back as they were before it (whatever the client changed), and fibers
 * the client forked in the caller's fiber are interrupted (a
 * fiber that another fiber grafts onto the caller's scope with
 * `Effect.transplant` during the attempt counts as one of those). Used
 * only when {@link canTimeOutInPlace}: no fiber, no runtime, no scheduler hop
 * to resume the caller (measured in `bench/`), where {@link raceTimer} makes
 * all three. Without `millis` (no timeout) nothing interrupts the caller: the
 * region only sets the client's fiber refs for the attempt and puts them back
 * (cheaper than decorating the client per request), for any caller, and
 * interrupts only the fibers forked during the attempt. When the request
 * was sent with a controller of ours (see `platformShortcuts.ts`: the
 * platform then leaves aborting to the caller, as to `HttpClient.withScope`'s
 * scope), `end` is told how the attempt ended, and aborts what is still open.
 */
const timeoutInPlace = <A, E, E2>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  effect: Effect.Effect<A, E>,
  millis: number | undefined,
  onTimeout: () => E2,
  quiet: (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime) => FiberRefs.FiberRefs,
  end: ((success: boolean) => void) | undefined
): Effect.Effect<A, E | E2> =>
  Effect.uninterruptibleMask((restore) => {
    if (millis !== undefined) inRegion.add(fiber)
    // the caller's own children (only without a timer: a timed region starts with none)
    const running = childrenOf(fiber)
    const callerChildren = running === null || running === undefined || running.size === 0 ? undefined : new Set(running)
    let before: FiberRefs.FiberRefs | undefined
    let expired = false
    let timedOut = false
    // what the fiber keeps of its interruption once the timeout's own is taken out
    let kept: Cause.Cause<never> = Cause.empty
    const timer = millis === undefined ? undefined : setTimeout(() => {
      expired = true
      fiber.unsafeInterruptAsFork(TIMEOUT_INTERRUPTOR)
    }, millis)
    const settle = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | E2> =>
      Effect.flatMap(
        Effect.updateFiberRefs((fiberId, refs) => {
          if (timer !== undefined) {
            clearTimeout(timer)
            inRegion.delete(fiber)
          }
          // the timer fired, so the fiber has handled its interruption by now: take it back
          // unless someone else interrupted the caller as well, whose interruption is kept
          const cause = FiberRefs.getOrDefault(refs, FiberRef.interruptedCause)
          timedOut = expired && interruptedByTimeoutOnly(cause)
          kept = timedOut ? Cause.empty : expired ? withoutTimeout(cause) : cause
          const restored = before ?? refs
          return Cause.isEmpty(kept) && Cause.isEmpty(FiberRefs.getOrDefault(restored, FiberRef.interruptedCause))
            ? restored
            : FiberRefs.updateAs(restored, { fiberId, fiberRef: FiberRef.interruptedCause, value: kept })
        }),
        () => {
          // an interruption from elsewhere met the timeout: it alone is answered
          let answer: Effect.Effect<A, E | E2> = exit
          // the request was sent with our controller (see platformShortcuts): whatever the exit,
          // nothing the attempt sent may stay open (a send the client gave up on itself, a body it
          // never read, the loser of a race inside the client)
          if (end !== undefined) end(Exit.isSuccess(exit))
          if (timedOut) answer = Effect.fail(onTimeout())
          else if (expired && Exit.isFailure(exit)) {
            const rest = withoutTimeout(exit.cause)
            answer = Exit.failCause(Cause.isEmpty(rest) ? kept : rest)
          }
          // fibers the client forked in the caller's fiber are interrupted (not awaited: one
          // forked uninterruptible could hold the caller for ever)
          const children = childrenOf(fiber)
          if (children !== null && children !== undefined && children.size > 0) {
            for (const child of Array.from(children)) {
              if (callerChildren === undefined || !callerChildren.has(child)) child.unsafeInterruptAsFork(fiber.id())
            }
          }
          return answer
        }
      )
    return Effect.matchCauseEffect(
      Effect.zipRight(
        Effect.updateFiberRefs((fiberId, refs) => {
          before = refs
          return quiet(refs, fiberId)
        }),
        restore(effect)
      ),
      {
        onSuccess: (a) => settle(Exit.succeed(a)),
        onFailure: (cause) => settle(Exit.failCause(cause))
      }
    )
  })

/**
 * One HTTP exchange as received: status, headers, the raw body (bytes and
 * UTF-8 text) and when it arrived (epoch milliseconds, from the `Clock`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Exchange {
  readonly canonical: string
  readonly status: number
  readonly headers: Headers.Headers
  /** The body exactly as received: signatures are checked over these bytes. */
  readonly bytes: Uint8Array
  /** The body as UTF-8 text, for decoding. */
  readonly text: string
  readonly receivedAt: number
}

const retryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error
    ? error._tag === "NetworkError"
      ? (error as NetworkError).reason !== "InvalidUrl"
      : error._tag === "BusinessError" && (error as BusinessError).retryable
    : false

const withAttempts = <E>(error: E, attempts: number): E =>
  error instanceof NetworkError
    ? new NetworkError({ ...error, attempts }) as E
    : error instanceof BusinessError
    ? new BusinessError({ ...error, attempts }) as E
    : error

const backoff = (policy: RetryPolicy, attempt: number): Effect.Effect<void> => {
  const base = Duration.toMillis(Duration.decode(policy.baseDelay))
  const max = Duration.toMillis(Duration.decode(policy.maxDelay))
  const delay = Math.min(max, base * 2 ** (attempt - 1))
  return policy.jitter
    ? Effect.randomWith((random) => Effect.flatMap(random.next, (r) => Effect.sleep(delay * (0.5 + r / 2))))
    : Effect.sleep(delay)
}

/**
 * The signed exchange under every request: signs `GET {canonical}` afresh
 * on every attempt, sends it with `Accept`, `User-Agent`, `Authorization`
 * and (when given) `Wechatpay-Serial`, reads the raw body once, and hands the
 * exchange to `finish` (verification and decoding). Around it: a timeout per
 * attempt (`RequestTimeout`), retries of transport failures, 429 and 5xx
 * with exponential backoff and jitter (`Retry`), and failover to the next
 * host of `FailoverHosts` after a transport failure when `BaseUrl` is left at
 * its default.
 *
 * @since 0.1.0
 * @category pipeline
 */
export const exchange = <A, E>(
  canonical: string,
  preferredSerial: string | undefined,
  finish: (exchange: Exchange) => Effect.Effect<A, E>
): Effect.Effect<A, E | NetworkError | SignatureError, Signer | HttpClient.HttpClient> =>
  Effect.contextWithEffect((context: Context.Context<Signer | HttpClient.HttpClient>) =>
    exchangeIn(context, canonical, preferredSerial, finish)
  )

/**
 * {@link exchange} with the context already at hand (one effect step less).
 *
 * @internal
 */
export const exchangeIn = <A, E>(
  context: Context.Context<Signer | HttpClient.HttpClient>,
  canonical: string,
  preferredSerial: string | undefined,
  finish: (exchange: Exchange) => Effect.Effect<A, E>,
  annotate = false,
  current?: Fiber.RuntimeFiber<unknown, unknown>
): Effect.Effect<A, E | NetworkError | SignatureError> => {
    const signer = Context.get(context, Signer)
    const authorizeNow = syncAuthorize.get(signer)
    const userClient = Context.get(context, HttpClient.HttpClient)
    const direct = directTransportOf(userClient)
    const base = Context.get(context, BaseUrl)
    const hosts = base === PRIMARY_BASE_URL ? Context.get(context, FailoverHosts) : [base]
    const policy = Context.get(context, Retry)
    const limit = Duration.decode(Context.get(context, RequestTimeout))
    const limitMillis = Duration.toMillis(limit)
    // past what a timer can hold (about 24.8 days) a timeout means "never", as in Effect.timeout
    const finite = Duration.isFinite(limit) && limitMillis <= MAX_TIMER_MILLIS
    const toNetworkError = (error: HttpClientError.HttpClientError | NetworkError) =>
      error instanceof NetworkError ? error : networkError(canonical)(error)
    const timedOut = () =>
      new NetworkError({
        reason: "Timeout",
        method: "GET",
        path: canonical,
        description: `no complete answer within ${Duration.format(limit)}`
      })

    const request = (host: string, authorization: string) =>
      HttpClientRequest.get(joinUrl(host, canonical), {
        headers: preferredSerial === undefined
          ? { accept: "application/json", "user-agent": USER_AGENT, authorization }
          : { accept: "application/json", "user-agent": USER_AGENT, authorization, "wechatpay-serial": preferredSerial }
      })

    /** Send and read the whole body within the timeout, as cheaply as the transport allows. */
    const io = <B>(
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      host: string,
      authorization: string,
      live: boolean,
      received: (response: HttpClientResponse.HttpClientResponse, bytes: Uint8Array) => Effect.Effect<B, E>
    ): Effect.Effect<B, E | NetworkError> => {
      if (direct !== undefined && (live || !finite)) {
        // our own transport: the timer lives in its callback, the body is already buffered
        return direct<B, E | NetworkError>(
          request(host, authorization),
          finite ? limitMillis : undefined,
          timedOut,
          toNetworkError,
          received
        )
      }
      // in the caller's fiber with the client's fiber refs set for the attempt (see timeoutInPlace):
      // without a timeout for any caller, with one on the live clock when the caller may be
      // interrupted; else on the live clock a fiber of its own (see raceTimer), and on any other
      // clock (a TestClock) Effect.timeoutFail over the decorated client, so tests control time
      const inPlace = finite ? live && canTimeOutInPlace(fiber) : hasFiberState(fiber)
      const own = inPlace || (finite && live)
      const outgoing = request(host, authorization)
      // in the region, the request goes with a controller of ours, which the region's end aborts
      // when anything sent with it may still be open (endAttempt); an HttpClient.make client that
      // gets this very request object sends with it and hands back the transport's response as is
      // (a client that rewrites the request sends a new one, with the platform's own controller)
      const scoped = inPlace ? scopedRequests() : undefined
      // the body read here past the platform, once read
      let readHere: UndiciBody | undefined
      // set when the request goes with our controller: what the region's end calls
      let end: ((success: boolean) => void) | undefined
      if (scoped !== undefined) {
        const controller = new AbortController()
        scoped.set(outgoing, controller)
        end = (success) => endAttempt(controller, success, readHere)
      }
      const read = Effect.mapError(
        Effect.flatMap(
          (own ? userClient : prepareClient(userClient)).execute(outgoing),
          (response) => {
            const buffered = bufferedBody(response)
            if (buffered !== undefined) return Effect.succeed([response, buffered] as const)
            const body = end === undefined ? undefined : undiciBody(response)
            return Effect.map(
              body === undefined ? response.arrayBuffer : readUndiciBody(response, body),
              (bytes) => {
                readHere = body
                return [response, new Uint8Array(bytes)] as const
              }
            )
          }
        ),
        toNetworkError
      )
      const quiet = fiber.currentTracer === builtInTracer ? quietWithoutSpans : quietWithSpans
      const timed = inPlace
        ? timeoutInPlace(
          fiber,
          read,
          finite ? limitMillis : undefined,
          timedOut,
          quiet,
          end
        )
        : own
        ? raceTimer(fiber, read, limitMillis, timedOut, quiet)
        : finite
        ? Effect.timeoutFail(read, { duration: limit, onTimeout: timedOut })
        : read
      return Effect.flatMap(timed, ([response, bytes]) => received(response, bytes))
    }

    const attemptIn = (
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      host: string
    ): Effect.Effect<A, E | NetworkError | SignatureError> => {
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        // the caller's query span, when it asked for path, status and Request-ID on it
        const span = annotate ? fiber.currentSpan : undefined
        const live = clock === liveClock
        const received = (response: HttpClientResponse.HttpClientResponse, bytes: Uint8Array) => {
          const headers = response.headers
          if (span !== undefined && span._tag === "Span") {
            span.attribute("wechatpay.path", canonical)
            span.attribute("http.response.status_code", response.status)
            span.attribute("wechatpay.request_id", headers["request-id"] ?? "")
          }
          return finish({
            canonical,
            status: response.status,
            headers,
            bytes,
            text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
            receivedAt: clock.unsafeCurrentTimeMillis()
          })
        }
        // a synchronous signer signs right here; any other goes through its Effect
        if (authorizeNow !== undefined) {
          let authorization: string
          try {
            authorization = authorizeNow("GET", canonical, "", clock.unsafeCurrentTimeMillis())
          } catch (cause) {
            return Effect.fail(signingFailed(cause))
          }
          return io(fiber, host, authorization, live, received)
        }
        return Effect.flatMap(
          signer.authorize("GET", canonical, ""),
          (authorization) => io(fiber, host, authorization, live, received)
        )
      }
    // the first attempt runs in the fiber at hand when the caller has it; later ones look it up
    const attempt = (host: string, first: boolean): Effect.Effect<A, E | NetworkError | SignatureError> =>
      first && current !== undefined
        ? attemptIn(current, host)
        : Effect.withFiberRuntime((fiber) => attemptIn(fiber, host))

    if (policy.maxAttempts <= 1 && hosts.length === 1) return attempt(hosts[0] ?? base, true)
    const loop = (n: number, host: number): Effect.Effect<A, E | NetworkError | SignatureError> =>
      Effect.catchAll(attempt(hosts[host] ?? base, n === 1), (error) =>
        n < policy.maxAttempts && retryable(error)
          ? Effect.zipRight(
            backoff(policy, n),
            loop(n + 1, error instanceof NetworkError ? (host + 1) % hosts.length : host)
          )
          : Effect.fail(n > 1 ? withAttempts(error, n) : error))
    return loop(1, 0)
}



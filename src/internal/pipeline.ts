/**
 * The signed exchange under every request: sign, send, read the body, time
 * out, retry, fail over. What is done with the answer (verification,
 * decoding) is the caller's `finish` step, which runs inside each attempt so
 * that a retryable answer (429, 5xx) is retried.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { BusinessError, NetworkError, type RateLimitError, type SignatureError } from "../errors/Errors.js"
import { joinUrl } from "../protocol/url.js"
import { contentLength, readAtMost } from "./body.js"
import { RateLimits } from "../services/RateLimit.js"
import { Signer } from "../services/Signer.js"
import {
  BaseUrl,
  FailoverHosts,
  MaxResponseBytes,
  PRIMARY_BASE_URL,
  RequestTimeout,
  Retry,
  type RetryPolicy,
  type RetrySetting,
  TracePropagation
} from "./references.js"
import { USER_AGENT } from "./version.js"

/**
 * One HTTP exchange as received.
 *
 * @internal
 */
export interface Exchange {
  readonly method: string
  /** The path plus `?query` that was signed and sent. */
  readonly canonical: string
  readonly status: number
  readonly headers: Headers.Headers
  /** The body exactly as received: signatures are checked over these bytes. */
  readonly bytes: Uint8Array
  /** The body as UTF-8 text, for decoding. */
  readonly text: string
  /** When the answer arrived (epoch milliseconds, from the `Clock`). */
  readonly receivedAt: number
}

/**
 * What to send: the method, the canonical `path?query` (already encoded),
 * the body (`""` for none) and the key id to ask WeChat Pay to sign with.
 *
 * @internal
 */
export interface Outgoing {
  readonly method: "GET" | "POST"
  readonly canonical: string
  readonly body?: string | undefined
  readonly preferredSerial?: string | undefined
  /**
   * Whether an attempt that failed in transport or timed out may be sent
   * again (WeChat Pay may have acted on it): default, a `GET` is and a `POST`
   * is not. 429 and 5xx answers are retried either way.
   */
  readonly idempotent?: boolean | undefined
  /** The endpoint's name: what a `RateLimit` budget is kept by. */
  readonly endpoint?: string | undefined
}

/** Header names whose values are secret: redacted wherever the platform records headers. */
const SECRET_HEADERS = ["authorization", "wechatpay-signature"] as const

/** The application's redacted names plus ours: added to, never replaced. */
const withSecretHeaders = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> =>
  SECRET_HEADERS.every((name) => names.includes(name))
    ? names
    : [...names, ...SECRET_HEADERS.filter((name) => !names.includes(name))]

/**
 * Starts a response's body stream and ends it at once, which cancels the body
 * (a Node readable destroyed, a web stream cancelled) and releases the
 * connection, rather than when the garbage collector finds the response.
 */
const cancelBody = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<void> =>
  // whatever the transport makes of it (a body it cannot stream twice, say): nothing to report
  Effect.asVoid(Effect.exit(Effect.suspend(() => Stream.runDrain(Stream.interruptWhen(response.stream, Effect.void)))))

const EMPTY = new Uint8Array(0)

/** The largest limit honoured: past about 512 MiB a body no longer fits in one string. */
const MAX_LIMIT = 256 * 1024 * 1024

/** A usable limit: a whole number of bytes from 0 to 256 MiB (anything else means the most). */
const responseLimit = (limit: number): number =>
  Number.isFinite(limit) && limit >= 0 ? Math.min(Math.floor(limit), MAX_LIMIT) : MAX_LIMIT

/**
 * The whole body, or `undefined` as soon as it is known to be larger than
 * `max`. A `Content-Length` of an unencoded body bounds what the transport
 * reads, so such a body is read whole; any other (no length, or a
 * `Content-Encoding` a client may decode into more bytes) is read as a
 * stream and abandoned past `max`.
 */
const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  max: number
): Effect.Effect<Uint8Array | undefined, HttpClientError.ResponseError> => {
  // answers that have no body by definition (a web Response gives them no stream at all); should a
  // server send one anyway, it is dropped with its connection
  if (response.status === 204 || response.status === 205 || response.status === 304) {
    return Effect.as(cancelBody(response), EMPTY)
  }
  const length = contentLength(response.headers)
  const encoding = response.headers["content-encoding"]
  if (length !== undefined && (encoding === undefined || encoding === "identity")) {
    return length > max
      ? Effect.as(cancelBody(response), undefined)
      : Effect.map(response.arrayBuffer, (buffer) => new Uint8Array(buffer))
  }
  return readAtMost(response.stream, max)
}

/**
 * What a failed send is: a status the user's client refused itself is still
 * WeChat Pay's answer (an unverified `BusinessError`, retried by its status);
 * anything else a `NetworkError`.
 */
const failedSend = (
  error: HttpClientError.HttpClientError,
  origin: { readonly method: string; readonly path: string }
): NetworkError | BusinessError =>
  error._tag === "ResponseError" && error.reason === "StatusCode"
    ? BusinessError.fromAnswer({
      ...origin,
      status: error.response.status,
      requestId: error.response.headers["request-id"],
      body: {},
      verified: false
    })
    : NetworkError.fromHttpClientError(error, origin)

/**
 * Whether another attempt may succeed: transport failures (not an unusable
 * URL) and the answers WeChat Pay documents as transient (429, 5xx).
 */
const isRetryable = (error: unknown): error is NetworkError | BusinessError =>
  (error instanceof NetworkError || error instanceof BusinessError) && error.retryable

/** A policy record as a schedule: exponential backoff capped at `maxDelay`, jitter, `maxAttempts` in all. */
const fromPolicy = (policy: RetryPolicy): Schedule.Schedule<unknown> | undefined => {
  if (policy.maxAttempts <= 1) return undefined
  const max = Duration.decode(policy.maxDelay)
  const backoff = Schedule.exponential(policy.baseDelay).pipe(Schedule.modifyDelay((delay) => Duration.min(delay, max)))
  return Schedule.intersect(
    policy.jitter ? Schedule.jitteredWith(backoff, { min: 0.5, max: 1 }) : backoff,
    Schedule.recurs(policy.maxAttempts - 1)
  )
}

/** The final error, saying how many attempts were made when there were several. */
const withAttempts = <E>(error: E, attempts: number): E =>
  attempts > 1 && (error instanceof NetworkError || error instanceof BusinessError) ? error.withAttempts(attempts) as E : error

const retrySchedule = (setting: RetrySetting): Schedule.Schedule<unknown, NetworkError | BusinessError> | undefined =>
  Schedule.isSchedule(setting) ? setting : fromPolicy(setting)

/**
 * The signed exchange: each attempt signs `method canonical` afresh, sends
 * it (to the next of `FailoverHosts` after a transport failure, while
 * `BaseUrl` is at its default), reads the whole body within `RequestTimeout`
 * and hands the exchange to `finish` (a `BusinessError` also comes from a
 * client that refuses a status itself). Failed attempts are retried as `Retry`
 * says; only retryable failures reach its schedule. The current span gets the
 * status and Request-ID of each answer.
 *
 * @internal
 */
export const exchange = <A, E>(
  outgoing: Outgoing,
  finish: (exchange: Exchange) => Effect.Effect<A, E>
): Effect.Effect<A, E | NetworkError | BusinessError | SignatureError | RateLimitError, Signer | HttpClient.HttpClient> =>
  Effect.contextWithEffect((context: Context.Context<Signer | HttpClient.HttpClient>) => {
    const { body = "", canonical, method } = outgoing
    const idempotent = outgoing.idempotent ?? method === "GET"
    const signer = Context.get(context, Signer)
    const client = Context.get(context, HttpClient.HttpClient)
    const base = Context.get(context, BaseUrl)
    const hosts = base.replace(/\/+$/, "") === PRIMARY_BASE_URL ? Context.get(context, FailoverHosts) : [base]
    const timeout = Duration.decode(Context.get(context, RequestTimeout))
    const schedule = retrySchedule(Context.get(context, Retry))
    const maxBytes = responseLimit(Context.get(context, MaxResponseBytes))
    const propagate = Context.get(context, TracePropagation)
    const origin = { method, path: canonical }
    let host = 0
    let attempts = 0
    type Final = E | NetworkError | BusinessError | SignatureError | RateLimitError
    const limits = Context.get(context, RateLimits)
    // every attempt takes a token of the merchant's budget for the endpoint, before it is signed
    const authorize = limits === undefined || outgoing.endpoint === undefined
      ? signer.authorize(method, canonical, body)
      : Effect.zipRight(limits.take(signer.mchid, outgoing.endpoint), signer.authorize(method, canonical, body))

    const send = (authorization: string) => {
      const headers: Record<string, string> = { accept: "application/json", "user-agent": USER_AGENT, authorization }
      if (outgoing.preferredSerial !== undefined) headers["wechatpay-serial"] = outgoing.preferredSerial
      const url = joinUrl(hosts[host] ?? base, canonical)
      const request = method === "GET"
        ? HttpClientRequest.get(url, { headers })
        : HttpClientRequest.post(url, { headers, body: HttpBody.text(body, "application/json") })
      // the secret headers redacted from what the platform records (its http.client span) whatever
      // names the application has set; no trace-context headers to a third party unless asked for
      const sent = Effect.locallyWith(client.execute(request), Headers.currentRedactedNames, withSecretHeaders)
      return (propagate ? sent : Effect.locally(sent, HttpClient.currentTracerPropagation, false)).pipe(
        Effect.flatMap((response) => Effect.map(readBody(response, maxBytes), (bytes) => [response, bytes] as const)),
        Effect.catchAll((error) => Effect.zipRight(
          // a response the client refused before its body was read (a status filter) would hold
          // its connection until the garbage collector finds it
          error._tag === "ResponseError" && error.reason === "StatusCode" ? cancelBody(error.response) : Effect.void,
          Effect.fail(failedSend(error, origin))
        )),
        Effect.flatMap(([response, bytes]) =>
          bytes === undefined
            ? Effect.fail(NetworkError.responseTooLarge({ ...origin, status: response.status, requestId: response.headers["request-id"] }, maxBytes))
            : Effect.succeed([response, bytes] as const)
        )
      )
    }
    // the attempt is interruptible even in an uninterruptible caller, so the deadline holds;
    // the timeout answers once the interrupted attempt has ended (its request aborted)
    const timed = Duration.isFinite(timeout)
      ? (authorization: string) =>
        Effect.timeoutFail(Effect.interruptible(send(authorization)), {
          duration: timeout,
          onTimeout: () =>
            new NetworkError({ reason: "Timeout", ...origin, description: `no complete answer within ${Duration.format(timeout)}` })
        })
      : send

    // an attempt fails with what may be retried, and succeeds with the answer or with what may not
    const attempt = Effect.clockWith((clock) =>
      Effect.flatMap(authorize, (authorization) => {
        attempts++
        return Effect.flatMap(timed(authorization), ([response, bytes]) =>
          Effect.zipRight(
            Effect.annotateCurrentSpan({
              "http.response.status_code": response.status,
              "wechatpay.request_id": response.headers["request-id"] ?? ""
            }),
            finish({
              method,
              canonical,
              status: response.status,
              headers: response.headers,
              bytes,
              text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
              receivedAt: clock.unsafeCurrentTimeMillis()
            })
          ))
      }).pipe(
        Effect.map(Either.right),
        Effect.catchAll((error): Effect.Effect<Either.Either<A, Final>, NetworkError | BusinessError> => {
          if (!isRetryable(error)) return Effect.succeed(Either.left(error))
          if (error._tag === "NetworkError") {
            // the request may have reached WeChat Pay and been acted on
            if (!idempotent) return Effect.succeed(Either.left(error))
            // a failed transport moves the next attempt to the next host, and it stays there
            host = Math.min(host + 1, hosts.length - 1)
          }
          return Effect.fail(error)
        })
      )
    )
    const settled = (outcome: Either.Either<A, Final>) =>
      Either.isRight(outcome) ? Effect.succeed(outcome.right) : Effect.fail(withAttempts(outcome.left, attempts))
    return schedule === undefined
      ? Effect.flatMap(attempt, settled)
      : Effect.matchEffect(Effect.retry(attempt, schedule), {
        onFailure: (error) => Effect.fail(withAttempts(error, attempts)),
        onSuccess: settled
      })
  })

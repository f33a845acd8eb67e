/**
 * The settings of the request pipeline, each a `Context.Reference` with a
 * default.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"
import type { BusinessError, NetworkError } from "../errors/Errors.js"

/**
 * The primary APIv3 host.
 *
 * @since 0.1.0
 * @category constants
 */
export const PRIMARY_BASE_URL = "https://api.mch.weixin.qq.com"

/**
 * The backup APIv3 host (another city).
 *
 * @since 0.1.0
 * @category constants
 */
export const BACKUP_BASE_URL = "https://api2.mch.weixin.qq.com"

/**
 * The base URL requests are sent to. Defaults to the primary host; override
 * it with a layer, e.g. to point at a sandbox or a proxy:
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const Local = Layer.succeed(Wechatpay.BaseUrl, "http://127.0.0.1:8080")
 * ```
 *
 * The signature covers the path from `/v3/` on: a base URL with a path prefix
 * (a reverse proxy that strips it) still signs what WeChat Pay sees.
 *
 * @since 0.1.0
 * @category references
 */
export class BaseUrl extends Context.Reference<BaseUrl>()("effect-wechatpay/Wechatpay/BaseUrl", {
  defaultValue: (): string => PRIMARY_BASE_URL
}) {}


/**
 * The hosts used while `BaseUrl` is at its default: after a transport
 * failure or a timeout the next attempt goes to the next host, and later
 * attempts of the lookup stay there.
 *
 * @since 0.1.0
 * @category references
 */
export class FailoverHosts extends Context.Reference<FailoverHosts>()("effect-wechatpay/Wechatpay/FailoverHosts", {
  defaultValue: (): ReadonlyArray<string> => [PRIMARY_BASE_URL, BACKUP_BASE_URL]
}) {}

/**
 * A retry policy as a record: `maxAttempts` in all (1 turns retries off),
 * waiting `baseDelay` doubled each time up to `maxDelay`, times a random
 * factor in [0.5, 1) when `jitter` is on.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy {
  readonly maxAttempts: number
  readonly baseDelay: Duration.DurationInput
  readonly maxDelay: Duration.DurationInput
  readonly jitter: boolean
}

/**
 * How failed attempts are retried: a {@link RetryPolicy} record, or any
 * `Schedule` (its input is the error of each failed attempt). Either way a
 * failure that is not retryable ends the lookup at once; retryable are
 * `NetworkError` (but `InvalidUrl`) and `BusinessError` 429 and 5xx. Every
 * attempt is signed afresh.
 *
 * @since 0.2.0
 * @category models
 */
export type RetrySetting = RetryPolicy | Schedule.Schedule<unknown, NetworkError | BusinessError>

/**
 * The retry setting; the default is 3 attempts in all, 200 ms doubling to
 * 2 s, with jitter.
 *
 * @example
 * ```ts
 * import { Layer, Schedule } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const NoRetries = Layer.succeed(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false })
 * const FiveQuickOnes = Layer.succeed(Wechatpay.Retry, Schedule.recurs(4).pipe(Schedule.addDelay(() => "50 millis")))
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export class Retry extends Context.Reference<Retry>()("effect-wechatpay/Wechatpay/Retry", {
  defaultValue: (): RetrySetting => ({
    maxAttempts: 3,
    baseDelay: Duration.millis(200),
    maxDelay: Duration.seconds(2),
    jitter: true
  })
}) {}

/**
 * The time one attempt may take, from sending to the last body byte; past it
 * the request is aborted and fails with `NetworkError` reason `Timeout`.
 *
 * @since 0.1.0
 * @category references
 */
export class RequestTimeout extends Context.Reference<RequestTimeout>()("effect-wechatpay/Wechatpay/RequestTimeout", {
  defaultValue: (): Duration.DurationInput => Duration.seconds(10)
}) {}

/**
 * The largest response body read, in bytes (default 4 MiB: these APIs answer
 * in kilobytes). A larger body is abandoned as soon as that is known (its
 * `Content-Length`, or while it is read) and the lookup fails with
 * `NetworkError` reason `ResponseTooLarge`, not retried; memory stays bounded
 * whatever a server sends. At most 256 MiB is honoured (a larger or an
 * invalid value means 256 MiB).
 *
 * @since 0.2.0
 * @category references
 */
export class MaxResponseBytes extends Context.Reference<MaxResponseBytes>()("effect-wechatpay/Wechatpay/MaxResponseBytes", {
  defaultValue: (): number => 4 * 1024 * 1024
}) {}

/**
 * Whether the platform's trace-propagation headers (`traceparent`, `b3`) go
 * with this library's requests. Off by default: they would send your trace
 * ids to WeChat Pay. `Layer.succeed(Wechatpay.TracePropagation, true)` turns
 * them on (the platform's own `HttpClient.currentTracerPropagation` decides
 * then).
 *
 * @since 0.2.0
 * @category references
 */
export class TracePropagation extends Context.Reference<TracePropagation>()("effect-wechatpay/Wechatpay/TracePropagation", {
  defaultValue: (): boolean => false
}) {}

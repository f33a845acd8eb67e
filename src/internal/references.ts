import * as Context from "effect/Context"
import * as Duration from "effect/Duration"

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
 * The hosts tried in turn after a transport failure, used only while
 * `BaseUrl` is at its default.
 *
 * @since 0.1.0
 * @category references
 */
export class FailoverHosts extends Context.Reference<FailoverHosts>()("effect-wechatpay/Wechatpay/FailoverHosts", {
  defaultValue: (): ReadonlyArray<string> => [PRIMARY_BASE_URL, BACKUP_BASE_URL]
}) {}

/**
 * How the idempotent GETs of this library are retried: `maxAttempts` in all
 * (1 turns retries off), waiting `baseDelay` doubled each time up to
 * `maxDelay`, times a random factor in [0.5, 1) when `jitter` is on. Only
 * `NetworkError` (not `InvalidUrl`), 429 and 5xx are retried; every attempt is
 * signed afresh.
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
 * The retry policy.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const NoRetries = Layer.succeed(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false })
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export class Retry extends Context.Reference<Retry>()("effect-wechatpay/Wechatpay/Retry", {
  defaultValue: (): RetryPolicy => ({
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

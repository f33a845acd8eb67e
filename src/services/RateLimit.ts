/**
 * Per-merchant rate limits, opt-in: WeChat Pay limits each merchant per
 * endpoint (Business Circle's authorization query: 150 requests a second)
 * and answers `429 FREQUENCY_LIMITED` above it. With {@link layer}, every
 * attempt of a lookup (a retry too) first takes a token from its merchant's
 * budget for that endpoint; over the budget it waits its turn (the default,
 * for at most `maxWait`) or fails at once with a `RateLimitError`.
 *
 * The budget is `@effect/experimental`'s `RateLimiter` with a token bucket:
 * `limit` tokens a second, refilled evenly, holding at most a tenth of a
 * second's worth (at least one). So in any one second at most `limit` plus
 * that one burst are sent. Its store decides who shares it: {@link layerMemory}
 * one process, `Redis.layerRateLimiterStore` every process on one Redis.
 *
 * @since 0.2.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { RateLimitError } from "../errors/Errors.js"

/**
 * WeChat Pay's documented limits, in requests a second per merchant, by
 * endpoint name: the defaults of {@link layer}.
 *
 * @since 0.2.0
 * @category constants
 */
export const documentedLimits: Readonly<Record<string, number>> = {
  "BusinessCircle.getUserAuthorization": 150
}

/**
 * Options of {@link layer}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * Requests a second per merchant, by endpoint name (`Payscore.getPermissionsByOpenid`,
   * …, the `name` of `Wechatpay.endpoint`), over {@link documentedLimits}. An
   * endpoint with no limit is not limited.
   */
  readonly limits?: Readonly<Record<string, number>> | undefined
  /** Over the budget: `"wait"` for a token (default), or `"fail"` with `RateLimitError` at once. */
  readonly onExceeded?: "wait" | "fail" | undefined
  /** The longest a lookup waits for a token before it fails with `RateLimitError` (default 10 seconds). */
  readonly maxWait?: Duration.DurationInput | undefined
}

/**
 * What the request path asks before each attempt.
 *
 * @since 0.2.0
 * @category models
 */
export interface RateLimitService {
  /** Takes a token of `mchid`'s budget for `endpoint`: waits for it, or fails. */
  readonly take: (mchid: string, endpoint: string) => Effect.Effect<void, RateLimitError>
}

/**
 * The limits lookups keep: none by default; {@link layer} sets them.
 *
 * @since 0.2.0
 * @category references
 */
export class RateLimits extends Context.Reference<RateLimits>()("effect-wechatpay/RateLimit/RateLimits", {
  defaultValue: (): RateLimitService | undefined => undefined
}) {}

/** An endpoint's budget: `limit` a second, as a token bucket of `burst` tokens refilled over `window`. */
interface Budget {
  readonly limit: number
  readonly burst: number
  readonly window: Duration.Duration
}

/** The budget of each limited endpoint, checked once. */
const budgets = (limits: Readonly<Record<string, number>>): Map<string, Budget> => {
  const result = new Map<string, Budget>()
  for (const [endpoint, limit] of Object.entries(limits)) {
    if (!(Number.isSafeInteger(limit) && limit >= 1)) {
      throw new RangeError(`RateLimit: the limit of ${endpoint} must be a whole number ≥ 1, got ${limit}`)
    }
    // a tenth of a second's worth of tokens, at least one
    const burst = Math.max(1, Math.floor(limit / 10))
    result.set(endpoint, { limit, burst, window: Duration.millis((1000 * burst) / limit) })
  }
  return result
}

/**
 * A {@link RateLimitService} on the `RateLimiter` in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RateLimitService, never, RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const limits = yield* Effect.try(() => budgets({ ...documentedLimits, ...options.limits })).pipe(Effect.orDie)
    const limiter = yield* RateLimiter.RateLimiter
    const onExceeded = options.onExceeded ?? "wait"
    if (onExceeded !== "wait" && onExceeded !== "fail") {
      return yield* Effect.dieMessage(`RateLimit: onExceeded must be "wait" or "fail", got ${String(onExceeded)}`)
    }
    const maxWait = Duration.decodeUnknown(options.maxWait ?? "10 seconds")
    if (Option.isNone(maxWait)) return yield* Effect.dieMessage("RateLimit: maxWait must be a duration")
    const maxWaitMillis = Duration.toMillis(maxWait.value)
    // in each process one lookup per budget holds a place in the shared queue (a token taken
    // ahead of time) while the others wait here: one that gives up while waiting here has
    // spent nothing, and the shared queue never runs ahead of what is actually sent
    const local = new Map<string, Effect.Semaphore>()
    const localQueue = (key: string) => {
      let queue = local.get(key)
      if (queue === undefined) local.set(key, queue = Effect.unsafeMakeSemaphore(1))
      return queue
    }
    const take = (mchid: string, endpoint: string): Effect.Effect<void, RateLimitError> => {
      const budget = limits.get(endpoint)
      if (budget === undefined) return Effect.void
      const { limit } = budget
      const key = `${mchid}:${endpoint}`
      const consume = limiter.consume({
        algorithm: "token-bucket",
        onExceeded: onExceeded === "wait" ? "delay" : "fail",
        window: budget.window,
        limit: budget.burst,
        key
      }).pipe(
        Effect.flatMap((result) => Duration.isZero(result.delay) ? Effect.void : Effect.sleep(result.delay)),
        Effect.catchAll((error) =>
          Effect.fail(
            error.reason === "Exceeded"
              ? new RateLimitError({
                reason: "Exceeded",
                endpoint,
                mchid,
                limit,
                retryAfterMillis: Math.ceil(Duration.toMillis(error.retryAfter))
              })
              : new RateLimitError({ reason: "StoreUnavailable", endpoint, mchid, limit, cause: error.cause })
          )
        )
      )
      if (onExceeded === "fail") return consume
      const exceeded = () => new RateLimitError({ reason: "Exceeded", endpoint, mchid, limit })
      return Effect.flatMap(Clock.currentTimeMillis, (start) =>
        Effect.timeoutFail(
          localQueue(key).withPermits(1)(
            // a lookup whose time is up when its turn comes takes no token (those timed out
            // together would otherwise take one each as the place passes down the queue)
            Effect.flatMap(Clock.currentTimeMillis, (now) => now - start >= maxWaitMillis ? Effect.fail(exceeded()) : consume)
          ),
          { duration: maxWait.value, onTimeout: exceeded }
        ))
    }
    return { take }
  })

/**
 * Turns on rate limits for the lookups it is provided to, on the
 * `RateLimiterStore` given: {@link layerMemory} for one process,
 * `Redis.layerRateLimiterStore` for a fleet.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RateLimit } from "effect-wechatpay"
 * import { Redis } from "effect-wechatpay/redis"
 *
 * // every process of the merchant shares 150/s for Business Circle, 50/s for Pay Score by openid
 * const Limits = RateLimit.layer({ limits: { "Payscore.getPermissionsByOpenid": 50 } }).pipe(
 *   Layer.provide(Redis.layerRateLimiterStore({ host: "127.0.0.1", port: 6379 }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<RateLimits, never, RateLimiter.RateLimiterStore> =>
  Layer.effect(RateLimits, make(options)).pipe(Layer.provide(RateLimiter.layer))

/**
 * {@link layer} with a budget in this process's memory.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options?: Options): Layer.Layer<RateLimits> =>
  layer(options).pipe(Layer.provide(RateLimiter.layerStoreMemory))

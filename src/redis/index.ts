/**
 * effect-wechatpay/redis: the Redis stores a fleet shares (notification
 * dedupe, rate-limit budgets, the lookup cache). Needs `ioredis` 5.
 *
 * @since 0.2.0
 */

/**
 * Redis stores for `Notifications.Dedupe`, `RateLimit` and `LookupCache`.
 *
 * @since 0.2.0
 */
export * as Redis from "../services/Redis.js"

import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { LookupCache, Payscore, RateLimit, Wechatpay } from "effect-wechatpay"
import { Redis } from "effect-wechatpay/redis"

const redis = { host: process.env.REDIS_HOST ?? "127.0.0.1", port: Number(process.env.REDIS_PORT ?? 6379) }

// every process of the merchant shares one cache and one budget per endpoint (here 100/s for
// Pay Score by openid, besides Business Circle's 150/s); a notification or a terminate call
// handled by any of them drops what it made stale in all of them
const Fleet = Layer.mergeAll(
  LookupCache.layer().pipe(Layer.provide(Redis.layerResultPersistence(redis))),
  RateLimit.layer({ limits: { "Payscore.getPermissionsByOpenid": 100 } }).pipe(
    Layer.provide(Redis.layerRateLimiterStore(redis))
  )
)
// the processes serving Notifications.httpApp get Fleet too, and Redis.layerDedupe(redis) so that a
// notification delivered to two of them is handled once

Payscore.getPermissionsByOpenid({
  openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
  params: { service_id: "500001", appid: "wxd678efh567hg6787" }
}).pipe(
  Effect.tap((record) => Console.log("Pay Score:", record.authorization_state)),
  Effect.provide(Fleet),
  Effect.provide(Wechatpay.layerConfig()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)

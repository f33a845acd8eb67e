// A reproduction, for an upstream report, of @effect/experimental 0.61's Redis rate-limiter
// store failing its fixed-window algorithm when the limit does not divide the window in whole
// milliseconds (WeChat Pay's 150 requests a second, say): the Lua script sets `PX` to
// refillRate × tokens = 6.67 ms, which Redis refuses ("ERR value is not an integer or out of
// range"), so every `consume` fails with RateLimitStoreError. The token bucket does not set a
// TTL and works (this library uses it). Needs redis-server on the PATH.
//
//   node bench/ratelimiter-fixed-window-repro.mjs
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as RateLimiterRedis from "@effect/experimental/RateLimiter/Redis"
import { Effect, Layer } from "effect"
import { startRedis } from "./redis.mjs"

const redis = await startRedis()
const program = Effect.gen(function*() {
  const limiter = yield* RateLimiter.RateLimiter
  for (const algorithm of ["fixed-window", "token-bucket"]) {
    for (const limit of [100, 150]) {
      const result = yield* Effect.either(limiter.consume({ algorithm, key: `${algorithm}:${limit}`, limit, window: "1 second", onExceeded: "delay" }))
      console.log(`${algorithm.padEnd(12)} limit ${limit}/s: ${result._tag === "Right" ? "ok" : `${result.left._tag}: ${String(result.left.cause).split("\n")[0]}`}`)
    }
  }
}).pipe(Effect.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiterRedis.layerStore({ port: redis.port })))))
await Effect.runPromise(program).finally(redis.stop)
process.exit(0)

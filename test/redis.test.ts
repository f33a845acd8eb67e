import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Either, Exit, Layer, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { BusinessCircle, RateLimit, type RateLimitError } from "../src/index.js"
import { Redis } from "../src/redis/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { redisServer } from "./helpers/redis.js"
import { APPID } from "./helpers/world.js"

/**
 * The Redis stores against a real `redis-server` (started by the test, no
 * persistence): the notification dedupe's claims, the shared rate-limit
 * budget, and what happens when Redis goes away and comes back.
 */

const lookup = (openid: string) => BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } })

describe("Redis stores", () => {
  it.scopedLive("dedupe: one claim wins, only its holder releases, a handled id is remembered for 25 hours", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const a = yield* Redis.makeDedupe({ port: redis.port, prefix: "t1:" })
      const b = yield* Redis.makeDedupe({ port: redis.port, prefix: "t1:" })
      assert.strictEqual(yield* a.claim("n1", "tokA"), "claimed")
      assert.strictEqual(yield* b.claim("n1", "tokB"), "busy")
      yield* b.release("n1", "tokB")
      assert.strictEqual(yield* b.claim("n1", "tokB"), "busy", "a release by a non-holder leaves the claim")
      yield* a.release("n1", "tokA")
      assert.strictEqual(yield* b.claim("n1", "tokB"), "claimed", "the holder's release frees the id")
      yield* b.complete("n1", "tokB")
      assert.strictEqual(yield* a.claim("n1", "tokA"), "handled")
      yield* a.release("n1", "tokA")
      assert.strictEqual(yield* a.claim("n1", "tokA"), "handled", "a handled id cannot be released")
      const raw = new IORedis({ port: redis.port })
      const ttl = yield* Effect.promise(() => raw.pttl("t1:notification:n1"))
      yield* Effect.promise(() => raw.quit())
      assert.isAtLeast(ttl, 25 * 3600_000 - 60_000)
    }))

  it.scopedLive("dedupe: a claim lapses after claimMillis; a store asked to forget sooner than 25 hours is refused", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const a = yield* Redis.makeDedupe({ port: redis.port, claimMillis: 200 })
      assert.strictEqual(yield* a.claim("n2", "x"), "claimed")
      yield* Effect.sleep("300 millis")
      assert.strictEqual(yield* a.claim("n2", "y"), "claimed")
      const refused = yield* Effect.exit(Redis.makeDedupe({ port: redis.port, ttlMillis: 3600_000 }))
      assert.isTrue(Exit.isFailure(refused) && Cause.pretty(refused.cause).includes("ttlMillis ≥ 90000000 (25 hours)"))
    }))

  it.scopedLive("Redis going away: store commands fail typed within about a second, and work again when it returns", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const dedupe = yield* Redis.makeDedupe({ port: redis.port })
      assert.strictEqual(yield* dedupe.claim("n3", "x"), "claimed")
      yield* redis.stop
      const started = Date.now()
      const failed = yield* Effect.either(dedupe.claim("n4", "x"))
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "DedupeError")
      assert.isBelow(Date.now() - started, 3_000)
      yield* redis.start
      // ioredis reconnects by itself (its backoff is at most 2 s)
      const back = yield* dedupe.claim("n4", "x").pipe(
        Effect.retry({ times: 50, schedule: Schedule.spaced("100 millis") }),
        Effect.either
      )
      assert.deepStrictEqual(back, Either.right("claimed"))
    }), { timeout: 30_000 })
})

describe("RateLimit", () => {
  const BC = "BusinessCircle.getUserAuthorization"

  it.scopedLive("with onExceeded: fail, lookups over the budget fail with RateLimitError before anything is sent", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const before = (yield* sandbox.requests).length
      const results = yield* Effect.all(
        Array.from({ length: 12 }, (_, i) => Effect.either(lookup(`oLimit${i}`))),
        { concurrency: "unbounded" }
      )
      const refused = results.flatMap((r) => Either.isLeft(r) && r.left._tag === "RateLimitError" ? [r.left as RateLimitError] : [])
      // a budget of 10/s holds one tenth of a second's worth: one token, then one each 100 ms
      assert.isAtLeast(refused.length, 10)
      assert.strictEqual((yield* sandbox.requests).length - before, 12 - refused.length)
      assert.strictEqual(refused[0]!.reason, "Exceeded")
      assert.strictEqual(refused[0]!.endpoint, BC)
      assert.isAbove(refused[0]!.retryAfterMillis!, 0)
    }).pipe(
      Effect.provide(
        RateLimit.layerMemory({ limits: { [BC]: 10 }, onExceeded: "fail" }).pipe(
          Layer.provideMerge(Sandbox.layerTest({ httpClient: Transport }))
        )
      )
    ), { timeout: 30_000 })

  it.scopedLive("every attempt takes a token: a retry after a 500 finds the budget spent", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "SystemError", route: "businesscircle.userAuthorization", times: 1 })
      // a budget of 1/s holds one token: the first attempt takes it, the retry 100 ms later finds none
      const failed = yield* Effect.flip(lookup("oRetried"))
      assert.strictEqual(failed._tag, "RateLimitError")
      assert.strictEqual((yield* sandbox.requests).length, 1, "the retry was not sent")
    }).pipe(
      Effect.provide(
        RateLimit.layerMemory({ limits: { [BC]: 1 }, onExceeded: "fail" }).pipe(
          Layer.provideMerge(Sandbox.layerTest({ httpClient: Transport, retry: { maxAttempts: 3, baseDelay: "100 millis", maxDelay: "100 millis", jitter: false } }))
        )
      )
    ), { timeout: 30_000 })

  it.scopedLive("waiting for tokens, two limiters on one Redis (as two processes would have) share the budget: 30 lookups at 20/s take 1.4 s", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const limited = () =>
        RateLimit.layer({ limits: { [BC]: 20 } }).pipe(Layer.provide(Redis.layerRateLimiterStore({ port: redis.port })))
      const started = Date.now()
      const results = yield* Effect.all(
        [0, 1].map((p) =>
          Effect.all(Array.from({ length: 15 }, (_, i) => Effect.either(lookup(`oPaced${p}x${i}`))), { concurrency: "unbounded" })
            .pipe(Effect.provide(limited()))
        ),
        { concurrency: "unbounded" }
      )
      const elapsed = Date.now() - started
      assert.isTrue(results.flat().every(Either.isRight), "no lookup is lost")
      // 2 tokens at once, then one each 50 ms: the 30th leaves after 1.4 s
      assert.isAtLeast(elapsed, 1_300)
    }).pipe(Effect.provide(Sandbox.layerTest({ httpClient: Transport }))), { timeout: 30_000 })

  it.scopedLive("a lookup that gives up waiting spends nothing: after 8 timed out waits (maxWait), the next lookup goes at once", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      // 10/s holds one token, one more each 100 ms
      const results = yield* Effect.all(Array.from({ length: 10 }, (_, i) => Effect.either(lookup(`oWait${i}`))), { concurrency: "unbounded" })
      const gaveUp = results.filter((r) => Either.isLeft(r) && r.left._tag === "RateLimitError" && r.left.reason === "Exceeded")
      assert.strictEqual(gaveUp.length, 8, "the first goes at once, the second after 100 ms, the others wait past 150 ms")
      yield* Effect.sleep("250 millis")
      const started = Date.now()
      yield* lookup("oAfter")
      assert.isBelow(Date.now() - started, 90, "no debt left by the lookups that gave up")
      assert.strictEqual((yield* sandbox.requests).length, 3)
    }).pipe(
      Effect.provide(
        RateLimit.layerMemory({ limits: { [BC]: 10 }, maxWait: "150 millis" }).pipe(
          Layer.provideMerge(Sandbox.layerTest({ httpClient: Transport }))
        )
      )
    ), { timeout: 30_000 })

  it.scopedLive("the limiter's Redis going away fails lookups with RateLimitError StoreUnavailable, not a hang", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const limited = RateLimit.layer({ limits: { [BC]: 100 } }).pipe(
        Layer.provide(Redis.layerRateLimiterStore({ port: redis.port }))
      )
      yield* Effect.gen(function*() {
        assert.isTrue(Either.isRight(yield* Effect.either(lookup("oGone1"))))
        yield* redis.stop
        const started = Date.now()
        const failed = yield* Effect.either(lookup("oGone2"))
        assert.isTrue(Either.isLeft(failed) && failed.left._tag === "RateLimitError" && failed.left.reason === "StoreUnavailable")
        assert.isBelow(Date.now() - started, 3_000)
        yield* redis.start
        const back = yield* lookup("oGone3").pipe(
          Effect.retry({ times: 50, schedule: Schedule.spaced("100 millis"), while: (e) => e._tag === "RateLimitError" }),
          Effect.timeout(Duration.seconds(20))
        )
        assert.strictEqual(back.authorize_state, "UNAUTHORIZED")
      }).pipe(Effect.provide(limited))
    }).pipe(Effect.provide(Sandbox.layerTest({ httpClient: Transport }))), { timeout: 40_000 })
})

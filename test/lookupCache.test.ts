import * as HttpServer from "@effect/platform/HttpServer"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Persistence from "@effect/experimental/Persistence"
import { Duration, Effect, Either, Exit, Fiber, Layer, Logger, Option } from "effect"
import * as TestClock from "effect/TestClock"
import { createServer } from "node:http"
import { BusinessCircle, LookupCache, Notifications, Payscore } from "../src/index.js"
import { Redis } from "../src/redis/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { eventually, freePort } from "./helpers/loopback.js"
import { redisServer } from "./helpers/redis.js"
import { APPID, SERVICE_ID } from "./helpers/world.js"

/**
 * The lookup cache in one process (memory) and on Redis: what it keeps, for
 * how long, what it never keeps, and what drops it. Calls are counted from
 * WeChat Pay's side (the sandbox's request log).
 */

const byOpenid = (openid: string) => Payscore.getPermissionsByOpenid({ openid, params: { service_id: SERVICE_ID, appid: APPID } })

const received = (route: Sandbox.Route) =>
  Effect.flatMap(Sandbox.Sandbox, (s) => Effect.map(s.requests, (rs) => rs.filter((r) => r.route === route).length))

const seed: Sandbox.SeedData = {
  payscore: [
    {
      service_id: SERVICE_ID,
      appid: APPID,
      openid: "oCached",
      authorization_code: "CACHED1",
      authorization_success_time: "2026-12-01T10:00:00+08:00"
    },
    { service_id: SERVICE_ID, appid: APPID, openid: "oEnded", authorization_code: "ENDED1" }
  ]
}

const cached = (options?: LookupCache.Options) =>
  LookupCache.layerMemory(options).pipe(Layer.provideMerge(Sandbox.layerTest({ seed, httpClient: Transport })))

describe("LookupCache in memory", () => {
  it.live("a second lookup is answered from the cache: the same decoded value, Dates and all, and no call", () =>
    Effect.gen(function*() {
      const first = yield* Payscore.getPermissionsByOpenidResponse({ openid: "oCached", params: { service_id: SERVICE_ID, appid: APPID } })
      const second = yield* Payscore.getPermissionsByOpenidResponse({ openid: "oCached", params: { service_id: SERVICE_ID, appid: APPID } })
      assert.strictEqual(yield* received("payscore.openid"), 1)
      assert.deepStrictEqual(second.data, first.data)
      assert.instanceOf(second.data.authorization_success_time, Date)
      assert.strictEqual(second.requestId, first.requestId)
      assert.strictEqual(second.status, 200)
      assert.isUndefined(second.headers["wechatpay-signature"], "the answer's signature is not kept")
      // another endpoint, another user: calls of their own
      yield* byOpenid("oEnded")
      yield* BusinessCircle.getUserAuthorization({ openid: "oCached", params: { appid: APPID } })
      yield* BusinessCircle.getUserAuthorization({ openid: "oCached", params: { appid: APPID } })
      assert.strictEqual(yield* received("payscore.openid"), 2)
      assert.strictEqual(yield* received("businesscircle.userAuthorization"), 1)
    }).pipe(Effect.provide(cached())))

  it.live("ORDER_NOT_EXIST is kept for its shorter time; other errors are never kept; answers expire", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const missing = yield* Effect.flip(byOpenid("oNobody"))
      const again = yield* Effect.flip(byOpenid("oNobody"))
      assert.strictEqual(missing._tag === "BusinessError" && missing.code, "ORDER_NOT_EXIST")
      assert.isTrue(again._tag === "BusinessError" && again.code === "ORDER_NOT_EXIST" && again.verified)
      assert.strictEqual(again.message, missing.message, "the same typed error")
      assert.strictEqual(yield* received("payscore.openid"), 1)
      yield* Effect.sleep("350 millis")
      yield* Effect.flip(byOpenid("oNobody"))
      assert.strictEqual(yield* received("payscore.openid"), 2, "past noRecordTimeToLive")

      yield* sandbox.injectFault({ fault: "SystemError", route: "payscore.openid", times: 1 })
      const failed = yield* Effect.either(byOpenid("oCached"))
      assert.isTrue(Either.isLeft(failed) && failed.left._tag === "BusinessError" && failed.left.status === 500)
      const record = yield* byOpenid("oCached")
      assert.strictEqual(record.authorization_state, "AVAILABLE", "a 500 is not kept")
      assert.strictEqual(yield* received("payscore.openid"), 4)
      yield* Effect.sleep("1100 millis")
      yield* byOpenid("oCached")
      assert.strictEqual(yield* received("payscore.openid"), 5, "past the endpoint's time-to-live")
    }).pipe(
      Effect.provide(cached({ timeToLive: { "Payscore.getPermissionsByOpenid": "1 second" }, noRecordTimeToLive: "300 millis" }))
    ))

  it.live("a lookup made after a drop never joins one made before it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "Latency", route: "payscore.openid", latency: "500 millis", times: 1 })
      const before = yield* Effect.fork(byOpenid("oEnded"))
      yield* Effect.sleep("100 millis")
      yield* Payscore.terminatePermissionsByOpenid({ openid: "oEnded", data: { service_id: SERVICE_ID, appid: APPID, reason: "user asked" } })
      const after = yield* byOpenid("oEnded")
      assert.strictEqual(after.authorization_state, "UNAVAILABLE")
      assert.strictEqual((yield* Fiber.join(before)).authorization_state, "AVAILABLE", "the call made before the terminate")
      assert.strictEqual(yield* received("payscore.openid"), 2)
      assert.strictEqual((yield* byOpenid("oEnded")).authorization_state, "UNAVAILABLE", "the older answer is not what is kept")
      assert.strictEqual(yield* received("payscore.openid"), 2)
    }).pipe(Effect.provide(cached())))

  it.effect("a generation outlives any answer (25 hours against at most 24): a drop is never undone by time", () =>
    Effect.gen(function*() {
      const cache = yield* LookupCache.make()
      assert.strictEqual(yield* cache.generation("m1", "payscore:1:openid:o1"), "0")
      yield* cache.invalidate("m1", ["payscore:1:openid:o1"])
      const dropped = yield* cache.generation("m1", "payscore:1:openid:o1")
      assert.notStrictEqual(dropped, "0")
      yield* TestClock.adjust("24 hours")
      assert.strictEqual(yield* cache.generation("m1", "payscore:1:openid:o1"), dropped)
      const tooLong = yield* Effect.exit(LookupCache.make({ timeToLive: { "Payscore.getPermissionsByOpenid": "25 hours" } }))
      assert.isTrue(Exit.isFailure(tooLong))
    }).pipe(
      Effect.scoped,
      Effect.provide(Persistence.layerResult),
      Effect.provide(Layer.sync(Persistence.BackingPersistence, () => LookupCache.memoryBacking()))
    ))

  it.effect("the memory store is bounded: past maxEntries the oldest answers go", () =>
    Effect.gen(function*() {
      const store = yield* LookupCache.memoryBacking(3).make("s")
      for (const key of ["a", "b", "c", "d"]) yield* store.set(key, key, Option.none())
      assert.deepStrictEqual(yield* store.getMany(["a", "b", "c", "d"]), [Option.none(), Option.some("b"), Option.some("c"), Option.some("d")])
      yield* store.set("e", "e", Option.some(Duration.seconds(1)))
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* store.get("e"), Option.none(), "expired")
    }).pipe(Effect.scoped))

  it.live("a terminate call drops the record it ends: the next lookup asks WeChat Pay", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* byOpenid("oEnded")).authorization_state, "AVAILABLE")
      yield* Payscore.terminatePermissionsByOpenid({ openid: "oEnded", data: { service_id: SERVICE_ID, appid: APPID, reason: "user asked" } })
      assert.strictEqual((yield* byOpenid("oEnded")).authorization_state, "UNAVAILABLE")
      assert.strictEqual(yield* received("payscore.openid"), 2)
    }).pipe(Effect.provide(cached())))

  it.live("notifications handled by httpApp drop what they make stale: a Pay Score close that user's records (by openid and by code), a Business Circle activation that user's authorization", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const handled: Array<string> = []
      const client = Sandbox.layerTest({ seed, httpClient: Transport, notifyUrl: `http://127.0.0.1:${port}/`, notifyTimeScale: 0.001 })
      const cache = LookupCache.layerMemory()
      const merchantServer = HttpServer.serve(Notifications.httpApp((n) => Effect.sync(() => handled.push(n.event_type)))).pipe(
        Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
        Layer.provide(Layer.unwrapEffect(Effect.map(Sandbox.Sandbox, (s) => Notifications.layer({ apiV3Key: s.credentials.apiV3Key })))),
        Layer.provide(Logger.remove(Logger.defaultLogger))
      )
      yield* Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const byCode = Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CACHED1", params: { service_id: SERVICE_ID } })
        yield* byOpenid("oCached")
        yield* byCode
        yield* sandbox.closePayscore({ service_id: SERVICE_ID, openid: "oCached" })
        assert.isTrue(yield* eventually(() => handled.length === 1))
        assert.deepStrictEqual(handled, ["PAYSCORE.USER_CLOSE_SERVICE"])
        assert.strictEqual((yield* byOpenid("oCached")).authorization_state, "UNAVAILABLE")
        assert.strictEqual((yield* byCode).authorization_state, "UNAVAILABLE")
        assert.strictEqual(yield* received("payscore.openid"), 2)
        assert.strictEqual(yield* received("payscore.authorizationCode"), 2)

        const points = BusinessCircle.getUserAuthorization({ openid: "oCached", params: { appid: APPID } })
        assert.strictEqual((yield* points).authorize_state, "UNAUTHORIZED")
        yield* sandbox.activateBusinessCircle({ appid: APPID, openid: "oCached" })
        assert.isTrue(yield* eventually(() => handled.length === 2))
        assert.strictEqual((yield* points).authorize_state, "AUTHORIZED")
        assert.strictEqual(yield* received("businesscircle.userAuthorization"), 2)
      }).pipe(Effect.provide(Layer.provideMerge(merchantServer, Layer.merge(client, cache))))
    }).pipe(Effect.scoped))
})

describe("LookupCache on Redis", () => {
  it.live("two caches on one Redis (as two processes would be) share answers; Redis going away means lookups without it, and its return, answers kept again", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const store = () => LookupCache.layer().pipe(Layer.provide(Redis.layerResultPersistence({ port: redis.port })))
      const first = yield* byOpenid("oCached").pipe(Effect.provide(store()))
      const second = yield* byOpenid("oCached").pipe(Effect.provide(store()))
      assert.deepStrictEqual(second, first)
      assert.instanceOf(second.authorization_success_time, Date)
      assert.strictEqual(yield* received("payscore.openid"), 1)

      yield* Effect.gen(function*() {
        yield* redis.stop
        const started = Date.now()
        const without = yield* byOpenid("oCached")
        assert.strictEqual(without.authorization_state, "AVAILABLE")
        assert.isBelow(Date.now() - started, 5_000)
        assert.strictEqual(yield* received("payscore.openid"), 2)
        yield* redis.start
        // once ioredis has reconnected (its backoff is at most 2 s), answers are kept again
        yield* Effect.sleep("2500 millis")
        yield* byOpenid("oCached")
        yield* byOpenid("oCached")
        assert.strictEqual(yield* received("payscore.openid"), 3)
      }).pipe(Effect.provide(Layer.merge(store(), Logger.remove(Logger.defaultLogger))))
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Transport })), Effect.scoped), { timeout: 30_000 })
})

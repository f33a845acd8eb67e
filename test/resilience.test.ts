import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule } from "effect"
import * as TestClock from "effect/TestClock"
import { Payscore, Wechatpay } from "../src/index.js"
import type { Reply } from "./helpers/fakeWechat.js"
import { parseAuthorization, verifyAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, MCHID, OPENID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const okBody = { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "AVAILABLE" }
const query = Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } })
const steady = Layer.succeed(Wechatpay.Retry, { maxAttempts: 3, baseDelay: "100 millis", maxDelay: "1 second", jitter: false })

/** Replies in turn; the last one repeats. */
const sequence = (...replies: ReadonlyArray<Reply>) => {
  let i = 0
  return () => replies[Math.min(i++, replies.length - 1)]!
}

describe("retries", () => {
  it.effect("a 500 then a 429 then 200: three attempts, each signed afresh, with exponential backoff", () => {
    const { requests, layer } = world.fake(sequence(
      { status: 500, body: { code: "SYSTEM_ERROR", message: "系统错误" } },
      { status: 429, body: { code: "FREQUENCY_LIMITED", message: "频率超限" } },
      { body: okBody }
    ), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(query)
      yield* TestClock.adjust("99 millis")
      assert.strictEqual(requests.length, 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(requests.length, 2)
      yield* TestClock.adjust("199 millis")
      assert.strictEqual(requests.length, 2)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.authorization_state, "AVAILABLE")
      assert.strictEqual(requests.length, 3)
      const auths = requests.map((r) => parseAuthorization(r.headers["authorization"]!)!)
      assert.strictEqual(new Set(auths.map((a) => a.nonce)).size, 3)
      assert.deepStrictEqual(auths.map((a) => a.timestamp), ["0", "0", "0"]) // sub-second TestClock steps
      for (const r of requests) assert.isTrue(verifyAuthorization(world.merchant.publicKey, r.headers["authorization"]!, "GET", r.pathAndQuery))
    }).pipe(Effect.provide(Layer.merge(layer, steady)))
  })

  it.effect("gives up after maxAttempts and says how many attempts were made", () => {
    const { requests, layer } = world.fake(() => ({ status: 503, body: "<html>busy</html>", sign: false }), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(query))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.attempts, 3)
      assert.include(error.message, "after 3 attempts")
      assert.strictEqual(requests.length, 3)
    }).pipe(Effect.provide(Layer.merge(layer, steady)))
  })

  it.effect("transport failures are retried; the default policy is 3 attempts with jitter", () => {
    const { requests, layer } = world.fake(() => ({ transportFailure: true }), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(query))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "NetworkError" && error.attempts, 3)
      assert.strictEqual(requests.length, 3)
    }).pipe(Effect.provide(layer))
  })

  const notRetried: Array<[string, Reply]> = [
    ["404 ORDER_NOT_EXIST", { status: 404, body: { code: "ORDER_NOT_EXIST", message: "无授权记录" } }],
    ["400 PARAM_ERROR", { status: 400, body: { code: "PARAM_ERROR", message: "参数错误" } }],
    ["a SignatureError", { body: okBody, sign: { signedBody: "{}" } }],
    ["a SignatureError on a 500", { status: 500, body: { code: "SYSTEM_ERROR" }, sign: { signedBody: "{}" } }],
    ["a DecodeError", { body: "{" }]
  ]
  for (const [name, reply] of notRetried) {
    it.effect(`${name} is not retried`, () => {
      const { requests, layer } = world.fake(() => reply, { retries: true })
      return Effect.gen(function*() {
        const error = yield* Effect.flip(query)
        assert.notStrictEqual(error._tag, "NetworkError")
        assert.strictEqual(requests.length, 1)
      }).pipe(Effect.provide(Layer.merge(layer, steady)))
    })
  }

  it.effect("any Schedule can be the retry setting; it sees only retryable errors, and one that is not ends the lookup", () => {
    const { requests, layer } = world.fake(sequence(
      { status: 500, body: { code: "SYSTEM_ERROR" } },
      { transportFailure: true },
      { status: 404, body: { code: "ORDER_NOT_EXIST", message: "无授权记录" } }
    ), { retries: true })
    const seen: Array<string> = []
    const schedule = Schedule.spaced("1 second").pipe(
      Schedule.intersect(Schedule.recurs(5)),
      Schedule.tapInput((error: { readonly _tag: string }) => Effect.sync(() => seen.push(error._tag)))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(query))
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(requests.length, 1, "the schedule's own delay, not the default policy's")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(requests.length, 2)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      // the 404 ends it: not retryable, never fed to the schedule
      assert.strictEqual(error._tag === "BusinessError" && error.code, "ORDER_NOT_EXIST")
      assert.strictEqual(error._tag === "BusinessError" && error.attempts, 3)
      assert.strictEqual(requests.length, 3)
      assert.deepStrictEqual(seen, ["BusinessError", "NetworkError"])
    }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.Retry, schedule))))
  })

  it.effect("a Schedule that stops ends the lookup with the last error and its attempt count", () => {
    const { requests, layer } = world.fake(() => ({ status: 503, body: "", sign: false }), { retries: true })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(query)
      assert.strictEqual(error._tag === "BusinessError" && error.status, 503)
      assert.strictEqual(error._tag === "BusinessError" && error.attempts, 2)
      assert.strictEqual(requests.length, 2)
    }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.Retry, Schedule.recurs(1)))))
  })

  it.effect("maxAttempts: 1 turns retries off", () => {
    const { requests, layer } = world.fake(() => ({ status: 500, body: { code: "SYSTEM_ERROR" } }), { retries: true })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(query)
      assert.strictEqual(error._tag === "BusinessError" && error.attempts, undefined)
      assert.strictEqual(requests.length, 1)
    }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false }))))
  })
})

describe("timeouts", () => {
  it.effect("an attempt that does not answer in 10 s is a NetworkError(Timeout) and the request is aborted", () => {
    const { interrupted, layer, requests } = world.fake(() => ({ hang: true }))
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(query))
      yield* TestClock.adjust("9999 millis")
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
      assert.strictEqual(interrupted(), 1)
      assert.strictEqual(requests.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.effect("the timeout is configurable, applies per attempt, and timeouts are retried", () => {
    const { interrupted, layer, requests } = world.fake(sequence({ hang: true }, { body: okBody }), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(query)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(requests.length, 1)
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("100 millis")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.authorization_state, "AVAILABLE")
      assert.strictEqual(interrupted(), 1)
      assert.strictEqual(requests.length, 2)
    }).pipe(Effect.provide(Layer.mergeAll(layer, steady, Layer.succeed(Wechatpay.RequestTimeout, "3 seconds"))))
  })

  it.live("a timeout longer than a timer can hold (24.8 days) means no timeout, not an instant one", () => {
    const { layer } = world.fake(() => ({ body: okBody }))
    return Effect.gen(function*() {
      const result = yield* query
      assert.strictEqual(result.authorization_state, "AVAILABLE")
    }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.RequestTimeout, "30 days"))))
  })

  it.effect("interrupting a lookup aborts the in-flight request", () => {
    const { interrupted, layer } = world.fake(() => ({ hang: true }))
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(query)
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(interrupted(), 1)
    }).pipe(Effect.provide(layer))
  })
})

describe("failover", () => {
  const hosts = Layer.succeed(Wechatpay.FailoverHosts, ["https://primary.test", "https://backup.test"])

  it.effect("a transport failure on the primary host moves the next attempt to the backup", () => {
    const { requests, layer } = world.fake((r) => r.url.startsWith("https://primary.test") ? { transportFailure: true } : { body: okBody }, { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(query)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(requests.map((r) => new URL(r.url).origin), ["https://primary.test", "https://backup.test"])
      // the same canonical path is signed for both hosts
      assert.strictEqual(requests[0]!.pathAndQuery, requests[1]!.pathAndQuery)
    }).pipe(Effect.provide(Layer.mergeAll(layer, steady, hosts)))
  })

  it.effect("once on the backup host, later attempts stay there; a BaseUrl spelled with a trailing slash is still the default", () => {
    const { requests, layer } = world.fake(() => ({ transportFailure: true }), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(query))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(requests.map((r) => new URL(r.url).origin), ["https://primary.test", "https://backup.test", "https://backup.test"])
    }).pipe(Effect.provide(Layer.mergeAll(layer, steady, hosts, Layer.succeed(Wechatpay.BaseUrl, "https://api.mch.weixin.qq.com/"))))
  })

  it.effect("a 5xx stays on the same host", () => {
    const { requests, layer } = world.fake(sequence({ status: 500, body: { code: "SYSTEM_ERROR" } }, { body: okBody }), { retries: true })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(query)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(requests.map((r) => new URL(r.url).origin), ["https://primary.test", "https://primary.test"])
    }).pipe(Effect.provide(Layer.mergeAll(layer, steady, hosts)))
  })

  it.effect("the default hosts are WeChat Pay's primary and backup; a custom BaseUrl turns failover off", () => {
    const { requests, layer } = world.fake(() => ({ transportFailure: true }), { retries: true })
    return Effect.gen(function*() {
      assert.deepStrictEqual(yield* Wechatpay.FailoverHosts, [Wechatpay.PRIMARY_BASE_URL, Wechatpay.BACKUP_BASE_URL])
      assert.deepStrictEqual([Wechatpay.PRIMARY_BASE_URL, Wechatpay.BACKUP_BASE_URL], ["https://api.mch.weixin.qq.com", "https://api2.mch.weixin.qq.com"])
      const fiber = yield* Effect.fork(Effect.flip(query.pipe(Effect.provide(Layer.succeed(Wechatpay.BaseUrl, "https://proxy.test")))))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(requests.map((r) => new URL(r.url).origin), ["https://proxy.test", "https://proxy.test", "https://proxy.test"])
    }).pipe(Effect.provide(Layer.mergeAll(layer, steady)))
  })
})

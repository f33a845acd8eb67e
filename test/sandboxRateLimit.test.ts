import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { execFile } from "node:child_process"
import { BusinessCircle, Payscore, Signer, Wechatpay, type WechatpayError } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { BIN, cleanEnv, startCli } from "./helpers/cli.js"
import { generateRsa } from "./helpers/keys.js"

/** The sandbox's rate limit (429 FREQUENCY_LIMITED per merchant, endpoint and second) and its request counts. */

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"
// distinct users: identical lookups in flight would share one request (single flight)
const USERS = Array.from({ length: 12 }, (_, i) => `oUser${i}`)

const seed: Sandbox.SeedData = {
  payscore: USERS.map((openid) => ({ service_id: SERVICE_ID, appid: APPID, openid }))
}

const byOpenid = (openid: string) => Payscore.getPermissionsByOpenid({ openid, params: { service_id: SERVICE_ID, appid: APPID } })
const circle = (openid: string) => BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } })

/** Waits until early in a fresh wall-clock second, so a burst fired now stays inside one second. */
const freshSecond = Effect.suspend(() => {
  const into = Date.now() % 1000
  return into <= 100 ? Effect.void : Effect.sleep(Duration.millis(1000 - into + 20))
})

/** Runs `queries` all at once; answers how many succeeded and the errors of the others. */
const burst = <E extends WechatpayError, R>(queries: ReadonlyArray<Effect.Effect<unknown, E, R>>) =>
  Effect.map(Effect.all(queries.map(Effect.either), { concurrency: "unbounded" }), (results) => ({
    ok: results.filter(Either.isRight).length,
    errors: results.filter(Either.isLeft).map((r) => r.left)
  }))

/** How an error reads in an assertion: tag, status and code. */
const describeError = (e: WechatpayError) =>
  e._tag === "BusinessError" ? `${e._tag} ${e.status} ${e.code}` : e._tag

const tally = (errors: ReadonlyArray<WechatpayError>) => {
  const out: Record<string, number> = {}
  for (const e of errors) out[describeError(e)] = (out[describeError(e)] ?? 0) + 1
  return out
}

describe("the sandbox's rate limit, over real loopback HTTP and the wall clock", () => {
  it.live("rateLimit: 5 answers 5 of 12 concurrent lookups and 7 FREQUENCY_LIMITED, per route and per merchant", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      // a second merchant, signing with its own key: the sandbox knows only the first, so it answers
      // this one 401 SIGN_ERROR, but counts and limits it on its own
      const other = generateRsa()
      const otherSigner = yield* Signer.make({
        mchid: "1900000002",
        serialNo: "6157F09EFDC096DE15EBE81A47057A7232F1B8E2",
        privateKey: Redacted.make(other.privateKeyPem)
      })
      // connections and keys warmed up, then counts (and budgets) back to nothing
      yield* Effect.all([byOpenid(USERS[0]!), circle(USERS[0]!)], { concurrency: "unbounded" })
      yield* sandbox.resetRequestCounts
      assert.deepStrictEqual(yield* sandbox.requestCounts, [])

      yield* freshSecond
      const [openid, businessCircle, otherMerchant] = yield* Effect.all([
        burst(USERS.map(byOpenid)),
        burst(USERS.map(circle)),
        burst(USERS.slice(0, 8).map((u) => Effect.provideService(byOpenid(u), Signer.Signer, otherSigner)))
      ], { concurrency: "unbounded" })

      const counts = yield* sandbox.requestCounts
      const seconds = [...new Set(counts.map((c) => c.second))]
      assert.strictEqual(seconds.length, 1, `the burst stayed inside one second: ${JSON.stringify(counts)}`)
      assert.strictEqual(openid.ok, 5)
      assert.deepStrictEqual(tally(openid.errors), { "BusinessError 429 FREQUENCY_LIMITED": 7 })
      for (const e of openid.errors) {
        // signed like every other error answer, with WeChat's JSON error body
        assert.isTrue(e._tag === "BusinessError" && e.verified)
        assert.include(e._tag === "BusinessError" ? e.serverMessage : "", "频率超限")
      }
      // another route has a budget of its own
      assert.strictEqual(businessCircle.ok, 5)
      assert.deepStrictEqual(tally(businessCircle.errors), { "BusinessError 429 FREQUENCY_LIMITED": 7 })
      // and so has another merchant on the same route: 5 reach the signature check, 3 are limited
      assert.strictEqual(otherMerchant.ok, 0)
      assert.deepStrictEqual(tally(otherMerchant.errors), { "BusinessError 401 SIGN_ERROR": 5, "BusinessError 429 FREQUENCY_LIMITED": 3 })

      const second = seconds[0]!
      assert.approximately(second, Math.floor(Date.now() / 1000), 1)
      const mchid = sandbox.credentials.mchid
      assert.strictEqual(mchid, "1900000001")
      assert.deepStrictEqual(counts, [
        { route: "businesscircle.userAuthorization", mchid, second, count: 12, limited: 7 },
        { route: "payscore.openid", mchid, second, count: 12, limited: 7 },
        { route: "payscore.openid", mchid: "1900000002", second, count: 8, limited: 3 }
      ])

      // the admin route answers the same counts
      const viaAdmin = yield* Effect.promise(() =>
        fetch(`${sandbox.baseUrl}/sandbox/request-counts`).then((r) => r.json() as Promise<unknown>)
      )
      assert.deepStrictEqual(viaAdmin, counts)
      // the request log saw the 429s as well
      const statuses = (yield* sandbox.requests).map((r) => r.status)
      assert.strictEqual(statuses.filter((s) => s === 429).length, 17)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, rateLimit: 5, httpClient: Transport }))))
})

describe("the sandbox's rate limit, under TestClock", () => {
  it.effect("seconds are calendar seconds; a limited request does nothing; counts cover the last hour; reset", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const mchid = sandbox.credentials.mchid
      // t = 0 ms: two lookups by openid, the third limited; Business Circle has no limit
      yield* byOpenid(USERS[0]!)
      yield* byOpenid(USERS[1]!)
      const third = yield* Effect.flip(byOpenid(USERS[2]!))
      assert.strictEqual(describeError(third), "BusinessError 429 FREQUENCY_LIMITED")
      for (const u of USERS.slice(0, 5)) yield* circle(u)
      // a pre-authorization over the limit is never made: its code stays unknown
      yield* Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "CODE_A" } })
      const limited = yield* Effect.flip(
        Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "CODE_B" } })
      )
      assert.strictEqual(describeError(limited), "BusinessError 429 FREQUENCY_LIMITED")
      const unknown = yield* Effect.flip(
        Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CODE_B", params: { service_id: SERVICE_ID } })
      )
      assert.strictEqual(describeError(unknown), "BusinessError 404 ORDER_NOT_EXIST")

      // 999 ms: the same second, still limited; 1000 ms: a new second, a new budget
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(describeError(yield* Effect.flip(byOpenid(USERS[3]!))), "BusinessError 429 FREQUENCY_LIMITED")
      yield* TestClock.adjust("1 millis")
      yield* byOpenid(USERS[3]!)

      assert.deepStrictEqual(yield* sandbox.requestCounts, [
        { route: "businesscircle.userAuthorization", mchid, second: 0, count: 5, limited: 0 },
        { route: "payscore.apply", mchid, second: 0, count: 2, limited: 1 },
        { route: "payscore.authorizationCode", mchid, second: 0, count: 1, limited: 0 },
        { route: "payscore.openid", mchid, second: 0, count: 4, limited: 2 },
        { route: "payscore.openid", mchid, second: 1, count: 1, limited: 0 }
      ])

      // an hour on, second 0 is gone and second 1 is the oldest kept; a second later, nothing is
      yield* TestClock.adjust("3599 seconds")
      assert.deepStrictEqual(yield* sandbox.requestCounts, [
        { route: "payscore.openid", mchid, second: 1, count: 1, limited: 0 }
      ])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* sandbox.requestCounts, [])

      // reset forgets the counts and the current second's budget with them
      yield* byOpenid(USERS[4]!)
      yield* byOpenid(USERS[5]!)
      assert.strictEqual(describeError(yield* Effect.flip(byOpenid(USERS[6]!))), "BusinessError 429 FREQUENCY_LIMITED")
      yield* sandbox.resetRequestCounts
      yield* byOpenid(USERS[6]!)
      assert.deepStrictEqual(yield* sandbox.requestCounts, [
        { route: "payscore.openid", mchid, second: 3601, count: 1, limited: 0 }
      ])
    }).pipe(Effect.provide(Sandbox.layerTest({
      seed,
      rateLimit: { "payscore.openid": 2, "payscore.apply": 1 },
      httpClient: Transport
    }))))

  it.effect("without rateLimit nothing is limited, and every request to a route is counted, signed or not", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (const u of USERS) yield* byOpenid(u)
      // no Authorization at all: 401, counted under ""; the sandbox's own routes are not counted
      const status = yield* Effect.promise(() =>
        fetch(`${sandbox.baseUrl}/v3/payscore/permissions/openid/oUser1?service_id=${SERVICE_ID}&appid=${APPID}`).then((r) => r.status)
      )
      assert.strictEqual(status, 401)
      yield* Effect.promise(() => fetch(`${sandbox.baseUrl}/sandbox/notifications`).then((r) => r.text()))
      yield* Effect.promise(() => fetch(`${sandbox.baseUrl}/v3/nothing-here`).then((r) => r.text()))
      assert.deepStrictEqual(yield* sandbox.requestCounts, [
        { route: "payscore.openid", mchid: "", second: 0, count: 1, limited: 0 },
        { route: "payscore.openid", mchid: sandbox.credentials.mchid, second: 0, count: 12, limited: 0 }
      ])
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Transport }))))

  it.effect("a rateLimit that is not a whole number > 0, or names no route, is refused", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<Sandbox.Options["rateLimit"]> = [
        0,
        1.5,
        -1,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        { "payscore.openid": 0 },
        { "businesscircle.userAuthorization": 2.5 },
        { "payscore.nope": 1 } as unknown as Sandbox.Options["rateLimit"]
      ]
      for (const rateLimit of bad) {
        const exit = yield* Effect.exit(Effect.scoped(Sandbox.make({ rateLimit })))
        assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes("rateLimit"), JSON.stringify(rateLimit))
      }
    }))
})


const run = (args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number; readonly stderr: string }>((resume) => {
    execFile(process.execPath, [BIN, ...args], { env: cleanEnv(), timeout: 20_000 }, (error, _stdout, stderr) => {
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stderr }))
    })
  })

describe("effect-wechatpay sandbox --rate-limit (built bin as a child process)", () => {
  it.live("--rate-limit that is not a whole number > 0 is a usage error", () =>
    Effect.gen(function*() {
      const limits = ["0", "1.5", "-1", "many"]
      const runs = yield* Effect.forEach(limits, (limit) => run(["sandbox", "--rate-limit", limit]), { concurrency: "unbounded" })
      runs.forEach((r, i) => assert.strictEqual(r.code, 2, `${limits[i]}: ${r.stderr}`))
    }))

  it.live("--rate-limit 2 is printed and enforced; the counts are at /sandbox/request-counts", () =>
    Effect.gen(function*() {
      const { first } = yield* startCli(["sandbox", "--rate-limit", "2", "--json"])
      const started = JSON.parse(first) as { baseUrl: string; env: Record<string, string>; rateLimit: number | null }
      assert.strictEqual(started.rateLimit, 2)

      // configured only from what the command printed; no retries, so each 429 reaches the test
      const client = Layer.merge(
        Wechatpay.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(started.env)))))),
        Transport
      )
      const result = yield* Effect.gen(function*() {
        yield* freshSecond
        return yield* burst(USERS.slice(0, 3).map(circle))
      }).pipe(
        Effect.provideService(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false }),
        Effect.provide(client)
      )
      const counts = yield* Effect.promise(() =>
        fetch(`${started.baseUrl}/sandbox/request-counts`).then((r) => r.json() as Promise<ReadonlyArray<Sandbox.RequestCount>>)
      )
      assert.strictEqual(counts.length, 1, JSON.stringify(counts))
      assert.strictEqual(result.ok, 2)
      assert.deepStrictEqual(tally(result.errors), { "BusinessError 429 FREQUENCY_LIMITED": 1 })
      assert.deepInclude(counts[0], { route: "businesscircle.userAuthorization", mchid: started.env.WECHATPAY_MCHID, count: 3, limited: 1 })
    }).pipe(Effect.scoped), { timeout: 30_000 })
})

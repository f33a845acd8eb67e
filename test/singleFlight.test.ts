import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { BusinessCircle, Payscore } from "../src/index.js"
import { layerSingleFlight } from "../src/internal/singleFlight.js"
import { Sandbox } from "../src/sandbox/index.js"
import { eventually } from "./helpers/loopback.js"
import { APPID, makeWorld, SERVICE_ID } from "./helpers/world.js"

/**
 * Single-flight: identical GET lookups in flight at the same time share one
 * call and its answer; the call ends when the last caller waiting on it
 * leaves. Counted from WeChat Pay's side (the sandbox's request log).
 */

const seed: Sandbox.SeedData = {
  payscore: [{ service_id: SERVICE_ID, appid: APPID, openid: "oShared", authorization_code: "SHARED1" }],
  businessCircle: [{ appid: APPID, openid: "oShared", authorize_state: "AUTHORIZED" }]
}

const byOpenid = (openid: string) => Payscore.getPermissionsByOpenid({ openid, params: { service_id: SERVICE_ID, appid: APPID } })

/** How many requests of `route` the sandbox has received. */
const received = (route: Sandbox.Route) =>
  Effect.flatMap(Sandbox.Sandbox, (s) => Effect.map(s.requests, (rs) => rs.filter((r) => r.route === route).length))

/** The sandbox slow for its next answers, so that lookups overlap. */
const slow = (route: Sandbox.Route, times = 1) =>
  Effect.flatMap(Sandbox.Sandbox, (s) => s.injectFault({ fault: "Latency", route, latency: "300 millis", times }))

// real time: the sandbox is slow for real
layer(Sandbox.layerTest({ seed, httpClient: Transport }), { excludeTestServices: true })("single-flight against the sandbox", (it) => {
  it.effect("ten identical lookups at once, in both forms, make one call and get the same answer", () =>
    Effect.gen(function*() {
      yield* slow("payscore.openid")
      const before = yield* received("payscore.openid")
      const input = { openid: "oShared", params: { service_id: SERVICE_ID, appid: APPID } }
      const [records, responses] = yield* Effect.all([
        Effect.all(Array.from({ length: 5 }, () => Payscore.getPermissionsByOpenid(input)), { concurrency: "unbounded" }),
        Effect.all(Array.from({ length: 5 }, () => Payscore.getPermissionsByOpenidResponse(input)), { concurrency: "unbounded" })
      ], { concurrency: "unbounded" })
      assert.strictEqual((yield* received("payscore.openid")) - before, 1)
      for (const record of records) assert.deepStrictEqual(record, records[0])
      for (const response of responses) assert.strictEqual(response.data, records[0], "the very same decoded value")
      assert.strictEqual(new Set(responses.map((r) => r.requestId)).size, 1)
    }))

  it.effect("lookups from unrelated fibers share the call in flight; a typed error is shared too", () =>
    Effect.gen(function*() {
      yield* slow("businesscircle.userAuthorization")
      const before = yield* received("businesscircle.userAuthorization")
      const lookup = (openid: string) => BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } })
      const first = yield* Effect.fork(lookup("oShared"))
      yield* Effect.sleep("100 millis")
      const second = yield* Effect.fork(lookup("oShared"))
      assert.strictEqual((yield* Fiber.join(first)).authorize_state, "AUTHORIZED")
      assert.strictEqual((yield* Fiber.join(second)).authorize_state, "AUTHORIZED")
      assert.strictEqual((yield* received("businesscircle.userAuthorization")) - before, 1)
      yield* slow("payscore.authorizationCode")
      const codes = yield* received("payscore.authorizationCode")
      const unknown = Payscore.getPermissionsByAuthorizationCode({ authorization_code: "NOBODY", params: { service_id: SERVICE_ID } })
      const errors = yield* Effect.all(Array.from({ length: 4 }, () => Effect.flip(unknown)), { concurrency: "unbounded" })
      for (const error of errors) assert.strictEqual(error._tag === "BusinessError" && error.code, "ORDER_NOT_EXIST")
      assert.strictEqual((yield* received("payscore.authorizationCode")) - codes, 1)
    }))

  it.effect("nothing is kept: lookups one after the other, or of other users and endpoints, are calls of their own", () =>
    Effect.gen(function*() {
      const openid = yield* received("payscore.openid")
      const code = yield* received("payscore.authorizationCode")
      yield* byOpenid("oShared")
      yield* byOpenid("oShared")
      yield* Effect.all([
        byOpenid("oShared"),
        Effect.either(byOpenid("oOther")),
        Payscore.getPermissionsByAuthorizationCode({ authorization_code: "SHARED1", params: { service_id: SERVICE_ID } })
      ], { concurrency: "unbounded" })
      assert.strictEqual((yield* received("payscore.openid")) - openid, 4)
      assert.strictEqual((yield* received("payscore.authorizationCode")) - code, 1)
    }))

  it.effect("POSTs are never shared", () =>
    Effect.gen(function*() {
      yield* slow("payscore.apply", 3)
      const before = yield* received("payscore.apply")
      const apply = Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "TWICE1" } })
      yield* Effect.all(Array.from({ length: 3 }, () => apply), { concurrency: "unbounded" })
      assert.strictEqual((yield* received("payscore.apply")) - before, 3)
    }))

  it.effect("a caller interrupted while others wait does not cancel the call: they get the answer", () =>
    Effect.gen(function*() {
      yield* slow("payscore.openid")
      const before = yield* received("payscore.openid")
      const leaving = yield* Effect.fork(byOpenid("oShared"))
      const staying = yield* Effect.fork(byOpenid("oShared"))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(leaving)
      assert.strictEqual((yield* Fiber.join(staying)).authorization_state, "AVAILABLE")
      assert.strictEqual((yield* received("payscore.openid")) - before, 1)
    }))
})

describe("single-flight and interruption", () => {
  const world = makeWorld()

  it.live("the call is aborted when the last caller waiting on it leaves, not before", () => {
    const { interrupted, layer, requests } = world.fake(() => ({ hang: true }))
    return Effect.gen(function*() {
      const first = yield* Effect.fork(byOpenid("oHanging"))
      const second = yield* Effect.fork(byOpenid("oHanging"))
      assert.isTrue(yield* eventually(() => requests.length === 1))
      yield* Fiber.interrupt(first)
      yield* Effect.sleep("50 millis")
      assert.strictEqual(interrupted(), 0, "the second caller still waits on it")
      yield* Fiber.interrupt(second)
      assert.isTrue(yield* eventually(() => interrupted() === 1), "aborted once nobody waits")
      assert.strictEqual(requests.length, 1)
    }).pipe(Effect.provide(Layer.merge(layer, layerSingleFlight)))
  })
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Equal } from "effect"
import { Payscore } from "../src/index.js"
import { verifyAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, MCHID, OPENID, PUB_KEY_ID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()

const record = {
  service_id: SERVICE_ID,
  appid: APPID,
  mchid: MCHID,
  openid: OPENID,
  authorization_code: "1234323JKHDFE1243252",
  authorization_state: "AVAILABLE",
  cancel_authorization_time: "2015-05-20T13:29:35.120+08:00",
  authorization_success_time: "2015-05-20T13:29:35Z",
  user_risk_level: 1,
  risk_level_version: 2,
  some_future_field: { nested: true }
}

describe("Payscore.getPermissionsByOpenid", () => {
  it.effect("sends one signed GET with the exact URL and headers, and decodes the verified record", () => {
    const { requests, layer } = world.fake(() => ({ body: record }))
    return Effect.gen(function*() {
      const result = yield* Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } })
      assert.strictEqual(requests.length, 1)
      const request = requests[0]!
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(
        request.url,
        `https://api.mch.weixin.qq.com/v3/payscore/permissions/openid/${OPENID}?service_id=${SERVICE_ID}&appid=${APPID}`
      )
      assert.strictEqual(request.headers["accept"], "application/json")
      assert.match(request.headers["user-agent"]!, /^effect-wechatpay\/\d+\.\d+\.\d+ /)
      assert.strictEqual(request.headers["wechatpay-serial"], PUB_KEY_ID)
      assert.isTrue(verifyAuthorization(world.merchant.publicKey, request.headers["authorization"]!, "GET", request.pathAndQuery))
      assert.deepStrictEqual(Object.keys(request.headers).sort(), ["accept", "authorization", "user-agent", "wechatpay-serial"])

      assert.instanceOf(result, Payscore.PermissionsByOpenid)
      assert.strictEqual(result.authorization_state, "AVAILABLE")
      assert.strictEqual(result.cancel_authorization_time?.toISOString(), "2015-05-20T05:29:35.120Z")
      assert.strictEqual(result.authorization_success_time?.toISOString(), "2015-05-20T13:29:35.000Z")
      assert.strictEqual(result.user_risk_level, 1)
      assert.strictEqual(result.risk_level_version, 2)
      assert.notProperty(result, "some_future_field")
    }).pipe(Effect.provide(layer))
  })

  it.effect("the full response carries status, Request-ID and headers; `.data` and the query give its record", () => {
    const { layer, requests } = world.fake(() => ({ body: record }))
    const input = { openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }
    return Effect.gen(function*() {
      const response = yield* Payscore.getPermissionsByOpenidResponse(input)
      const data = yield* Payscore.getPermissionsByOpenidResponse.data(input)
      const query = yield* Payscore.getPermissionsByOpenid(input)
      assert.strictEqual(response.status, 200)
      assert.isString(response.requestId)
      assert.strictEqual(response.headers["request-id"], response.requestId)
      assert.instanceOf(data, Payscore.PermissionsByOpenid)
      assert.isTrue(Equal.equals(response.data, data))
      assert.isTrue(Equal.equals(query, data))
      assert.strictEqual(requests.length, 3)
    }).pipe(Effect.provide(layer))
  })

  it.effect("optional fields may be absent; authorization_state may not", () => {
    const minimal = { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "UNBINDUSER" }
    const ok = world.fake(() => ({ body: minimal }))
    const missing = world.fake(() => ({ body: { service_id: SERVICE_ID, appid: APPID, mchid: MCHID } }))
    const input = { openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }
    return Effect.gen(function*() {
      const result = yield* Payscore.getPermissionsByOpenid(input).pipe(Effect.provide(ok.layer))
      assert.strictEqual(result.authorization_state, "UNBINDUSER")
      assert.isUndefined(result.openid)
      const error = yield* Effect.flip(Payscore.getPermissionsByOpenid(input).pipe(Effect.provide(missing.layer)))
      assert.strictEqual(error._tag, "DecodeError")
      if (error._tag === "DecodeError") {
        assert.include(error.description, "authorization_state")
        assert.isDefined(error.requestId)
      }
    })
  })
})

describe("Payscore.getPermissionsByAuthorizationCode", () => {
  it.effect("uses the hyphenated path segment and only service_id", () => {
    const { requests, layer } = world.fake(() => ({
      body: {
        service_id: SERVICE_ID,
        appid: APPID,
        mchid: MCHID,
        authorization_code: "ab_c-d*e|f",
        authorization_state: "UNAVAILABLE",
        notify_url: "https://example.com/notify",
        cancel_authorization_time: "2015-05-20T13:29:35+08:00"
      }
    }))
    return Effect.gen(function*() {
      const result = yield* Payscore.getPermissionsByAuthorizationCode({
        authorization_code: "ab_c-d*e|f",
        params: { service_id: SERVICE_ID }
      })
      const request = requests[0]!
      assert.strictEqual(
        request.url,
        `https://api.mch.weixin.qq.com/v3/payscore/permissions/authorization-code/ab_c-d*e%7Cf?service_id=${SERVICE_ID}`
      )
      assert.isTrue(verifyAuthorization(world.merchant.publicKey, request.headers["authorization"]!, "GET", request.pathAndQuery))
      assert.strictEqual(result.authorization_state, "UNAVAILABLE")
      assert.strictEqual(result.notify_url, "https://example.com/notify")
      assert.strictEqual(result.cancel_authorization_time?.toISOString(), "2015-05-20T05:29:35.000Z")
    }).pipe(Effect.provide(layer))
  })
})

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BusinessCircle } from "../src/index.js"
import { verifyAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, OPENID } from "./helpers/world.js"

const world = makeWorld()

describe("BusinessCircle.getUserAuthorization", () => {
  it.effect("merchant mode: appid only, sub_mchid left out", () => {
    const { requests, layer } = world.fake(() => ({
      body: { openid: OPENID, authorize_state: "AUTHORIZED", authorize_time: "2020-06-01T10:00:00+08:00" }
    }))
    return Effect.gen(function*() {
      const result = yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })
      const request = requests[0]!
      assert.strictEqual(request.url, `https://api.mch.weixin.qq.com/v3/businesscircle/user-authorizations/${OPENID}?appid=${APPID}`)
      assert.isTrue(verifyAuthorization(world.merchant.publicKey, request.headers["authorization"]!, "GET", request.pathAndQuery))
      assert.instanceOf(result, BusinessCircle.UserAuthorization)
      assert.strictEqual(result.authorize_state, "AUTHORIZED")
      assert.strictEqual(result.authorize_time?.toISOString(), "2020-06-01T02:00:00.000Z")
      assert.isUndefined(result.deauthorize_time)
    }).pipe(Effect.provide(layer))
  })

  it.effect("partner mode: appid then sub_mchid, in that order; undefined sub_mchid is omitted", () => {
    const { requests, layer } = world.fake(() => ({ body: { openid: OPENID, authorize_state: "DEAUTHORIZED" } }))
    return Effect.gen(function*() {
      yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { sub_mchid: "1900000109", appid: APPID } })
      yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID, sub_mchid: undefined } })
      assert.strictEqual(requests[0]!.pathAndQuery, `/v3/businesscircle/user-authorizations/${OPENID}?appid=${APPID}&sub_mchid=1900000109`)
      assert.strictEqual(requests[1]!.pathAndQuery, `/v3/businesscircle/user-authorizations/${OPENID}?appid=${APPID}`)
      for (const r of requests) {
        assert.isTrue(verifyAuthorization(world.merchant.publicKey, r.headers["authorization"]!, "GET", r.pathAndQuery))
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("UNAUTHORIZED with times present decodes (times may come with any state)", () => {
    const { layer } = world.fake(() => ({
      body: {
        openid: OPENID,
        authorize_state: "UNAUTHORIZED",
        authorize_time: "2020-06-01T10:00:00.5+08:00",
        deauthorize_time: "2020-07-01T10:00:00Z"
      }
    }))
    return Effect.gen(function*() {
      const result = yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })
      assert.strictEqual(result.authorize_state, "UNAUTHORIZED")
      assert.strictEqual(result.deauthorize_time?.toISOString(), "2020-07-01T10:00:00.000Z")
    }).pipe(Effect.provide(layer))
  })
})

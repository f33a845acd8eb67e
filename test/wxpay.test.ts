import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { wxpay, Wechatpay } from "../src/index.js"
import { APPID, makeWorld, MCHID, OPENID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()

describe("the seed call form", () => {
  it.effect("wxpay.v3.payscore.permissions.openid._openid_.get destructures like the seed's .then", () => {
    const { layer } = world.fake(() => ({
      body: { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, openid: OPENID, authorization_state: "AVAILABLE" }
    }))
    const openid = OPENID
    const params = { service_id: SERVICE_ID, appid: APPID }
    return wxpay.v3.payscore.permissions.openid._openid_.get({ openid, params }).pipe(
      Effect.map(({ data: { service_id, appid, mchid, openid, authorization_state }, status, requestId, headers }) => {
        assert.deepStrictEqual({ service_id, appid, mchid, openid, authorization_state }, {
          service_id: SERVICE_ID,
          appid: APPID,
          mchid: MCHID,
          openid: OPENID,
          authorization_state: "AVAILABLE"
        })
        assert.strictEqual(status, 200)
        assert.isDefined(requestId)
        assert.strictEqual(headers["request-id"], requestId)
      }),
      Effect.provide(layer)
    )
  })

  it.effect("authorizationCode and businesscircle forms hit their endpoints", () => {
    const { requests, layer } = world.fake((r) => ({
      body: r.pathAndQuery.startsWith("/v3/businesscircle")
        ? { openid: OPENID, authorize_state: "AUTHORIZED" }
        : { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_code: "AC1", authorization_state: "AVAILABLE" }
    }))
    return Effect.gen(function*() {
      const a = yield* wxpay.v3.payscore.permissions.authorizationCode._authorization_code_.get({
        authorization_code: "AC1",
        params: { service_id: SERVICE_ID }
      })
      const b = yield* wxpay.v3.businesscircle.userAuthorizations._openid_.get({ openid: OPENID, params: { appid: APPID } })
      assert.strictEqual(a.data.authorization_code, "AC1")
      assert.strictEqual(b.data.authorize_state, "AUTHORIZED")
      assert.deepStrictEqual(requests.map((r) => r.pathAndQuery), [
        `/v3/payscore/permissions/authorization-code/AC1?service_id=${SERVICE_ID}`,
        `/v3/businesscircle/user-authorizations/${OPENID}?appid=${APPID}`
      ])
    }).pipe(Effect.provide(layer))
  })
})

describe("Wechatpay.get (any APIv3 GET)", () => {
  const Certificates = Schema.Struct({ data: Schema.Array(Schema.Struct({ serial_no: Schema.String })) })

  it.effect("signs and verifies an endpoint the library does not wrap, query in the given order", () => {
    const { requests, layer } = world.fake(() => ({ body: { data: [{ serial_no: "ABC" }] } }))
    return Effect.gen(function*() {
      const response = yield* Wechatpay.get(Wechatpay.path`/v3/merchant/${"a b/c"}`, {
        query: [["z", "1"], ["a", "x&y=z"], ["skip", undefined]],
        schema: Certificates
      })
      assert.deepStrictEqual(response.data, { data: [{ serial_no: "ABC" }] })
      assert.strictEqual(requests[0]!.pathAndQuery, "/v3/merchant/a%20b%2Fc?z=1&a=x%26y%3Dz")
    }).pipe(Effect.provide(layer))
  })

  it.effect("rejects paths outside /v3, traversal, queries in the path and bad parameter names, sending nothing", () => {
    const { requests, layer } = world.fake(() => ({ body: {} }))
    return Effect.gen(function*() {
      for (const path of ["/v2/x", "v3/x", "/v3/../v2", "/v3/a?b=c", "/v3/a#f", "/v3//a", "/v3/a b", "/v3/./a", "https://evil/v3/x"]) {
        const error = yield* Effect.flip(Wechatpay.get(path, { schema: Certificates }))
        assert.strictEqual(error._tag === "InvalidRequestError" && error.field, "path", path)
      }
      const error = yield* Effect.flip(Wechatpay.get("/v3/certificates", { query: { "a&b": "1" }, schema: Certificates }))
      assert.strictEqual(error._tag === "InvalidRequestError" && error.field, "query")
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it("Wechatpay.path keeps every value inside its segment", () => {
    assert.strictEqual(Wechatpay.path`/v3/a/${".."}/b/${"."}`, "/v3/a/%2E%2E/b/%2E")
    assert.strictEqual(Wechatpay.path`/v3/a/${"x/../y?z#w"}`, "/v3/a/x%2F..%2Fy%3Fz%23w")
  })
})

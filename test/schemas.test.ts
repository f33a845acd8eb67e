import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as FastCheck from "effect/FastCheck"
import { BusinessCircle, Payscore, Schemas, Wechatpay } from "../src/index.js"
import { verifyAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, MCHID, SERVICE_ID } from "./helpers/world.js"

const decodeDate = Schema.decodeUnknownEither(Schemas.DateTimeRfc3339)

describe("DateTimeRfc3339", () => {
  it("accepts RFC 3339 with or without fractions, with Z or an offset", () => {
    const cases: Array<[string, string]> = [
      ["2015-05-20T13:29:35.120+08:00", "2015-05-20T05:29:35.120Z"],
      ["2015-05-20T13:29:35+08:00", "2015-05-20T05:29:35.000Z"],
      ["2015-05-20T13:29:35Z", "2015-05-20T13:29:35.000Z"],
      ["2015-05-20T13:29:35.5-03:30", "2015-05-20T16:59:35.500Z"],
      ["2016-02-29T00:00:00Z", "2016-02-29T00:00:00.000Z"],
      ["2015-05-20t13:29:35z", "2015-05-20T13:29:35.000Z"]
    ]
    for (const [text, iso] of cases) {
      const result = decodeDate(text)
      assert.isTrue(Either.isRight(result), text)
      if (Either.isRight(result)) assert.strictEqual(result.right.toISOString(), iso)
    }
  })

  it("rejects what Schema.DateFromString would let through", () => {
    for (
      const text of [
        "yesterday",
        "2015-05-20",
        "2015-05-20T13:29:35",
        "2015-02-30T00:00:00Z",
        "2015-02-29T00:00:00Z",
        "2015-05-20T24:00:00Z",
        "2015-05-20T13:60:00Z",
        "2015-05-20T13:29:35+24:00",
        "2015-13-01T00:00:00Z",
        "Wed May 20 2015",
        " 2015-05-20T13:29:35Z",
        ""
      ]
    ) {
      assert.isTrue(Either.isLeft(decodeDate(text)), text)
    }
  })

  it("encodes only dates with a four-digit year: there is no RFC 3339 form for others", () => {
    const encode = Schema.encodeEither(Schemas.DateTimeRfc3339)
    assert.deepStrictEqual(encode(new Date("0000-01-01T00:00:00.000Z")), Either.right("0000-01-01T00:00:00.000Z"))
    assert.deepStrictEqual(encode(new Date("9999-12-31T23:59:59.999Z")), Either.right("9999-12-31T23:59:59.999Z"))
    assert.isTrue(Either.isLeft(encode(new Date(Date.UTC(10000, 0, 1)))))
    assert.isTrue(Either.isLeft(encode(new Date(Date.UTC(-1, 11, 31)))))
  })

  it.prop("round-trips any date with a four-digit year through its ISO encoding", [FastCheck.date({ min: new Date("0000-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })], ([date]) => {
    const iso = Schema.encodeSync(Schemas.DateTimeRfc3339)(date)
    const back = decodeDate(iso)
    assert.isTrue(Either.isRight(back) && back.right.getTime() === date.getTime())
  })

  it.prop("never throws on arbitrary text", [FastCheck.string({ unit: "binary", maxLength: 40 })], ([text]) => {
    decodeDate(text)
  })
})

describe("response schemas", () => {
  it("tolerate unknown fields and null optionals", () => {
    const decoded = Schema.decodeUnknownSync(Payscore.PermissionsByOpenid)({
      service_id: SERVICE_ID,
      appid: APPID,
      mchid: MCHID,
      authorization_state: "AVAILABLE",
      openid: null,
      brand_new_field: [1, 2, 3]
    })
    assert.isUndefined(decoded.openid)
  })

  it("reject non-integer risk levels and unknown enum values", () => {
    const base = { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "AVAILABLE" }
    const decode = Schema.decodeUnknownEither(Payscore.PermissionsByOpenid)
    assert.isTrue(Either.isLeft(decode({ ...base, user_risk_level: 1.5 })))
    assert.isTrue(Either.isLeft(decode({ ...base, authorization_state: "available" })))
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(BusinessCircle.UserAuthorization)({ openid: "o", authorize_state: "PENDING" })))
  })
})

const world = makeWorld()

describe("path parameters can never leave their segment", () => {
  it.effect.prop(
    "any unicode openid is either rejected before sending or sent as exactly one segment",
    [FastCheck.string({ unit: "binary", maxLength: 140 })],
    ([openid]) => {
      const { requests, layer } = world.fake(() => ({ body: { openid: "x", authorize_state: "AUTHORIZED" } }))
      return Effect.gen(function*() {
        const result = yield* Effect.either(BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } }))
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "InvalidRequestError")
          assert.strictEqual(requests.length, 0)
        } else {
          assert.strictEqual(requests.length, 1)
          const url = new URL(requests[0]!.url)
          assert.strictEqual(url.pathname, `/v3/businesscircle/user-authorizations/${openid}`)
          assert.strictEqual(url.search, `?appid=${APPID}`)
        }
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop("Wechatpay.path: any text but '.' and '..' decodes back from exactly one segment", [FastCheck.string({ unit: "grapheme" })], ([text]) => {
    if (text === "." || text === "..") return
    const url = new URL("https://api.mch.weixin.qq.com" + Wechatpay.path`/v3/a/${text}/b`)
    const segments = url.pathname.split("/")
    assert.strictEqual(segments.length, 5)
    assert.strictEqual(segments[4], "b")
    assert.strictEqual(decodeURIComponent(segments[3]!), text)
  })

  it.effect("'.' and '..' segments (plain or percent-encoded) are refused before sending, also by endpoints", () => {
    const { requests, layer } = world.fake(() => ({ body: {} }))
    const lax = Wechatpay.endpoint({
      name: "Test.lax",
      request: Schema.String,
      url: (segment) => Wechatpay.path`/v3/things/${segment}`,
      response: Schema.Unknown
    })
    return Effect.gen(function*() {
      for (const segment of [".", ".."]) {
        const viaGet = yield* Effect.flip(Wechatpay.get(Wechatpay.path`/v3/a/${segment}/b`, { schema: Schema.Unknown }))
        assert.strictEqual(viaGet._tag === "InvalidRequestError" && viaGet.field, "path")
        const viaEndpoint = yield* Effect.flip(lax(segment))
        assert.strictEqual(viaEndpoint._tag === "InvalidRequestError" && viaEndpoint.field, "path")
      }
      for (const path of ["/v3/a/%2e/b", "/v3/a/%2E%2e", "/v3/a/.%2E/b"]) {
        const error = yield* Effect.flip(Wechatpay.get(path, { schema: Schema.Unknown }))
        assert.strictEqual(error._tag === "InvalidRequestError" && error.field, "path", path)
      }
      yield* lax("a.b")
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(requests[0]!.pathAndQuery, "/v3/things/a.b")
    }).pipe(Effect.provide(layer))
  })

  it("Wechatpay.path and query do not throw on lone surrogates", () => {
    assert.strictEqual(Wechatpay.path`/v3/a/${"x\uD800"}`, "/v3/a/x%EF%BF%BD")
    assert.strictEqual(Wechatpay.query([["k", "\uDC00"]]), "?k=%EF%BF%BD")
  })

  it.effect.prop(
    "valid openids always go through, unchanged",
    [FastCheck.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)],
    ([openid]) => {
      const { requests, layer } = world.fake(() => ({ body: { openid, authorize_state: "AUTHORIZED" } }))
      return Effect.gen(function*() {
        const result = yield* BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } })
        assert.strictEqual(result.openid, openid)
        assert.strictEqual(requests[0]!.pathAndQuery, `/v3/businesscircle/user-authorizations/${openid}?appid=${APPID}`)
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 100 } }
  )
})

describe("the URL sent is the URL signed, for any path segment or query value", () => {
  const Anything = Schema.Unknown

  it.effect.prop(
    "Wechatpay.get with arbitrary text in a segment and in query values",
    [FastCheck.string({ unit: "grapheme", maxLength: 30 }), FastCheck.string({ unit: "grapheme", maxLength: 30 })],
    ([segment, value]) => {
      const { requests, layer } = world.fake(() => ({ body: {} }))
      return Effect.gen(function*() {
        const result = yield* Effect.either(
          Wechatpay.get(Wechatpay.path`/v3/things/${segment}`, { query: [["q", value], ["r", "x'y(z)!*"]], schema: Anything })
        )
        if (Either.isLeft(result)) {
          // only segments no URL can carry are refused, and nothing is sent
          assert.include(["", ".", ".."], segment)
          assert.strictEqual(result.left._tag, "InvalidRequestError")
          assert.strictEqual(requests.length, 0)
          return
        }
        const sent = requests[0]!
        // what the transport sent (after its URL parsing) verifies against the Authorization header
        assert.isTrue(verifyAuthorization(world.merchant.publicKey, sent.headers["authorization"]!, "GET", sent.pathAndQuery))
        const url = new URL(sent.url)
        assert.strictEqual(decodeURIComponent(url.pathname.split("/")[3]!), segment)
        assert.strictEqual(url.searchParams.get("q"), value)
        assert.strictEqual(url.searchParams.get("r"), "x'y(z)!*")
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 150 } }
  )
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as TestClock from "effect/TestClock"
import { BusinessCircle, Payscore, Wechatpay } from "../src/index.js"
import type { Reply } from "./helpers/fakeWechat.js"
import { recordingTracer } from "./helpers/tracer.js"
import { APPID, makeWorld, MCHID, OPENID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const okBody = { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "AVAILABLE" }
const input = { openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }

/** Runs the openid query against a fake that always gives `reply`, returns the error. */
const failWith = (reply: Reply) => {
  const { requests, layer } = world.fake(() => reply)
  return Effect.flip(Payscore.getPermissionsByOpenid(input)).pipe(
    Effect.provide(layer),
    Effect.map((error) => ({ error, requests }))
  )
}

const orderNotExist = { code: "ORDER_NOT_EXIST", message: "无授权记录" }

describe("response verification through the pipeline", () => {
  it.effect("a tampered 2xx body is a SignatureError(InvalidSignature) with the Request-ID", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({
        body: { ...okBody, authorization_state: "AVAILABLE" },
        sign: { signedBody: JSON.stringify({ ...okBody, authorization_state: "UNAVAILABLE" }) }
      })
      assert.strictEqual(error._tag, "SignatureError")
      if (error._tag !== "SignatureError") return
      assert.strictEqual(error.reason, "InvalidSignature")
      assert.strictEqual(error.status, 200)
      assert.match(error.requestId!, /-TEST$/)
      assert.strictEqual(error.path, `/v3/payscore/permissions/openid/${OPENID}?service_id=${SERVICE_ID}&appid=${APPID}`)
    }))

  it.effect("a swapped serial is UnknownSerial", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ body: okBody, sign: { serial: "PUB_KEY_ID_0000000000000000000000000000" } })
      assert.strictEqual(error._tag === "SignatureError" && error.reason, "UnknownSerial")
    }))

  it.effect("a stale and a future response timestamp (TestClock) are TimestampSkew", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const stale = yield* failWith({ body: okBody, sign: { timestampOffset: -301 } })
      assert.strictEqual(stale.error._tag === "SignatureError" && stale.error.reason, "TimestampSkew")
      const future = yield* failWith({ body: okBody, sign: { timestampOffset: 301 } })
      assert.strictEqual(future.error._tag === "SignatureError" && future.error.reason, "TimestampSkew")
    }))

  it.effect("the WECHATPAY/SIGNTEST/ probe is a SignatureError(MalformedSignature)", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ body: okBody, sign: { signature: "WECHATPAY/SIGNTEST/OGJQbU9XTkdDUk9TUw==" } })
      assert.strictEqual(error._tag === "SignatureError" && error.reason, "MalformedSignature")
    }))

  it.effect("a 2xx without signature headers is refused as MissingHeaders", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ body: okBody, sign: false })
      assert.strictEqual(error._tag === "SignatureError" && error.reason, "MissingHeaders")
      assert.include(error.message, "Wechatpay-Signature")
    }))

  it.effect("a 2xx with an unsupported signature type is refused", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ body: okBody, sign: { signatureType: "WECHATPAY2-SM2-WITH-SM3" } })
      assert.strictEqual(error._tag === "SignatureError" && error.reason, "UnsupportedSignatureType")
    }))
})

describe("business errors", () => {
  it.effect("404 ORDER_NOT_EXIST with signature headers: verified BusinessError with code, message and Request-ID", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ status: 404, body: orderNotExist })
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.status, 404)
      assert.strictEqual(error.code, "ORDER_NOT_EXIST")
      assert.strictEqual(error.serverMessage, "无授权记录")
      assert.isTrue(error.verified)
      assert.isFalse(error.retryable)
      assert.isDefined(error.requestId)
      assert.include(error.message, "ORDER_NOT_EXIST")
      assert.include(error.message, error.requestId!)
    }))

  it.effect("404 ORDER_NOT_EXIST without signature headers: unverified BusinessError, not a SignatureError", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ status: 404, body: orderNotExist, sign: false })
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.code, "ORDER_NOT_EXIST")
      assert.isFalse(error.verified)
      assert.include(error.message, "unverified")
    }))

  it.effect("an error response whose signature does not verify is a SignatureError", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ status: 404, body: orderNotExist, sign: { signedBody: "{}" } })
      assert.strictEqual(error._tag === "SignatureError" && error.reason, "InvalidSignature")
      assert.strictEqual(error._tag === "SignatureError" && error.status, 404)
    }))

  it.effect("400 PARAM_ERROR keeps WeChat's detail", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({
        status: 400,
        body: {
          code: "PARAM_ERROR",
          message: "参数错误",
          detail: { field: "/appid", value: "wx", issue: "appid与mchid不匹配", location: "query" }
        }
      })
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.deepStrictEqual(error.detail, { field: "/appid", value: "wx", issue: "appid与mchid不匹配", location: "query" })
      assert.include(error.message, "field /appid")
    }))

  it.effect("500 with an HTML gateway page is a retryable BusinessError with a body excerpt", () =>
    Effect.gen(function*() {
      const html = "<html><body><h1>502 Bad Gateway</h1>" + "x".repeat(1000) + "</body></html>"
      const { error } = yield* failWith({ status: 500, body: html, sign: false, headers: { "content-type": "text/html" } })
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.isUndefined(error.code)
      assert.isTrue(error.retryable)
      assert.isTrue(error.body!.startsWith("<html>"))
      assert.isBelow(error.body!.length, 300)
      assert.include(error.message, "non-JSON")
    }))

  it.effect("429 with an empty body is a retryable BusinessError", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ status: 429, body: "", sign: false })
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.isTrue(error.retryable)
      assert.include(error.message, "empty error body")
    }))
})

describe("decode and transport failures", () => {
  it.effect("malformed JSON on a verified 200 is a DecodeError", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ body: "{\"service_id\": \"500001\",", headers: {} })
      assert.strictEqual(error._tag, "DecodeError")
      if (error._tag !== "DecodeError") return
      assert.strictEqual(error.description, "body is not JSON")
      assert.isDefined(error.requestId)
    }))

  it.effect("an unknown enum value or an invalid time is a DecodeError naming the field", () =>
    Effect.gen(function*() {
      const state = yield* failWith({ body: { ...okBody, authorization_state: "MAYBE" } })
      assert.strictEqual(state.error._tag, "DecodeError")
      assert.include(state.error._tag === "DecodeError" ? state.error.description : "", "authorization_state")
      const time = yield* failWith({ body: { ...okBody, authorization_success_time: "yesterday" } })
      assert.include(time.error._tag === "DecodeError" ? time.error.description : "", "authorization_success_time")
    }))

  it.effect("a transport failure is a NetworkError(Transport)", () =>
    Effect.gen(function*() {
      const { error } = yield* failWith({ transportFailure: true })
      assert.strictEqual(error._tag, "NetworkError")
      if (error._tag !== "NetworkError") return
      assert.strictEqual(error.reason, "Transport")
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.effect("an unusable base URL is a NetworkError(InvalidUrl)", () => {
    const { requests, layer } = world.fake(() => ({ body: okBody }))
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Payscore.getPermissionsByOpenid(input))
      assert.strictEqual(error._tag === "NetworkError" && error.reason, "InvalidUrl")
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.BaseUrl, "not a url"))))
  })
})

describe("input validation: nothing is sent for bad input", () => {
  const bad: Array<[string, unknown, string]> = [
    ["../x", { openid: "../x", params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["a/b", { openid: "a/b", params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["a?b=c", { openid: "a?b=c", params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["empty openid", { openid: "", params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["200 chars", { openid: "o".repeat(200), params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["unicode", { openid: "о犬", params: { service_id: SERVICE_ID, appid: APPID } }, "openid"],
    ["missing appid", { openid: OPENID, params: { service_id: SERVICE_ID } }, "params.appid"],
    ["bad service_id", { openid: OPENID, params: { service_id: "5 0", appid: APPID } }, "params.service_id"],
    ["no params", { openid: OPENID }, "params"],
    ["not an object", undefined, "input"]
  ]
  for (const [name, value, field] of bad) {
    it.effect(`${name} → InvalidRequestError(${field}), no request`, () => {
      const { requests, layer } = world.fake(() => ({ body: okBody }))
      return Effect.gen(function*() {
        const error = yield* Effect.flip(Payscore.getPermissionsByOpenid(value as typeof input))
        assert.strictEqual(error._tag, "InvalidRequestError")
        if (error._tag !== "InvalidRequestError") return
        assert.strictEqual(error.field, field)
        assert.strictEqual(error.operation, "Payscore.getPermissionsByOpenid")
        assert.strictEqual(requests.length, 0)
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("openid length limits differ per endpoint: 128 for Pay Score, 64 for Business Circle", () => {
    const { requests, layer } = world.fake(() => ({ body: { openid: "x", authorize_state: "UNAUTHORIZED" } }))
    return Effect.gen(function*() {
      const error = yield* Effect.flip(BusinessCircle.getUserAuthorization({ openid: "o".repeat(65), params: { appid: APPID } }))
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "at most 64")
      yield* BusinessCircle.getUserAuthorization({ openid: "o".repeat(64), params: { appid: APPID } })
      const code = yield* Effect.flip(Payscore.getPermissionsByAuthorizationCode({ authorization_code: "c".repeat(33), params: { service_id: SERVICE_ID } }))
      assert.strictEqual(code._tag, "InvalidRequestError")
      const sub = yield* Effect.flip(BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID, sub_mchid: "12ab" } }))
      assert.strictEqual(sub._tag === "InvalidRequestError" && sub.field, "params.sub_mchid")
      assert.strictEqual(requests.length, 1)
    }).pipe(Effect.provide(layer))
  })
})

describe("spans", () => {
  it.effect("with a tracer installed, each query is a span named after it, carrying path, status and Request-ID", () => {
    const { layer } = world.fake((r) => ({
      body: r.pathAndQuery.startsWith("/v3/businesscircle") ? { openid: OPENID, authorize_state: "AUTHORIZED" } : okBody
    }))
    const { spans, tracer } = recordingTracer()
    return Effect.gen(function*() {
      yield* Effect.withSpan(Payscore.getPermissionsByOpenid(input), "caller")
      yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })
      // the attributes go on the query's own span, not on the caller's
      assert.isFalse(spans.find((s) => s.name === "caller")!.attributes.has("wechatpay.path"))
      const names = spans.map((s) => s.name)
      assert.include(names, "Payscore.getPermissionsByOpenid")
      assert.include(names, "BusinessCircle.getUserAuthorization")
      const span = spans.find((s) => s.name === "Payscore.getPermissionsByOpenid")!
      assert.strictEqual(span.attributes.get("http.response.status_code"), 200)
      assert.match(String(span.attributes.get("wechatpay.request_id")), /-TEST$/)
      assert.strictEqual(span.attributes.get("wechatpay.path"), `/v3/payscore/permissions/openid/${OPENID}?service_id=${SERVICE_ID}&appid=${APPID}`)
      assert.strictEqual(span.status._tag, "Ended")
    }).pipe(Effect.provide(layer), Effect.withTracer(tracer))
  })

  it.effect("the caller's own span is left alone: the current span after a lookup is the caller's, without the query's attributes", () => {
    const { layer } = world.fake(() => ({ body: okBody }))
    return Effect.gen(function*() {
      const caller = yield* Effect.withSpan(
        Effect.zipRight(Payscore.getPermissionsByOpenid(input), Effect.currentSpan),
        "caller"
      )
      assert.strictEqual(caller.name, "caller")
      assert.isFalse(caller.attributes.has("wechatpay.path"))
    }).pipe(Effect.provide(layer))
  })

  it.effect("with tracing turned off, no span is made", () => {
    const { layer } = world.fake(() => ({ body: okBody }))
    return Effect.gen(function*() {
      const result = yield* Payscore.getPermissionsByOpenid(input).pipe(Effect.zip(Effect.currentSpan.pipe(Effect.option)))
      assert.strictEqual(result[1]._tag, "None")
    }).pipe(Effect.provide(Layer.merge(layer, Layer.setTracerEnabled(false))))
  })
})

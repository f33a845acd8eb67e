import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as crypto from "node:crypto"
import { Payscore, Wechatpay, wxpay } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { parseAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, OPENID, SERVICE_ID } from "./helpers/world.js"

/** The write side of Pay Score authorizations: pre-authorization and termination. */

const world = makeWorld()
const CODE = "4554ZJ09WV5F4A03G9U8"

/** The request signature checked by hand: the five lines, the exact body bytes sent. */
const verifiesIndependently = (r: { method: string; pathAndQuery: string; headers: Record<string, string>; body: string }) => {
  const a = parseAuthorization(r.headers["authorization"]!)!
  const message = `${r.method}\n${r.pathAndQuery}\n${a.timestamp}\n${a.nonce}\n${r.body}\n`
  return crypto.verify("sha256", Buffer.from(message, "utf8"), world.merchant.publicKey, Buffer.from(a.signature, "base64"))
}

describe("signed POSTs against a recording transport", () => {
  it.effect("applyPermissions POSTs the JSON body it signs, with Content-Type application/json", () => {
    const { requests, layer } = world.fake(() => ({ body: { apply_permissions_token: "TOKEN-1" } }))
    return Effect.gen(function*() {
      const result = yield* Payscore.applyPermissions({
        data: { service_id: SERVICE_ID, appid: APPID, authorization_code: CODE, notify_url: "https://merchant.example.com/notify" }
      })
      assert.strictEqual(result.apply_permissions_token, "TOKEN-1")
      const [sent] = requests
      assert.strictEqual(sent!.method, "POST")
      assert.strictEqual(sent!.pathAndQuery, "/v3/payscore/permissions")
      assert.strictEqual(sent!.headers["content-type"], "application/json")
      assert.deepStrictEqual(JSON.parse(sent!.body), {
        service_id: SERVICE_ID,
        appid: APPID,
        authorization_code: CODE,
        notify_url: "https://merchant.example.com/notify"
      })
      assert.isTrue(verifiesIndependently(sent!))
    }).pipe(Effect.provide(layer))
  })

  it.effect("the body signed is the body sent, byte for byte, Chinese text included; extra input keys are not sent", () => {
    const { requests, layer } = world.fake(() => ({ status: 204, body: "" }))
    return Effect.gen(function*() {
      yield* Payscore.terminatePermissionsByOpenid({
        openid: OPENID,
        data: { service_id: SERVICE_ID, appid: APPID, reason: "用户注销，解除授权", extra: "dropped" } as never
      })
      const [sent] = requests
      assert.strictEqual(sent!.pathAndQuery, `/v3/payscore/permissions/openid/${OPENID}/terminate`)
      assert.deepStrictEqual(JSON.parse(sent!.body), { service_id: SERVICE_ID, appid: APPID, reason: "用户注销，解除授权" })
      assert.isTrue(verifiesIndependently(sent!))
    }).pipe(Effect.provide(layer))
  })

  it.effect("a signed 204 is success: void, and status 204 in the …Response form", () => {
    const { layer } = world.fake(() => ({ status: 204, body: "" }))
    return Effect.gen(function*() {
      const input = { authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "closed" } }
      assert.isUndefined(yield* Payscore.terminatePermissionsByAuthorizationCode(input))
      const response = yield* Payscore.terminatePermissionsByAuthorizationCodeResponse(input)
      assert.strictEqual(response.status, 204)
      assert.isDefined(response.requestId)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a 204 whose signature does not verify, or that is unsigned, is a SignatureError", () =>
    Effect.gen(function*() {
      const input = { authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "closed" } }
      for (const [sign, reason] of [[{ signedBody: "{}" }, "InvalidSignature"], [false, "MissingHeaders"]] as const) {
        const { layer } = world.fake(() => ({ status: 204, body: "", sign }))
        const error = yield* Effect.flip(Payscore.terminatePermissionsByAuthorizationCode(input)).pipe(Effect.provide(layer))
        assert.strictEqual(error._tag === "SignatureError" && error.reason, reason)
      }
    }))

  it.effect("bad input is refused before anything is sent", () => {
    const { requests, layer } = world.fake(() => ({ status: 204, body: "" }))
    return Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Effect.Effect<unknown, { readonly _tag: string; readonly message: string }, never>, string]> = [
        [Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "" } }).pipe(Effect.provide(layer)), "data.reason"],
        [Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "长".repeat(51) } }).pipe(Effect.provide(layer)), "data.reason"],
        [Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: "a/b", data: { service_id: SERVICE_ID, reason: "x" } }).pipe(Effect.provide(layer)), "authorization_code"],
        [Payscore.terminatePermissionsByOpenid({ openid: OPENID, data: { service_id: SERVICE_ID, reason: "x" } as never }).pipe(Effect.provide(layer)), "data.appid"],
        [Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: CODE, notify_url: "http://merchant.example.com/n" } }).pipe(Effect.provide(layer)), "data.notify_url"],
        [Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: CODE, notify_url: "https://merchant.example.com/n?a=1" } }).pipe(Effect.provide(layer)), "data.notify_url"]
      ]
      for (const [effect, field] of cases) {
        const error = yield* Effect.flip(effect)
        assert.strictEqual(error._tag, "InvalidRequestError", error.message)
        assert.strictEqual((error as unknown as { field: string }).field, field)
      }
      // a reason of exactly 50 characters (not UTF-16 units) is accepted
      yield* Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "𠀀".repeat(50) } }).pipe(Effect.provide(layer))
      assert.strictEqual(requests.length, 1)
    })
  })

  it.effect("the seed call form: wxpay.v3.payscore.permissions.post and the terminate entries", () => {
    const { requests, layer } = world.fake((r) => r.pathAndQuery.endsWith("/terminate") ? { status: 204, body: "" } : { body: { apply_permissions_token: "T" } })
    return Effect.gen(function*() {
      const applied = yield* wxpay.v3.payscore.permissions.post({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: CODE } })
      assert.strictEqual(applied.data.apply_permissions_token, "T")
      const byOpenid = yield* wxpay.v3.payscore.permissions.openid._openid_.terminate.post({ openid: OPENID, data: { service_id: SERVICE_ID, appid: APPID, reason: "r" } })
      const byCode = yield* wxpay.v3.payscore.permissions.authorizationCode._authorization_code_.terminate.post({ authorization_code: CODE, data: { service_id: SERVICE_ID, reason: "r" } })
      assert.deepStrictEqual([byOpenid.status, byCode.status], [204, 204])
      assert.deepStrictEqual(requests.map((r) => r.pathAndQuery), [
        "/v3/payscore/permissions",
        `/v3/payscore/permissions/openid/${OPENID}/terminate`,
        `/v3/payscore/permissions/authorization-code/${CODE}/terminate`
      ])
    }).pipe(Effect.provide(layer))
  })
})

const seed: Sandbox.SeedData = {
  payscore: [
    { service_id: SERVICE_ID, appid: APPID, openid: "oActive1", authorization_code: "ACTIVE1" },
    { service_id: SERVICE_ID, appid: APPID, openid: "oActive2", authorization_code: "ACTIVE2" }
  ]
}

layer(Sandbox.layerTest({ seed, httpClient: Transport }))("against the sandbox (real HTTP, WeChat's checks and answers)", (it) => {
  it.effect("a pre-authorization answers a token, and the record reads UNBINDUSER until the user authorizes", () =>
    Effect.gen(function*() {
      const { apply_permissions_token } = yield* Payscore.applyPermissions({
        data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "PENDING1", notify_url: "https://merchant.example.com/notify" }
      })
      assert.isAbove(apply_permissions_token.length, 10)
      const record = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "PENDING1", params: { service_id: SERVICE_ID } })
      assert.strictEqual(record.authorization_state, "UNBINDUSER")
      assert.isUndefined(record.openid)
      assert.strictEqual(record.notify_url, "https://merchant.example.com/notify")
      // a code already bound to a user cannot be pre-authorized again
      const reused = yield* Effect.flip(Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "ACTIVE1" } }))
      assert.strictEqual(reused._tag === "BusinessError" && reused.code, "INVALID_REQUEST")
    }))

  it.effect("terminating by openid and by code: 204, then the queries read UNAVAILABLE with a cancel time", () =>
    Effect.gen(function*() {
      yield* Payscore.terminatePermissionsByOpenid({ openid: "oActive1", data: { service_id: SERVICE_ID, appid: APPID, reason: "用户要求" } })
      const one = yield* Payscore.getPermissionsByOpenid({ openid: "oActive1", params: { service_id: SERVICE_ID, appid: APPID } })
      assert.strictEqual(one.authorization_state, "UNAVAILABLE")
      assert.instanceOf(one.cancel_authorization_time, Date)
      yield* Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: "ACTIVE2", data: { service_id: SERVICE_ID, reason: "closed" } })
      const two = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "ACTIVE2", params: { service_id: SERVICE_ID } })
      assert.strictEqual(two.authorization_state, "UNAVAILABLE")
    }))

  it.effect("terminating an unknown record is 404 ORDER_NOT_EXIST, verified", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: "NOBODY", data: { service_id: SERVICE_ID, reason: "x" } }))
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.status, 404)
      assert.strictEqual(error.code, "ORDER_NOT_EXIST")
      assert.isTrue(error.verified)
    }))
})

const QUICK_RETRY = { maxAttempts: 3, baseDelay: "5 millis", maxDelay: "5 millis", jitter: false } as const

// real time: the retries wait and the sandbox is slow for real
layer(Sandbox.layerTest({ httpClient: Transport, retry: QUICK_RETRY }), { excludeTestServices: true })("retrying a POST (WeChat Pay may have acted on it)", (it) => {
  const apply = (code: string) => Payscore.applyPermissions({ data: { service_id: SERVICE_ID, appid: APPID, authorization_code: code } })
  const applies = Effect.map(
    Effect.flatMap(Sandbox.Sandbox, (s) => s.requests),
    (rs) => rs.filter((r) => r.method === "POST").length
  )

  it.effect("a 5xx or 429 answer (nothing was done) is retried as a GET's would be", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const before = yield* applies
      yield* sandbox.injectFault({ fault: "SystemError", route: "payscore.apply", times: 2 })
      assert.isString((yield* apply("RETRY5XX")).apply_permissions_token)
      assert.strictEqual((yield* applies) - before, 3)
      yield* sandbox.injectFault({ fault: "FrequencyLimited", route: "payscore.apply", times: 1 })
      assert.isString((yield* apply("RETRY429")).apply_permissions_token)
      assert.strictEqual((yield* applies) - before, 5)
    }))

  it.effect("a timeout or a dropped connection is not sent again: one attempt, the error says what happened", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const before = yield* applies
      yield* sandbox.injectFault({ fault: "Latency", route: "payscore.apply", latency: "2 seconds", times: 1 })
      const timedOut = yield* Effect.flip(apply("RETRYTIMEOUT").pipe(Effect.provideService(Wechatpay.RequestTimeout, "200 millis")))
      assert.strictEqual(timedOut._tag === "NetworkError" && timedOut.reason, "Timeout")
      assert.isUndefined(timedOut._tag === "NetworkError" ? timedOut.attempts : "", "one attempt")
      yield* sandbox.injectFault({ fault: "DropConnection", route: "payscore.apply", times: 1 })
      const dropped = yield* Effect.flip(apply("RETRYDROP"))
      assert.strictEqual(dropped._tag === "NetworkError" && dropped.reason, "Transport")
      assert.strictEqual((yield* applies) - before, 2)
      // the lookups are still retried after a dropped connection
      yield* sandbox.injectFault({ fault: "DropConnection", route: "payscore.authorizationCode", times: 1 })
      const record = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "RETRYDROP", params: { service_id: SERVICE_ID } })
      assert.strictEqual(record.authorization_state, "UNBINDUSER", "the dropped apply had in fact been done")
    }))
})

describe("Wechatpay.endpoint with a body", () => {
  const Amount = Schema.Struct({ id: Schema.NonEmptyString, data: Schema.Struct({ total: Schema.NumberFromString, note: Schema.optional(Schema.String) }) })

  it.effect("the body is taken from the request as encoded: a NumberFromString goes out as its string", () => {
    const { requests, layer } = world.fake(() => ({ status: 204, body: "" }))
    const post = Wechatpay.endpoint({
      name: "Test.post",
      method: "POST",
      request: Amount,
      url: ({ id }) => Wechatpay.path`/v3/test/${id}`,
      body: ({ data }) => data,
      response: Schema.Void
    })
    return Effect.gen(function*() {
      yield* post.data({ id: "a", data: { total: "012" } })
      assert.strictEqual(requests[0]!.body, `{"total":"12"}`)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a body that is not JSON is an InvalidRequestError, and nothing is sent", () => {
    const { requests, layer } = world.fake(() => ({ status: 204, body: "" }))
    const endpoint = (body: (request: typeof Amount.Encoded) => unknown) =>
      Wechatpay.endpoint({ name: "Test.post", method: "POST", request: Amount, url: () => "/v3/test", body, response: Schema.Void })
    return Effect.gen(function*() {
      for (const body of [() => ({ big: 1n }), () => undefined, () => { throw new Error("the secret is 42") }]) {
        const error = yield* Effect.flip(endpoint(body).data({ id: "a", data: { total: "1" } }))
        assert.strictEqual(error._tag === "InvalidRequestError" && error.field, "data")
        assert.notInclude(error.message, "42")
      }
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.provide(layer))
  })
})

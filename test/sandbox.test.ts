import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BusinessCircle, Payscore, Signer, Wechatpay, type WechatpayError } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { generateRsa } from "./helpers/keys.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"

const seed: Sandbox.SeedData = {
  payscore: [{
    service_id: SERVICE_ID,
    appid: APPID,
    openid: "oUser1",
    authorization_code: "CODE1",
    authorization_success_time: "2024-05-20T13:29:35+08:00",
    user_risk_level: 0,
    risk_level_version: 1
  }],
  businessCircle: [{ appid: APPID, openid: "oUser1", authorize_state: "AUTHORIZED", authorize_time: "2024-05-20T13:29:35+08:00" }]
}

const threeQueries = Effect.gen(function*() {
  const a = yield* Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } })
  const b = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CODE1", params: { service_id: SERVICE_ID } })
  const c = yield* BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } })
  assert.strictEqual(a.authorization_state, "AVAILABLE")
  assert.strictEqual(a.authorization_code, "CODE1")
  assert.strictEqual(a.authorization_success_time?.toISOString(), "2024-05-20T05:29:35.000Z")
  assert.strictEqual(a.mchid, "1900000001")
  assert.strictEqual(b.openid, "oUser1")
  assert.strictEqual(c.authorize_state, "AUTHORIZED")
})

describe("sandbox end to end over real loopback HTTP", () => {
  it.effect("all three queries with NodeHttpClient.layerUndici", () =>
    threeQueries.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Transport }))))

  it.effect("all three queries with FetchHttpClient.layer", () =>
    threeQueries.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: FetchHttpClient.layer }))))

  it.effect("certificate trust: responses are signed with the platform certificate the client asks for", () =>
    Effect.gen(function*() {
      yield* threeQueries
      const sandbox = yield* Sandbox.Sandbox
      const requests = yield* sandbox.requests
      assert.strictEqual(requests.length, 3)
      for (const r of requests) assert.strictEqual(r.wechatpaySerial, sandbox.credentials.platformCertificateSerial)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, trust: "certificate", httpClient: Transport }))))
})

layer(Sandbox.layerTest({ seed, httpClient: Transport }))("sandbox behaviour", (it) => {
  it.effect("an unknown Pay Score user is 404 ORDER_NOT_EXIST with a Request-ID; Business Circle says UNAUTHORIZED", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Payscore.getPermissionsByOpenid({ openid: "oNobody", params: { service_id: SERVICE_ID, appid: APPID } }))
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.status, 404)
      assert.strictEqual(error.code, "ORDER_NOT_EXIST")
      assert.isTrue(error.verified)
      assert.match(error.requestId!, /^[0-9A-F]{40}-0$/)
      const bc = yield* BusinessCircle.getUserAuthorization({ openid: "oNobody", params: { appid: APPID } })
      assert.strictEqual(bc.authorize_state, "UNAUTHORIZED")
    }))

  it.effect("records can be added and revoked from a test", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.addPayscorePermission({ service_id: SERVICE_ID, appid: APPID, openid: "oUser2" })
      const before = yield* Payscore.getPermissionsByOpenid({ openid: "oUser2", params: { service_id: SERVICE_ID, appid: APPID } })
      assert.strictEqual(before.authorization_state, "AVAILABLE")
      yield* sandbox.revokePayscorePermission({ service_id: SERVICE_ID, openid: "oUser2" })
      const after = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: before.authorization_code!, params: { service_id: SERVICE_ID } })
      assert.strictEqual(after.authorization_state, "UNAVAILABLE")
      assert.isDefined(after.cancel_authorization_time)
      yield* sandbox.setBusinessCircleAuthorization({ appid: APPID, openid: "oUser2", sub_mchid: "1900000109", authorize_state: "DEAUTHORIZED" })
      const partner = yield* BusinessCircle.getUserAuthorization({ openid: "oUser2", params: { appid: APPID, sub_mchid: "1900000109" } })
      assert.strictEqual(partner.authorize_state, "DEAUTHORIZED")
      const merchantMode = yield* BusinessCircle.getUserAuthorization({ openid: "oUser2", params: { appid: APPID } })
      assert.strictEqual(merchantMode.authorize_state, "UNAUTHORIZED")
    }))

  it.effect("missing or invalid parameters are 400 PARAM_ERROR with detail", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Wechatpay.get("/v3/payscore/permissions/openid/oUser1", { query: { appid: APPID }, schema: Payscore.PermissionsByOpenid }))
      assert.strictEqual(missing._tag, "BusinessError")
      if (missing._tag !== "BusinessError") return
      assert.strictEqual(missing.status, 400)
      assert.strictEqual(missing.code, "PARAM_ERROR")
      assert.strictEqual(missing.detail?.field, "service_id")
      assert.strictEqual(missing.detail?.location, "query")
      const badOpenid = yield* Effect.flip(Wechatpay.get("/v3/businesscircle/user-authorizations/a%21b", { query: { appid: APPID }, schema: BusinessCircle.UserAuthorization }))
      assert.strictEqual(badOpenid._tag === "BusinessError" && badOpenid.detail?.field, "openid")
      const unknown = yield* Effect.flip(Wechatpay.get("/v3/unknown", { schema: BusinessCircle.UserAuthorization }))
      assert.strictEqual(unknown._tag === "BusinessError" && unknown.code, "RESOURCE_NOT_EXISTS")
    }))
})

describe("the sandbox checks request signatures as WeChat Pay does", () => {
  const signIt = (tweak: (service: Signer.Service) => Signer.Service) =>
    Layer.effect(
      Signer.Signer,
      Effect.map(Effect.flatMap(Sandbox.Sandbox, (s) =>
        Signer.make({
          mchid: s.credentials.mchid,
          serialNo: s.credentials.merchantSerialNo,
          privateKey: s.credentials.merchantPrivateKey!
        })), tweak)
    )

  const expectSignError = (tweak: (service: Signer.Service) => Signer.Service, expected: string) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } }))
      assert.strictEqual(error._tag, "BusinessError")
      if (error._tag !== "BusinessError") return
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.code, "SIGN_ERROR")
      assert.include(error.serverMessage!, expected)
      assert.isTrue(error.verified)
    }).pipe(Effect.provide(Layer.provideMerge(signIt(tweak), Sandbox.layerTest({ seed, httpClient: Transport }))))

  it.effect("a tampered request signature", () =>
    expectSignError((s) => ({ ...s, authorize: (m, url, body) => s.authorize(m, url + "&x=1", body) }), "signature does not verify"))

  it.effect("a wrong mchid", () =>
    expectSignError((s) => ({ ...s, authorize: (m, url, body) => Effect.map(s.authorize(m, url, body), (h) => h.replace(/mchid="\d+"/, "mchid=\"1900000002\"")) }), "mchid does not match"))

  it.effect("a wrong merchant serial", () =>
    expectSignError((s) => ({ ...s, authorize: (m, url, body) => Effect.map(s.authorize(m, url, body), (h) => h.replace(/serial_no="[0-9A-F]+"/, "serial_no=\"ABC\"")) }), "serial_no"))

  it.effect("a stale timestamp", () =>
    expectSignError((s) => ({
      ...s,
      authorize: (m, url, body) =>
        Effect.flatMap(Effect.clockWith((c) => Effect.succeed(Math.floor(c.unsafeCurrentTimeMillis() / 1000) - 301)), (ts) => {
          const nonce = "A".repeat(32)
          return Effect.map(s.sign(Signer.message(m, url, String(ts), nonce, body)), (signature) =>
            Signer.header({ mchid: s.mchid, nonce, signature, timestamp: String(ts), serialNo: s.serialNo }))
        })
    }), "timestamp"))
})

describe("faults on demand: each one gives the client the right typed error", () => {
  const expectations: Array<[Sandbox.Fault, (e: WechatpayError) => boolean]> = [
    ["SystemError", (e) => e._tag === "BusinessError" && e.status === 500 && e.code === "SYSTEM_ERROR" && e.retryable],
    ["FrequencyLimited", (e) => e._tag === "BusinessError" && e.status === 429 && e.code === "FREQUENCY_LIMITED"],
    ["DropConnection", (e) => e._tag === "NetworkError" && e.reason === "Transport"],
    ["TamperBody", (e) => e._tag === "SignatureError" && e.reason === "InvalidSignature"],
    ["WrongSerial", (e) => e._tag === "SignatureError" && e.reason === "UnknownSerial"],
    ["StaleTimestamp", (e) => e._tag === "SignatureError" && e.reason === "TimestampSkew"],
    ["MalformedJson", (e) => e._tag === "DecodeError"],
    ["Unsigned", (e) => e._tag === "SignatureError" && e.reason === "MissingHeaders"],
    ["ProbeSignature", (e) => e._tag === "SignatureError" && e.reason === "MalformedSignature"]
  ]
  const queries: ReadonlyArray<Effect.Effect<unknown, WechatpayError, Wechatpay.Requirements>> = [
    Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } }),
    Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CODE1", params: { service_id: SERVICE_ID } }),
    BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } })
  ]

  layer(Sandbox.layerTest({ seed, httpClient: Transport }))((it) => {
    for (const [fault, expected] of expectations) {
      it.effect(`${fault} on every query`, () =>
        Effect.gen(function*() {
          const sandbox = yield* Sandbox.Sandbox
          for (const query of queries) {
            yield* sandbox.injectFault({ fault, times: 1 })
            const error = yield* Effect.flip(query)
            assert.isTrue(expected(error), `${fault}: got ${error._tag}: ${error.message}`)
            // the fault was used up: the next call succeeds
            yield* query
          }
        }))
    }

    it.effect("a fault limited to one route leaves the others alone", () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.injectFault({ fault: "SystemError", route: "businesscircle.userAuthorization" })
        yield* queries[0]!
        yield* queries[1]!
        const error = yield* Effect.flip(queries[2]!)
        assert.strictEqual(error._tag === "BusinessError" && error.status, 500)
        yield* sandbox.clearFaults
        yield* queries[2]!
      }))
  })

  it.live("Latency delays the answer by the given time", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "Latency", latency: "150 millis", times: 1 })
      const start = Date.now()
      yield* queries[2]!
      assert.isAtLeast(Date.now() - start, 140)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Transport }))))
})

describe("seed files", () => {
  it.effect("load from JSON, and a bad file is a SeedError", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-seed-"))
      try {
        const good = path.join(dir, "seed.json")
        fs.writeFileSync(good, JSON.stringify(seed))
        const loaded = yield* Sandbox.loadSeed(good)
        assert.strictEqual(loaded.payscore?.[0]?.openid, "oUser1")
        const bad = path.join(dir, "bad.json")
        fs.writeFileSync(bad, JSON.stringify({ payscore: [{ service_id: SERVICE_ID, appid: APPID, openid: "o", authorization_success_time: "yesterday" }] }))
        const error = yield* Effect.flip(Sandbox.loadSeed(bad))
        assert.strictEqual(error._tag, "SeedError")
        assert.include(error.message, "authorization_success_time")
        const missing = yield* Effect.flip(Sandbox.loadSeed(path.join(dir, "nope.json")))
        assert.include(missing.message, "ENOENT")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("credentials keep the merchant private key and the APIv3 key Redacted", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const c = sandbox.credentials
      assert.isTrue(Redacted.isRedacted(c.merchantPrivateKey) && Redacted.isRedacted(c.apiV3Key))
      assert.include(Redacted.value(c.merchantPrivateKey!), "PRIVATE KEY")
      const printed = `${JSON.stringify(c)} ${String(c.merchantPrivateKey)} ${String(c.apiV3Key)}`
      assert.notInclude(printed, "PRIVATE KEY")
      assert.notInclude(printed, Redacted.value(c.apiV3Key))
    }).pipe(Effect.provide(Sandbox.layer())))
})

describe("client layers", () => {
  it.effect("Latency beyond the request timeout is a NetworkError(Timeout)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "Latency", latency: "500 millis", times: 1 })
      const error = yield* Effect.flip(BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } }))
      assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
    }).pipe(
      Effect.provide(Layer.merge(Sandbox.layerTest({ seed, httpClient: Transport }), Layer.succeed(Wechatpay.RequestTimeout, "100 millis"))),
      TestServices.provideLive
    ))

  it.effect("retries are off by default; a retry policy makes faults with `times` recover under TestClock", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "SystemError", times: 2 })
      const fiber = yield* Effect.fork(BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } }))
      // real I/O and TestClock time interleave: let the I/O happen, then move the clock
      while ((yield* Fiber.poll(fiber))._tag === "None") {
        yield* TestServices.provideLive(Effect.sleep("5 millis"))
        yield* TestClock.adjust("50 millis")
      }
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.authorize_state, "AUTHORIZED")
      assert.strictEqual((yield* sandbox.requests).length, 3)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Transport, retry: { maxAttempts: 3, baseDelay: "100 millis", maxDelay: "1 second", jitter: false } }))))

  it.effect("a merchant identity of the caller's own (serial, public key, private key)", () => {
    const keys = generateRsa()
    return Effect.gen(function*() {
      yield* threeQueries
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual(sandbox.credentials.merchantSerialNo, "ABC123")
    }).pipe(Effect.provide(Sandbox.layerTest({
      seed,
      httpClient: Transport,
      merchant: { serialNo: "ABC123", publicKeyPem: keys.publicKeyPem, privateKey: Redacted.make(keys.privateKeyPem) }
    })))
  })

  it.effect("without the merchant's private key the client layers fail with a clear InvalidKeyError", () =>
    Effect.gen(function*() {
      const keys = generateRsa()
      const error = yield* Effect.flip(Layer.build(Sandbox.layerTest({ merchant: { serialNo: "ABC123", publicKeyPem: keys.publicKeyPem } })))
      assert.strictEqual(error._tag, "InvalidKeyError")
      assert.include(error.message, "privateKey")
    }).pipe(Effect.scoped))
})

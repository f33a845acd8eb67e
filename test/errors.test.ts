import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Layer, Redacted } from "effect"
import { BusinessError, Payscore, Signer, Verifier, Wechatpay } from "../src/index.js"
import type { Reply } from "./helpers/fakeWechat.js"
import { APPID, makeWorld, MCHID, MERCHANT_SERIAL, OPENID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const okBody = { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "AVAILABLE" }
const input = { openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }
const fakeSignature = Buffer.alloc(256, 7).toString("base64")

const scenarios: Array<[string, Reply]> = [
  ["tampered", { body: okBody, sign: { signedBody: "{}" } }],
  ["unknown serial", { body: okBody, sign: { serial: "PUB_KEY_ID_X" } }],
  ["stale", { body: okBody, sign: { timestampOffset: -1000 } }],
  ["probe", { body: okBody, sign: { signature: "WECHATPAY/SIGNTEST/" + fakeSignature } }],
  ["forged signature", { body: okBody, sign: { signature: fakeSignature } }],
  ["unsigned 2xx", { body: okBody, sign: false }],
  ["sm2", { body: okBody, sign: { signatureType: "WECHATPAY2-SM2-WITH-SM3" } }],
  ["404 signed", { status: 404, body: { code: "ORDER_NOT_EXIST", message: "无授权记录" } }],
  ["404 unsigned", { status: 404, body: { code: "ORDER_NOT_EXIST", message: "无授权记录" }, sign: false }],
  ["500 html", { status: 500, body: "<html>bad gateway</html>", sign: false }],
  ["bad json", { body: "{oops" }],
  ["bad schema", { body: { ...okBody, authorization_state: 3 } }],
  ["transport", { transportFailure: true }]
]

const secretsOf = (requests: ReadonlyArray<{ headers: Readonly<Record<string, string>> }>, responses: ReadonlyArray<Readonly<Record<string, string>>>) => {
  const secrets = ["BEGIN", "PRIVATE KEY", fakeSignature, ...world.merchant.privateKeyPem.split("\n").filter((l) => l.length > 20)]
  for (const r of requests) {
    const authorization = r.headers["authorization"]!
    secrets.push(authorization, /signature="([^"]+)"/.exec(authorization)![1]!)
  }
  for (const r of responses) if (r["wechatpay-signature"] !== undefined) secrets.push(r["wechatpay-signature"])
  return secrets
}

const renderings = (error: unknown): Array<string> => [
  String(error),
  JSON.stringify(error),
  (error as Error).message,
  Cause.pretty(Cause.fail(error)),
  Cause.pretty(Cause.fail(error), { renderErrorCause: true })
]

describe("no secret in any rendering of any error", () => {
  for (const [name, reply] of scenarios) {
    it.effect(name, () => {
      const { requests, responseHeaders, layer } = world.fake(() => reply)
      return Effect.gen(function*() {
        const error = yield* Effect.flip(Payscore.getPermissionsByOpenid(input))
        const secrets = secretsOf(requests, responseHeaders)
        assert.isAbove(secrets.length, 3)
        for (const text of renderings(error)) {
          assert.isAbove(text.length, 10)
          for (const secret of secrets) assert.notInclude(text, secret, `${error._tag} leaks`)
        }
      }).pipe(Effect.provide(layer))
    })
  }

  it.effect("invalid input, invalid base URL and invalid keys", () =>
    Effect.gen(function*() {
      const { requests, responseHeaders, layer } = world.fake(() => ({ body: okBody }))
      const errors: Array<unknown> = [
        yield* Effect.flip(Payscore.getPermissionsByOpenid({ ...input, openid: "../../etc/passwd" })).pipe(Effect.provide(layer)),
        yield* Effect.flip(Payscore.getPermissionsByOpenid(input)).pipe(
          Effect.provide(Layer.merge(layer, Layer.succeed(Wechatpay.BaseUrl, "::")))
        ),
        yield* Effect.flip(Signer.make({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: Redacted.make(world.merchant.privateKeyPem.replace(/\n[^\n-]+\n/, "\n!!\n")) })),
        yield* Effect.flip(Verifier.make({ publicKeys: { K: world.merchant.privateKeyPem } }))
      ]
      const secrets = secretsOf(requests, responseHeaders)
      for (const error of errors) {
        for (const text of renderings(error)) {
          for (const secret of secrets) assert.notInclude(text, secret)
        }
      }
    }))

  it("Redacted private keys stay redacted when the options object is printed", () => {
    const options = { mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: Redacted.make(world.merchant.privateKeyPem) }
    assert.notInclude(JSON.stringify(options), "PRIVATE KEY")
    assert.notInclude(String(options.privateKey), "PRIVATE KEY")
  })
})

describe("rate-limited answers are recognisable", () => {
  const answer = (status: number, code: string) =>
    BusinessError.fromAnswer({ method: "GET", path: "/v3/x", status, body: { code, message: "slow down" }, verified: true, requestId: undefined })

  it("429 FREQUENCY_LIMITED, RATELIMIT_EXCEED under any status, and any 429 are rateLimited and retried; others are not", () => {
    for (const error of [answer(429, "FREQUENCY_LIMITED"), answer(403, "RATELIMIT_EXCEED"), answer(400, "FREQUENCY_LIMITED"), answer(429, "OTHER")]) {
      assert.isTrue(error.rateLimited, error.message)
      assert.isTrue(error.retryable, error.message)
    }
    assert.isFalse(answer(404, "ORDER_NOT_EXIST").rateLimited)
    assert.isFalse(answer(404, "ORDER_NOT_EXIST").retryable)
  })
})

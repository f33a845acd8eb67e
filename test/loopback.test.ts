import { FetchHttpClient, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as crypto from "node:crypto"
import { createServer } from "node:http"
import { BusinessCircle, Payscore, Wechatpay } from "../src/index.js"
import { verifyAuthorization } from "./helpers/keys.js"
import { APPID, makeWorld, MCHID, OPENID, PUB_KEY_ID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const received: Array<{ url: string; headers: Readonly<Record<string, string>> }> = []

/** A signed answer: WeChat Pay's headers, the signature over the body's bytes as sent. */
const signed = (status: number, bytes: Uint8Array) => {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = crypto.randomBytes(16).toString("hex")
  const message = Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), bytes, Buffer.from("\n")])
  return HttpServerResponse.uint8Array(bytes, {
    status,
    contentType: "application/json",
    headers: {
      "request-id": crypto.randomUUID(),
      "wechatpay-serial": PUB_KEY_ID,
      "wechatpay-timestamp": timestamp,
      "wechatpay-nonce": nonce,
      "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
      "wechatpay-signature": crypto.sign("sha256", message, world.platform.privateKey).toString("base64")
    }
  })
}

/** A tiny signed responder on 127.0.0.1: checks the request signature over the URL as received. */
const app = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  received.push({ url: request.url, headers: request.headers })
  if (request.url.startsWith("/v3/raw/")) {
    // bodies whose bytes are not plain UTF-8 text: signed over the bytes as sent
    return signed(
      200,
      request.url === "/v3/raw/bom"
        ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("{\"ok\":true}")])
        : Buffer.concat([Buffer.from("{\"ok\":\""), Buffer.from([0xff, 0xfe]), Buffer.from("\"}")])
    )
  }
  const authorized = verifyAuthorization(world.merchant.publicKey, request.headers["authorization"] ?? "", request.method, request.url)
  const [status, body] = !authorized
    ? [401, { code: "SIGN_ERROR", message: "签名错误" }]
    : request.url.startsWith("/v3/businesscircle/")
    ? [200, { openid: OPENID, authorize_state: "AUTHORIZED", authorize_time: "2024-01-02T03:04:05+08:00" }]
    : [200, {
      service_id: SERVICE_ID,
      appid: APPID,
      mchid: MCHID,
      authorization_state: "AVAILABLE",
      openid: OPENID,
      authorization_code: "ab*c|d-e_f"
    }]
  return signed(status, Buffer.from(JSON.stringify(body)))
})

const ServerLive = HttpServer.serve(app).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

const BaseUrlLive = Layer.effect(Wechatpay.BaseUrl, HttpServer.addressFormattedWith((url) => Effect.succeed(url)))

const transports: Array<[string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici],
  ["FetchHttpClient.layer", FetchHttpClient.layer],
  ["NodeHttpClient.layer", NodeHttpClient.layer]
]

describe("real HTTP on loopback", () => {
  for (const [name, transport] of transports) {
    it.live(`${name}: the URL on the wire is byte-identical to the signed one, for all three queries`, () =>
        Effect.gen(function*() {
          received.length = 0
          const a = yield* Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } })
          const b = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "ab*c|d-e_f", params: { service_id: SERVICE_ID } })
          const c = yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID, sub_mchid: "1900000109" } })
          assert.strictEqual(a.authorization_state, "AVAILABLE")
          assert.strictEqual(b.authorization_state, "AVAILABLE")
          assert.strictEqual(c.authorize_time?.toISOString(), "2024-01-01T19:04:05.000Z")
          assert.deepStrictEqual(received.map((r) => r.url), [
            `/v3/payscore/permissions/openid/${OPENID}?service_id=${SERVICE_ID}&appid=${APPID}`,
            `/v3/payscore/permissions/authorization-code/ab*c%7Cd-e_f?service_id=${SERVICE_ID}`,
            `/v3/businesscircle/user-authorizations/${OPENID}?appid=${APPID}&sub_mchid=1900000109`
          ])
          for (const r of received) {
            assert.isTrue(verifyAuthorization(world.merchant.publicKey, r.headers["authorization"]!, "GET", r.url))
            assert.strictEqual(r.headers["wechatpay-serial"], PUB_KEY_ID)
            assert.isUndefined(r.headers["traceparent"])
            assert.isUndefined(r.headers["b3"])
          }
          // signatures are checked over the raw bytes, whatever the transport does to text
          const bom = yield* Effect.flip(Wechatpay.get("/v3/raw/bom", { schema: Schema.Unknown }))
          assert.strictEqual(bom._tag, "DecodeError", bom.message)
          const invalid = yield* Wechatpay.get("/v3/raw/invalid-utf8", { schema: Schema.Struct({ ok: Schema.String }) })
          assert.strictEqual(invalid.data.ok, "\uFFFD\uFFFD")
        }).pipe(
          Effect.provide(
            Layer.mergeAll(BaseUrlLive, world.SignerLive, world.VerifierLive, transport).pipe(Layer.provideMerge(ServerLive))
          )
        ))
  }
})

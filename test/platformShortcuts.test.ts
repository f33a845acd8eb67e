import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Payscore, Wechatpay } from "../src/index.js"
import { readUndiciBody, scopedRequests, undiciBody } from "../src/internal/platformShortcuts.js"
import { Sandbox } from "../src/sandbox/index.js"

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: SERVICE_ID, appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: []
}
const lookup = Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } })

/** A loopback server answering every request with `handle`. */
const withServer = <A, E, R>(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  use: (url: string) => Effect.Effect<A, E, R>
) =>
  Effect.acquireUseRelease(
    Effect.async<{ server: ReturnType<typeof createServer>; url: string }>((resume) => {
      const server = createServer(handle)
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })))
    }),
    ({ url }) => use(url),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

describe("shortcuts through @effect/platform's HttpClient.make (the installed version honours both)", () => {
  it.effect("scopedRequests is the map HttpClient.withScope fills, and make sends with the controller found there", () =>
    Effect.gen(function*() {
      const scoped = scopedRequests()
      assert.instanceOf(scoped, WeakMap, "the check on the installed platform passed")
      const request = HttpClientRequest.get("http://scoped.invalid/")
      let signal: AbortSignal | undefined
      const client = HttpClient.withScope(HttpClient.make((_request, _url, s) => {
        signal = s
        return Effect.succeed(HttpClientResponse.fromWeb(request, new Response("{}")))
      }))
      yield* Effect.scoped(client.execute(request))
      const controller = scoped!.get(request)
      assert.instanceOf(controller, AbortController, "withScope put its controller in the same map")
      assert.strictEqual(signal, controller!.signal)
    }))

  it.live("a layerUndici response to a scoped request is undici's own, and its body read directly is the bytes sent", () =>
    withServer((_req, res) => res.end(Buffer.from([0x7b, 0xff, 0x7d])), (url) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const request = HttpClientRequest.get(url)
        const controller = new AbortController()
        scopedRequests()!.set(request, controller)
        const response = yield* client.execute(request)
        const body = undiciBody(response)
        assert.isDefined(body, "recognised as undici's response")
        const bytes = new Uint8Array(yield* readUndiciBody(response, body!))
        assert.deepStrictEqual(Array.from(bytes), [0x7b, 0xff, 0x7d])
        // without a controller of ours make wraps the response, which the pipeline reads the public way
        const wrapped = yield* client.execute(HttpClientRequest.get(url))
        assert.isUndefined(undiciBody(wrapped))
        assert.strictEqual(yield* wrapped.text, "{\ufffd}")
      }).pipe(Effect.provide(NodeHttpClient.layerUndici))))

  it.live("a body cut off half-way fails the direct read as the platform's read fails (ResponseError, Decode)", () =>
    withServer((_req, res) => {
      res.writeHead(200, { "content-length": "100" })
      res.write("{\"partial\":")
      setTimeout(() => res.destroy(), 20)
    }, (url) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const request = HttpClientRequest.get(url)
        scopedRequests()!.set(request, new AbortController())
        const response = yield* client.execute(request)
        const error = yield* Effect.flip(readUndiciBody(response, undiciBody(response)!))
        assert.strictEqual(error._tag, "ResponseError")
        assert.strictEqual(error.reason, "Decode")
        assert.strictEqual(error.response, response)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici))))

  it.live("a lookup over layerUndici sends its request with a controller of the library's and gets undici's response", () => {
    const seen: Array<{ controller: AbortController | undefined; direct: boolean }> = []
    const Spy = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (client) =>
        // transform hands the request object through unchanged, so the controller stays attached
        HttpClient.transform(client, (response, request) =>
          Effect.tap(response, (r) => {
            seen.push({ controller: scopedRequests()?.get(request), direct: undiciBody(r) !== undefined })
          })))
    ).pipe(Layer.provide(NodeHttpClient.layerUndici))
    return Effect.gen(function*() {
      const record = yield* lookup
      assert.strictEqual(record.authorization_code, "CODE1")
      assert.strictEqual(seen.length, 1)
      assert.instanceOf(seen[0]!.controller, AbortController)
      assert.isFalse(seen[0]!.controller!.signal.aborted, "a completed attempt is not aborted")
      assert.isTrue(seen[0]!.direct)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Spy })))
  })

  it.live("a client that rewrites each request (the platform sees a request without the library's controller) still has it aborted on timeout", () => {
    let aborted = 0
    const Rewriting = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, HttpClient.mapRequest(HttpClientRequest.setHeader("x-rewritten", "1")))
    ).pipe(Layer.provide(NodeHttpClient.layerUndici))
    return withServer((_req, res) => {
      res.on("close", () => {
        if (!res.writableEnded) aborted++
      })
    }, (url) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(lookup)
        assert.isTrue(error._tag === "NetworkError" && error.reason === "Timeout")
        for (let i = 0; i < 200 && aborted === 0; i++) yield* Effect.sleep("10 millis")
        assert.strictEqual(aborted, 1, "the server saw the request aborted")
      }).pipe(
        Effect.provideService(Wechatpay.BaseUrl, url),
        Effect.provideService(Wechatpay.RequestTimeout, Duration.millis(200)),
        Effect.provide(Sandbox.layerTest({ seed, httpClient: Rewriting }))
      ))
  })
})

import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { getEventListeners } from "node:events"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Payscore, Wechatpay } from "../src/index.js"
import { readUndiciBody, scopedRequests, undiciBody } from "../src/internal/platformShortcuts.js"
import { Sandbox } from "../src/sandbox/index.js"
import { countAborts, eventually, type Stats, withServer } from "./helpers/loopback.js"

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: SERVICE_ID, appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: []
}
const lookup = Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } })

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
      // the body was read in full: nothing to abort, and undici lets go of the signal as the body closes
      const signal = seen[0]!.controller!.signal
      assert.isFalse(signal.aborted)
      assert.isTrue(yield* eventually(() => getEventListeners(signal, "abort").length === 0))
      assert.isTrue(seen[0]!.direct)
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: Spy })))
  })

  it.live("a client that rewrites each request (the platform sees a request without the library's controller) still has it aborted on timeout", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const Rewriting = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, HttpClient.mapRequest(HttpClientRequest.setHeader("x-rewritten", "1")))
    ).pipe(Layer.provide(NodeHttpClient.layerUndici))
    return withServer((_req, res) => countAborts(seen, res), (url) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(lookup)
        assert.isTrue(error._tag === "NetworkError" && error.reason === "Timeout")
        yield* eventually(() => seen.aborted > 0)
        assert.strictEqual(seen.aborted, 1, "the server saw the request aborted")
      }).pipe(
        Effect.provideService(Wechatpay.BaseUrl, url),
        Effect.provideService(Wechatpay.RequestTimeout, Duration.millis(200)),
        Effect.provide(Sandbox.layerTest({ seed, httpClient: Rewriting }))
      ))
  })
})

/** A layerUndici client as a user may wrap it before handing it to the library. */
const wrapped = (f: (client: HttpClient.HttpClient) => HttpClient.HttpClient) =>
  Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, f)).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** A client that gives up on a send after 100 ms by itself (a timeout of its own, a transport error). */
const givesUpAfter100Millis = (client: HttpClient.HttpClient) =>
  HttpClient.transform(client, (response, request) =>
    Effect.timeoutFail(response, {
      duration: "100 millis",
      onTimeout: () => new HttpClientError.RequestError({ request, reason: "Transport", description: "gave up" })
    }))

const lookupEither = Effect.either(lookup)

/**
 * A lookup over `client` against `handle`, with a 5 s library timeout that none of these reach,
 * then `check` on its outcome while the client is still up (closing its layer closes its sockets).
 */
const lookupOver = <E>(
  client: Layer.Layer<HttpClient.HttpClient>,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  check: (outcome: Effect.Effect.Success<typeof lookupEither>) => Effect.Effect<void, E>
) =>
  withServer(handle, (url) =>
    Effect.flatMap(lookupEither, check).pipe(
      Effect.provideService(Wechatpay.BaseUrl, url),
      Effect.provideService(Wechatpay.RequestTimeout, Duration.seconds(5)),
      Effect.provide(Sandbox.layerTest({ seed, httpClient: client }))
    ))

describe("a layerUndici client wrapped by the user: nothing the attempt sent stays open when it ends", () => {
  it.live("the client gives up on its own (a timeout inside it): the hung request is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const client = wrapped(givesUpAfter100Millis)
    return lookupOver(client, (_req, res) => countAborts(seen, res), (outcome) =>
      Effect.gen(function*() {
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "NetworkError" && outcome.left.reason === "Transport")
        assert.isTrue(yield* eventually(() => seen.aborted === 1), `aborted ${seen.aborted} of ${seen.hits}`)
      }))
  })

  it.live("the same, retried by the client (retryTransient): every send is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const client = wrapped((c) => givesUpAfter100Millis(c).pipe(HttpClient.retryTransient({ times: 2 })))
    return lookupOver(client, (_req, res) => countAborts(seen, res), () =>
      Effect.gen(function*() {
        assert.strictEqual(seen.hits, 3)
        assert.isTrue(yield* eventually(() => seen.aborted === 3), `aborted ${seen.aborted} of ${seen.hits}`)
      }))
  })

  it.live("the client rejects the status before the body is read (filterStatusOk): the unread body is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    return lookupOver(wrapped(HttpClient.filterStatusOk), (_req, res) => {
      countAborts(seen, res)
      res.writeHead(500, { "content-type": "application/json" })
      res.write(Buffer.alloc(1024 * 1024, 0x20)) // more than the socket takes, never ended
    }, (outcome) =>
      Effect.gen(function*() {
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "NetworkError")
        assert.isTrue(yield* eventually(() => seen.aborted === 1), "the server saw the response aborted")
      }))
  })

  it.live("the client races two sends of the request (hedging): the one that lost is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const client = wrapped((c) => HttpClient.transform(c, (response) => Effect.race(response, Effect.delay(response, "50 millis"))))
    return lookupOver(client, (_req, res) => {
      countAborts(seen, res)
      if (seen.hits === 2) res.writeHead(503).end("{}")
    }, (outcome) =>
      Effect.gen(function*() {
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "BusinessError")
        assert.strictEqual(seen.hits, 2)
        assert.isTrue(yield* eventually(() => seen.aborted === 1), "the first, unanswered send was aborted")
      }))
  })

  it.live("the client starts reading the body and does not wait (a forked read): the lookup shares that read", () => {
    let started = 0
    const client = wrapped((c) =>
      HttpClient.tap(c, (r) => {
        started++
        // forked in the attempt, so interrupted when it ends (see timeoutInPlace): only the read is shared
        return Effect.fork(r.arrayBuffer)
      })
    )
    return Effect.gen(function*() {
      const record = yield* lookup.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: client })))
      assert.strictEqual(record.authorization_code, "CODE1")
      assert.strictEqual(started, 1)
    })
  })

  it.live("the client reads the body itself (logging it): the lookup reads it again from the platform's cache", () => {
    let logged = 0
    const client = wrapped((c) => HttpClient.tap(c, (r) => Effect.map(r.arrayBuffer, (b) => void (logged = b.byteLength))))
    return Effect.gen(function*() {
      const record = yield* lookup.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: client })))
      assert.strictEqual(record.authorization_code, "CODE1")
      assert.isAbove(logged, 0)
    })
  })
})

import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { Payscore, Wechatpay } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { countAborts, eventually, type Stats, withServer } from "./helpers/loopback.js"

/**
 * The HttpClient a user hands the library is often wrapped: a timeout of its
 * own, retries, a status filter, a hedge, a read for logging. Whatever the
 * wrapper does, nothing a lookup sent stays open when the wrapper gives up
 * on it, and the lookup still answers.
 */

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: SERVICE_ID, appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: []
}
const lookup = Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: SERVICE_ID, appid: APPID } })

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

describe("a layerUndici client wrapped by the user: nothing a lookup sent stays open once the client gives up on it", () => {
  it.live("the client gives up on its own (a timeout inside it): the hung request is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const client = wrapped(givesUpAfter100Millis)
    return lookupOver(client, (_req, res) => countAborts(seen, res), (outcome) =>
      Effect.gen(function*() {
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "NetworkError" && outcome.left.reason === "Transport")
        assert.isTrue(yield* eventually(() => seen.aborted === 1), `aborted ${seen.aborted} of ${seen.hits}`)
      }))
  })

  it.live("the same, retried by the client (retryTransient): every send is aborted when the client gives up on it, not when the lookup ends", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const warnings: Array<string> = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    const client = wrapped((c) => givesUpAfter100Millis(c).pipe(HttpClient.retryTransient({ times: 2 })))
    // 20 lookups of three sends each (0, 100, 200 ms), each send given up on after 100 ms
    return withServer((_req, res) => countAborts(seen, res), (url) =>
      Effect.gen(function*() {
        process.on("warning", onWarning)
        const lookups = yield* Effect.fork(
          // twenty different users (identical lookups in flight would share one call)
          Effect.forEach(
            Array.from({ length: 20 }, (_, i) => `oUser${i}`),
            (openid) => Effect.either(Payscore.getPermissionsByOpenid({ openid, params: { service_id: SERVICE_ID, appid: APPID } })),
            { concurrency: "unbounded" }
          )
        )
        // each lookup's first send is aborted when the client gives it up (at 100 ms), while the
        // lookups go on with their next sends (until about 300 ms)
        assert.isTrue(yield* eventually(() => seen.aborted >= 20), `aborted ${seen.aborted} of ${seen.hits}`)
        assert.isNull(lookups.unsafePoll(), "the lookups were still running when their first sends were aborted")
        const outcomes = yield* lookups
        assert.strictEqual(outcomes.filter((o) => o._tag === "Left" && o.left._tag === "NetworkError").length, 20)
        assert.strictEqual(seen.hits, 60)
        assert.isTrue(yield* eventually(() => seen.aborted === 60), `aborted ${seen.aborted} of ${seen.hits}`)
        assert.deepStrictEqual(warnings, [], "no MaxListenersExceededWarning or any other")
      }).pipe(
        Effect.ensuring(Effect.sync(() => process.off("warning", onWarning))),
        Effect.provideService(Wechatpay.BaseUrl, url),
        Effect.provideService(Wechatpay.RequestTimeout, Duration.seconds(5)),
        Effect.provide(Sandbox.layerTest({ seed, httpClient: client }))
      ))
  })

  it.live("the client rejects the status before the body is read (filterStatusOk): a BusinessError, and the unread body is aborted", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    return lookupOver(wrapped(HttpClient.filterStatusOk), (_req, res) => {
      countAborts(seen, res)
      res.writeHead(500, { "content-type": "application/json" })
      res.write(Buffer.alloc(1024 * 1024, 0x20)) // more than the socket takes, never ended
    }, (outcome) =>
      Effect.gen(function*() {
        // still WeChat Pay's answer: its status decides whether it is retried
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "BusinessError" && outcome.left.status === 500)
        assert.isTrue(outcome._tag === "Left" && outcome.left._tag === "BusinessError" && !outcome.left.verified)
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

  it.live("a client that rewrites each request still has it aborted on the library's timeout", () => {
    const seen: Stats = { hits: 0, aborted: 0 }
    const client = wrapped(HttpClient.mapRequest(HttpClientRequest.setHeader("x-rewritten", "1")))
    return withServer((_req, res) => countAborts(seen, res), (url) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(lookup)
        assert.isTrue(error._tag === "NetworkError" && error.reason === "Timeout")
        assert.isTrue(yield* eventually(() => seen.aborted === 1), "the server saw the request aborted")
      }).pipe(
        Effect.provideService(Wechatpay.BaseUrl, url),
        Effect.provideService(Wechatpay.RequestTimeout, Duration.millis(200)),
        Effect.provide(Sandbox.layerTest({ seed, httpClient: client }))
      ))
  })

  it.live("the client starts reading the body and does not wait (a forked read): the lookup still answers", () => {
    let started = 0
    const client = wrapped((c) =>
      HttpClient.tap(c, (r) => {
        started++
        return Effect.fork(r.arrayBuffer)
      })
    )
    return Effect.gen(function*() {
      const record = yield* lookup.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: client })))
      assert.strictEqual(record.authorization_code, "CODE1")
      assert.strictEqual(started, 1)
    })
  })

  it.live("the client reads the body itself (logging it): the lookup reads it again", () => {
    let logged = 0
    const client = wrapped((c) => HttpClient.tap(c, (r) => Effect.map(r.arrayBuffer, (b) => void (logged = b.byteLength))))
    return Effect.gen(function*() {
      const record = yield* lookup.pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: client })))
      assert.strictEqual(record.authorization_code, "CODE1")
      assert.isAbove(logged, 0)
    })
  })
})

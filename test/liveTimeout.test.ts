import { assert, describe, it } from "@effect/vitest"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as Headers from "@effect/platform/Headers"
import { Duration, Effect, Either, Exit, Fiber, FiberRef, Layer } from "effect"
import { Payscore, Wechatpay } from "../src/index.js"
import { countAborts, eventually, type Stats, withServer } from "./helpers/loopback.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { APPID, makeWorld, NoRetry, OPENID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const query = Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } })

/** A loopback server that takes every request and never answers (a hung WeChat Pay). */
const withHangingServer = <A, E, R>(use: (stats: Stats) => Effect.Effect<A, E, R>) => {
  const stats: Stats = { hits: 0, aborted: 0 }
  return withServer((_req, res) => countAborts(stats, res), (url) =>
    use(stats).pipe(
      Effect.provide(Layer.mergeAll(world.SignerLive, world.VerifierLive, Transport, NoRetry, Layer.succeed(Wechatpay.BaseUrl, url)))
    ))
}

describe(`timeouts and interruption on the live clock, over real HTTP (undici)`, () => {
  it.live("a request that gets no answer within RequestTimeout is a NetworkError(Timeout), and is aborted", () =>
    withHangingServer((stats) =>
      Effect.gen(function*() {
        const started = Date.now()
        const error = yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "200 millis")))
        const elapsed = Date.now() - started
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
        assert.isAtLeast(elapsed, 190)
        assert.isBelow(elapsed, 2000)
        assert.strictEqual(stats.hits, 1)
        assert.isTrue(yield* eventually(() => stats.aborted === 1), "the server saw the request aborted")
      })
    ))

  for (const [title, timeout] of [
    ["interrupting a lookup aborts its in-flight request", Duration.seconds(10)],
    ["without a timeout, interrupting a lookup still aborts its in-flight request", Duration.infinity]
  ] as const) {
    it.live(title, () =>
      withHangingServer((stats) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, timeout)))
          assert.isTrue(yield* eventually(() => stats.hits === 1))
          yield* Fiber.interrupt(fiber)
          assert.isTrue(yield* eventually(() => stats.aborted === 1), "the server saw the request aborted")
        })
      ))
  }

  it.live("the timeout holds for a lookup run in an uninterruptible region", () =>
    withHangingServer((stats) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.uninterruptible(query).pipe(Effect.provideService(Wechatpay.RequestTimeout, Duration.millis(200)))
        )
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
        assert.isTrue(yield* eventually(() => stats.aborted === 1), "the server saw the request aborted")
      })
    ))

  it.live("many lookups timing out at once each fail alone, and every request is aborted", () =>
    withHangingServer((stats) =>
      Effect.gen(function*() {
        // twenty different users (identical lookups in flight would share one call)
        const errors = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `${OPENID}${i}`),
          (openid) => Effect.flip(Payscore.getPermissionsByOpenid({ openid, params: { service_id: SERVICE_ID, appid: APPID } })),
          { concurrency: "unbounded" }
        ).pipe(Effect.provideService(Wechatpay.RequestTimeout, "300 millis"))
        assert.strictEqual(errors.filter((e) => e._tag === "NetworkError" && e.reason === "Timeout").length, 20)
        assert.isTrue(yield* eventually(() => stats.aborted === 20), `aborted ${stats.aborted} of 20`)
      })
    ))

  it.live("a timed-out or interrupted attempt has ended before the lookup answers (nothing runs on behind the caller)", () => {
    let ended = 0
    // a transport that needs 300 ms to give up, whatever happens
    const slow = HttpClient.make((request) =>
      Effect.uninterruptible(Effect.sleep("300 millis")).pipe(
        Effect.ensuring(Effect.sync(() => ended++)),
        Effect.zipRight(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" })))
      )
    )
    const layer = Layer.mergeAll(
      world.SignerLive,
      world.VerifierLive,
      NoRetry,
      Layer.succeed(HttpClient.HttpClient, slow),
      Layer.succeed(Wechatpay.BaseUrl, "http://127.0.0.1:9")
    )
    return Effect.gen(function*() {
      const error = yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
      assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
      assert.strictEqual(ended, 1, "the attempt ended before the timeout was answered")
      const fiber = yield* Effect.fork(query)
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(ended, 2, "the attempt ended before the interruption completed")
    }).pipe(Effect.provide(layer))
  })

  it.live("after a timed-out attempt the caller's fiber goes on, and the next attempt (a retry) is made and timed alike", () =>
    withHangingServer((stats) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          query.pipe(
            Effect.provideService(Wechatpay.RequestTimeout, "150 millis"),
            Effect.provideService(Wechatpay.Retry, { maxAttempts: 2, baseDelay: 10, maxDelay: 10, jitter: false })
          )
        )
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
        assert.strictEqual(error._tag === "NetworkError" && error.attempts, 2)
        assert.strictEqual(stats.hits, 2)
        // the fiber that saw the timeouts is not left interrupted: it sleeps and answers
        yield* Effect.sleep("20 millis")
        assert.isTrue(yield* eventually(() => stats.aborted === 2), "both attempts aborted")
      })
    ))

  it.live("the settings the library gives its client (no trace propagation, redacted names) do not outlive a lookup that timed out", () =>
    withHangingServer(() =>
      Effect.gen(function*() {
        const before = [
          yield* FiberRef.get(HttpClient.currentTracerPropagation),
          yield* FiberRef.get(Headers.currentRedactedNames),
          yield* FiberRef.get(HttpClient.currentTracerDisabledWhen)
        ]
        yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
        const after = [
          yield* FiberRef.get(HttpClient.currentTracerPropagation),
          yield* FiberRef.get(Headers.currentRedactedNames),
          yield* FiberRef.get(HttpClient.currentTracerDisabledWhen)
        ]
        assert.deepStrictEqual(after, before)
      })
    ))

  it.live("a fiber the caller forked before the lookup lives on when the lookup times out", () =>
    withHangingServer(() =>
      Effect.gen(function*() {
        const child = yield* Effect.fork(Effect.never)
        const error = yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
        yield* Effect.sleep("50 millis") // an interruption would have reached the child by now
        assert.isNull(child.unsafePoll(), "the caller's child is still running")
        yield* Fiber.interrupt(child)
      })
    ))

  describe("with a hand-made HttpClient", () => {
    const layerWith = (client: HttpClient.HttpClient) =>
      Layer.mergeAll(
        world.SignerLive,
        world.VerifierLive,
        NoRetry,
        Layer.succeed(HttpClient.HttpClient, client),
        Layer.succeed(Wechatpay.BaseUrl, "http://127.0.0.1:9")
      )

    it.live("a client that ignores the abort signal still times out", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
      }).pipe(Effect.provide(layerWith(HttpClient.make(() => Effect.never)))))

    it.live("an interruption from elsewhere during a timed-out attempt is an interruption, not a timeout", () => {
      // the attempt cannot be cut short: the timeout fires at 100 ms, the caller is interrupted at 250 ms
      const client = HttpClient.make((request) =>
        Effect.uninterruptible(Effect.sleep("500 millis")).pipe(
          Effect.zipRight(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" })))
        )
      )
      return Effect.gen(function*() {
        const fiber = yield* Effect.fork(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
        yield* Effect.sleep("250 millis")
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit), `exit: ${String(exit)}`)
      }).pipe(Effect.provide(layerWith(client)))
    })

    it.live("a client that makes a lookup of its own: the outer timeout still holds", () => {
      // inner transport: cannot be cut short for 300 ms; its lookup has a 250 ms timeout
      const inner = Layer.merge(
        layerWith(HttpClient.make((request) =>
          Effect.uninterruptible(Effect.sleep("300 millis")).pipe(
            Effect.zipRight(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" })))
          )
        )),
        Layer.succeed(Wechatpay.RequestTimeout, "250 millis")
      )
      let innerAnswer = ""
      const outer = HttpClient.make((request) =>
        Effect.gen(function*() {
          const result = yield* Effect.either(Effect.provide(query, inner))
          innerAnswer = Either.isLeft(result) && result.left._tag === "NetworkError" ? result.left.reason : "?"
          yield* Effect.sleep("1 second")
          return yield* Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport" }))
        })
      )
      return Effect.gen(function*() {
        const started = Date.now()
        const error = yield* Effect.flip(query.pipe(Effect.provideService(Wechatpay.RequestTimeout, "100 millis")))
        const elapsed = Date.now() - started
        assert.strictEqual(error._tag === "NetworkError" && error.reason, "Timeout")
        assert.isBelow(elapsed, 900, "the outer lookup answered when its inner one ended, not a second later")
        assert.strictEqual(innerAnswer, "", "the inner lookup was cut short by the outer timeout, before it answered")
      }).pipe(Effect.provide(layerWith(outer)))
    })

  })
})

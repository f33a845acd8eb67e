// A reproduction, for an upstream report, of why the library's single-flight
// (src/internal/singleFlight.ts) is a map of forked calls and not Effect's own
// request deduplication or an RcMap:
//
//   npm run build && node bench/single-flight-repro.mjs
//
// 1. Cost: 20 000 distinct lookups at concurrency 32, each a one-yield effect, through
//    nothing, the library's map, `Effect.request` with a request cache, and `RcMap`
//    (a reference-counted forked call, interrupted when the last reference goes).
// 2. Interruption: with `Effect.request`, the fiber that started a request cannot be
//    interrupted while another fiber waits on the same request; its interruption
//    waits until the request completes (here 1 s), so a caller's timeout is not kept.
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as RcMap from "effect/RcMap"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import { makeSingleFlight } from "../dist/internal/singleFlight.js"

class Get extends Request.TaggedClass("Get") {}
const N = 20_000
const work = (key) => Effect.as(Effect.yieldNow(), key)

const cost = (name, f) =>
  Effect.gen(function*() {
    let last = 0
    for (let round = 0; round < 3; round++) {
      const t = performance.now()
      yield* Effect.forEach(Array.from({ length: N }, (_, i) => `k${round}:${i}`), f, { concurrency: 32, discard: true })
      last = (performance.now() - t) * 1000 / N
    }
    console.log(`${name.padEnd(16)} ${last.toFixed(1).padStart(7)} µs per lookup`)
  })

const main = Effect.gen(function*() {
  yield* cost("plain", work)
  const flights = yield* makeSingleFlight
  yield* cost("library map", (k) => flights.run(k, work(k)))
  const resolver = RequestResolver.fromEffect((r) => work(r.key))
  const cache = yield* Request.makeCache({ capacity: 4 * N, timeToLive: "1 second" })
  const request = (k) =>
    Effect.request(new Get({ key: k }), resolver).pipe(Effect.withRequestCache(cache), Effect.withRequestCaching(true))
  yield* cost("Effect.request", request)
  const map = yield* RcMap.make({
    lookup: (k) => Effect.acquireRelease(Effect.forkDaemon(work(k)), Fiber.interrupt),
    idleTimeToLive: 0
  })
  yield* cost("RcMap", (k) => Effect.scoped(Effect.flatMap(RcMap.get(map, k), (f) => Effect.flatten(Fiber.await(f)))))

  const slow = RequestResolver.fromEffect((r) => Effect.as(Effect.sleep("1 second"), r.key))
  const slowRequest = Effect.request(new Get({ key: "slow" }), slow).pipe(
    Effect.withRequestCache(cache),
    Effect.withRequestCaching(true)
  )
  const owner = yield* Effect.fork(slowRequest)
  yield* Effect.sleep("50 millis")
  const other = yield* Effect.fork(slowRequest)
  yield* Effect.sleep("50 millis")
  const t = performance.now()
  yield* Fiber.interrupt(owner)
  console.log(`Effect.request: interrupting the fiber that started a shared request took ${(performance.now() - t).toFixed(0)} ms`)
  yield* Fiber.join(other)
})

Effect.runPromise(Effect.scoped(main))

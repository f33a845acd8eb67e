// A small reproduction, for an upstream report, of why an Effect client keeps more garbage
// alive than plain promises: after warm-up V8 pretenures the array fields of Effect's
// FiberRuntime (`_stack`, `_steps` are then allocated directly in old space), and values
// that pass through fibers suspended on `Effect.async` survive scavenges until a full GC.
//
//   node --expose-gc --allow-natives-syntax bench/pretenure-repro.mjs
//   node --expose-gc --allow-natives-syntax --no-allocation-site-pretenuring bench/pretenure-repro.mjs
//
// Prints, for 2 000 suspended fibers each resolving with a ~10 KB value: heap used after the
// loop, after two minor GCs and after a full GC (a large gap between the last two is the
// retention), and which fresh fiber fields are not in the young generation.
import * as Effect from "effect/Effect"

const mb = () => (process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)
const value = () => ({ items: Array.from({ length: 200 }, (_, i) => ({ i })) })
// %InYoungGeneration needs --allow-natives-syntax; eval keeps this file parseable without it
const young = (x) => eval("%InYoungGeneration(x)")

let oldFields = []
const lookup = (i, probe) =>
  Effect.withFiberRuntime((fiber) =>
    Effect.async((resume) => {
      const v = value()
      setImmediate(() => {
        if (probe) {
          oldFields = ["_stack", "_steps", "_observers", "_queue"].filter((k) => fiber[k] !== undefined && !young(fiber[k]))
          if (!young(v)) oldFields.push("(the value itself)")
        }
        resume(Effect.succeed(v))
      })
    })
  )

for (let i = 0; i < 20_000; i++) await Effect.runPromise(lookup(i, false)) // warm-up
globalThis.gc()
const before = mb()
for (let i = 0; i < 2_000; i++) await Effect.runPromise(lookup(i, i === 1_999))
console.log(`heap used: before ${before} MB, after the loop ${mb()} MB`)
globalThis.gc({ type: "minor" })
globalThis.gc({ type: "minor" })
console.log(`after two minor GCs ${mb()} MB`)
globalThis.gc()
console.log(`after a full GC ${mb()} MB`)
console.log(`fresh fiber fields allocated in old space: ${oldFields.join(", ") || "none"}`)

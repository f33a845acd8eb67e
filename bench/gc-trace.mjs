// Runs one client configuration under V8's --trace-gc (or the V8 flags in GC_FLAGS) and
// lets its output through: count `Scavenge` / `Mark-Compact` lines, watch the heap grow.
//   node bench/gc-trace.mjs [--config effect-undici] [--concurrency 1] [--n 3000] [--warmup 500]
import { oneClientArgs, runOneClient } from "./harness.mjs"

const args = oneClientArgs("effect-undici")
await runOneClient(args, {}, ["--expose-gc", ...(process.env.GC_FLAGS ?? "--trace-gc").split(" ")])

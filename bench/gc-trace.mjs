// Counts V8 garbage collections per request for one configuration (runs the client with
// --trace-gc and tallies Scavenge / Mark-Compact lines of the measured phase's process).
//   node bench/gc-trace.mjs [--config effect-fast] [--concurrency 1] [--n 3000] [--warmup 500]
import { parseArgs } from "node:util"
import { CONFIGS as MAIN_CONFIGS, REFERENCE_CONFIGS } from "./common.mjs"

const CONFIGS = [...MAIN_CONFIGS, ...REFERENCE_CONFIGS]
import { generateKeys, runChild, startServer } from "./harness.mjs"

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "effect-fast" },
    concurrency: { type: "string", default: "1" },
    n: { type: "string", default: "3000" },
    warmup: { type: "string", default: "500" }
  }
})
if (!CONFIGS.includes(args.config)) {
  console.error(`unknown configuration ${args.config}; known: ${CONFIGS.join(", ")}`)
  process.exit(2)
}
const keys = generateKeys()
const server = await startServer(keys)
let run
try {
  run = await runChild("./client.mjs", {
    config: args.config,
    baseUrl: server.baseUrl,
    n: Number(args.n),
    warmup: Number(args.warmup),
    concurrency: Number(args.concurrency),
    ...keys
  }, { execArgv: ["--expose-gc", ...(process.env.GC_FLAGS ?? "--trace-gc").split(" ")] })
} finally {
  await server.stop()
}
if (run.failure !== undefined) {
  console.error(`client failed: ${run.failure}`)
  process.exit(1)
}

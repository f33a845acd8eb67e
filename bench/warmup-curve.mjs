// How many requests each client needs before its CPU per request settles: every
// configuration starts cold (no warm-up) and makes N requests in consecutive windows of
// W requests; prints the CPU ms/req of each window (median over interleaved rounds)
// and its ratio to the floor's same window.
//   node bench/warmup-curve.mjs [--only floor,axios-plugin,effect-undici] [--concurrency 1]
//     [--n 12000] [--window 1000] [--rounds 3] [--json FILE]
// The first window includes V8's compilation of the request path: what a short benchmark
// (run.mjs with a small --warmup) measures on top of the steady state.
import * as fs from "node:fs"
import * as os from "node:os"
import { parseArgs } from "node:util"
import { CONFIGS, KNOWN_CONFIGS, median } from "./common.mjs"
import { generateKeys, runChild, startServer } from "./harness.mjs"

const { values: args } = parseArgs({
  options: {
    only: { type: "string", default: CONFIGS.join(",") },
    concurrency: { type: "string", default: "1" },
    n: { type: "string", default: "12000" },
    window: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    json: { type: "string" }
  }
})
const configs = args.only.split(",")
for (const config of configs) {
  if (!KNOWN_CONFIGS.includes(config)) {
    console.error(`unknown configuration ${config}; known: ${KNOWN_CONFIGS.join(", ")}`)
    process.exit(2)
  }
}
const n = Number(args.n), window = Number(args.window), rounds = Number(args.rounds)
const concurrency = Number(args.concurrency)
if (![n, window, rounds, concurrency].every((x) => Number.isInteger(x) && x > 0) || n % window !== 0) {
  console.error("--n, --window, --rounds and --concurrency must be positive integers, --n a multiple of --window")
  process.exit(2)
}

const keys = generateKeys()
const server = await startServer(keys)
const curves = Object.fromEntries(configs.map((c) => [c, []]))
let failed = false
try {
  for (let round = 1; round <= rounds; round++) {
    for (const config of configs) {
      const run = await runChild("./client.mjs", {
        config,
        baseUrl: server.baseUrl,
        n,
        warmup: 0,
        concurrency,
        windows: window,
        ...keys
      })
      if (run.failure !== undefined || run.reply?.skipped) {
        console.error(`[round ${round}] ${config}: ${run.failure ?? run.reply.skipped}`)
        failed ||= run.failure !== undefined
        continue
      }
      const cpu = run.reply.result.windowCpu
      curves[config].push(cpu)
      console.error(`[round ${round}/${rounds}] ${config}: ${cpu.map((x) => x.toFixed(2)).join(" ")}`)
    }
  }
} finally {
  await server.stop()
}

const windows = n / window
const med = Object.fromEntries(
  configs.map((c) => [c, Array.from({ length: windows }, (_, i) => median(curves[c].map((curve) => curve[i])))])
)
const floor = med.floor
console.log(`## Warm-up curve: CPU ms/req per window of ${window} requests, C=${concurrency}\n`)
console.log(
  `${new Date().toISOString()} · Node ${process.version} · ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length} · ` +
    `${rounds} interleaved round(s), every client cold (no warm-up), medians; in brackets × floor\n`
)
console.log(`| requests | ${configs.join(" | ")} |`)
console.log(`|---|${configs.map(() => "---:").join("|")}|`)
for (let i = 0; i < windows; i++) {
  const cells = configs.map((c) => {
    const v = med[c][i]
    return floor !== undefined && c !== "floor" ? `${v.toFixed(3)} (${(v / floor[i]).toFixed(2)}×)` : v.toFixed(3)
  })
  console.log(`| ${i * window + 1}–${(i + 1) * window} | ${cells.join(" | ")} |`)
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify({ args, curves, medians: med }, null, 2))
process.exit(failed ? 1 : 0)

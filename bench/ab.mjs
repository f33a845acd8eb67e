// A/B of request-path settings: one server, each variant's client in its own process,
// interleaved over rounds; medians of CPU ms per request and req/s.
//   node bench/ab.mjs [--config effect-undici] [--concurrency 32] [--rounds 3] [--n 3000] [--warmup 5000]
//     [--variants ",no-timeout,no-retry"]   (each a BENCH_TWEAKS value; "" is the default path)
import { parseArgs } from "node:util"
import { median } from "./common.mjs"
import { countArg, generateKeys, runChild, startServer } from "./harness.mjs"

const { values: args } = parseArgs({
  options: {
    config: { type: "string", default: "effect-undici" },
    concurrency: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
    n: { type: "string", default: "3000" },
    warmup: { type: "string", default: "5000" },
    variants: { type: "string", default: ",no-timeout,no-retry" }
  }
})
const rounds = countArg("rounds", args.rounds)
const variants = args.variants.split(",")
const keys = generateKeys()
const server = await startServer(keys)
const results = new Map(variants.map((v) => [v, []]))
try {
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      process.env.BENCH_TWEAKS = variant
      const run = await runChild("./client.mjs", {
        config: args.config,
        baseUrl: server.baseUrl,
        n: countArg("n", args.n),
        warmup: countArg("warmup", args.warmup),
        settle: 0,
        concurrency: countArg("concurrency", args.concurrency),
        ...keys
      })
      if (run.failure !== undefined) throw new Error(`${variant}: ${run.failure}`)
      const r = run.reply.result
      results.get(variant).push(r)
      console.error(
        `[${round}/${rounds}] ${variant || "(default)"}: CPU ${r.cpuMsPerReq.toFixed(3)} ms/req, ${r.rps.toFixed(0)} req/s, peak RSS ${r.peakRssMB.toFixed(0)} MB`
      )
    }
  }
} finally {
  await server.stop()
}
console.log(`| variant | CPU ms/req (median) | req/s (median) | peak RSS MB (median) |\n|---|---:|---:|---:|`)
for (const [variant, rs] of results) {
  console.log(
    `| ${variant || "(default)"} | ${median(rs.map((r) => r.cpuMsPerReq)).toFixed(3)} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${
      median(rs.map((r) => r.peakRssMB)).toFixed(0)
    } |`
  )
}

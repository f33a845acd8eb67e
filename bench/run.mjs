// The issue-5 benchmark: `node bench/run.mjs [--rounds 3] [--n 3000] [--warmup 5000]
//   [--settle 4000] [--concurrency 1,32] [--only floor,axios-plugin,effect-undici] [--import-runs 7]
//   [--no-import] [--json results.json]`
// Needs a built library (`npx tsc -p tsconfig.build.json` writes dist/).
// Starts the loopback server, runs each configuration in its own process, interleaved
// (A B C A B C …) over the rounds at each concurrency, then prints a markdown table.
// The default warm-up (5000 requests) is what `bench/warmup-curve.mjs` measured every client,
// the floor included, to need before its CPU per request settles (about 3000–4000 here); with
// a shorter one the table mixes V8's compilation of the request path into the figures.
// The heap baseline's forced full GC comes --settle requests before the end of the warm-up
// (default 4000; --settle 0 puts it right before the measured phase, as before commit c392c62):
// after a forced GC V8 optimises much of the request path again, and the next ~3000 requests
// cost every client more, the Effect clients most (bench/README.md, "Settle").
import * as fs from "node:fs"
import * as os from "node:os"
import { parseArgs } from "node:util"
import { CONFIGS, KNOWN_CONFIGS, median } from "./common.mjs"
import { countArg, generateKeys, runChild, startServer } from "./harness.mjs"

process.on("unhandledRejection", (e) => {
  console.error("unhandled rejection:", e)
  process.exit(1)
})

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    n: { type: "string", default: "3000" },
    warmup: { type: "string", default: "5000" },
    settle: { type: "string", default: "4000" },
    concurrency: { type: "string", default: "1,32" },
    only: { type: "string", default: CONFIGS.join(",") },
    "import-runs": { type: "string", default: "7" },
    "no-import": { type: "boolean", default: false },
    json: { type: "string" },
    help: { type: "boolean", short: "h", default: false }
  }
})
if (args.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(0, 3).join("\n"))
  process.exit(0)
}

const rounds = countArg("rounds", args.rounds)
const n = countArg("n", args.n)
const warmup = countArg("warmup", args.warmup)
const settle = Math.min(warmup, countArg("settle", args.settle))
if (settle < Number(args.settle)) {
  console.error(`note: --settle ${args.settle} is more than the warm-up: the heap baseline is taken before the first request`)
}
const importRuns = countArg("import-runs", args["import-runs"])
const concurrencies = args.concurrency.split(",").map((c) => countArg("concurrency", c.trim()))
const configs = args.only.split(",").map((c) => c.trim()).filter((c) => c !== "")
for (const c of configs) {
  if (!KNOWN_CONFIGS.includes(c)) {
    console.error(`unknown configuration ${c}; known: ${KNOWN_CONFIGS.join(", ")}`)
    process.exit(2)
  }
}

if (!fs.existsSync(new URL("../dist/index.js", import.meta.url))) {
  console.error("dist/index.js is missing: run `npx tsc -p tsconfig.build.json` first")
  process.exit(2)
}

const loadAtStart = os.loadavg()[0]
const failures = []
const notes = []
const started = Date.now()
const keys = generateKeys()
const server = await startServer(keys)
if (loadAtStart > 0.5) {
  console.error(`warning: 1-minute load average is ${loadAtStart.toFixed(2)}; other work on this machine will skew the numbers`)
}
console.error(`server at ${server.baseUrl}; ${rounds} round(s) × C=${concurrencies.join(",")} × ${configs.join(", ")}; n=${n}, warmup=${warmup}, settle=${settle}`)

// ---------------------------------------------------------------------------
// Throughput runs
// ---------------------------------------------------------------------------

const results = [] // { config, concurrency, round, ...result, serverCpuMsPerReq }
const skipped = new Map() // config -> reason
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "n/a")

try {
  for (let round = 1; round <= rounds; round++) {
    for (const concurrency of concurrencies) {
      for (const config of configs) {
        if (skipped.has(config)) continue
        const before = await server.stats()
        const run = await runChild("./client.mjs", {
          config,
          baseUrl: server.baseUrl,
          n,
          warmup,
          settle,
          concurrency,
          merchantKey: keys.merchantKey,
          platformPublicKey: keys.platformPublicKey,
          pubKeyId: keys.pubKeyId
        }, { execArgv: ["--expose-gc"] })
        const after = await server.stats()
        const label = `[round ${round}/${rounds}] C=${concurrency} ${config}`
        if (run.failure !== undefined) {
          failures.push(`${label}: ${run.failure}`)
          console.error(`${label}: FAILED, ${run.failure}`)
          continue
        }
        if (run.reply.skipped) {
          skipped.set(config, run.reply.skipped)
          console.error(`${label}: skipped, ${run.reply.skipped}`)
          continue
        }
        const r = run.reply.result
        const served = after.requests - before.requests
        const serverCpu = (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000
        results.push({ ...r, round, serverCpuMsPerReq: served > 0 ? serverCpu / served : NaN })
        console.error(
          `${label}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, ` +
            `CPU ${fmt(r.cpuMsPerReq, 3)} ms/req, peak RSS ${fmt(r.peakRssMB, 0)} MB, ` +
            `heap ${fmt(r.heapStartMB, 1)} MB ${r.heapGrowthMB >= 0 ? "+" : ""}${fmt(r.heapGrowthMB, 1)} MB, setup ${fmt(r.setupMs, 0)} ms` +
            (r.atPeakMB === undefined
              ? ""
              : ` (at peak RSS: heap ${r.atPeakMB.heapUsed}/${r.atPeakMB.heapTotal} MB, external ${r.atPeakMB.external} MB)`) +
            (r.threads === undefined || Object.keys(r.threads).length === 0
              ? ""
              : `; µs/req by thread: ${Object.entries(r.threads).filter(([, us]) => us > 0).map(([name, us]) => `${name} ${fmt(us, 0)}`).join(", ")}`)
        )
      }
    }
  }
} finally {
  // Import cost needs no server.
  await server.stop()
}

// ---------------------------------------------------------------------------
// Import cost
// ---------------------------------------------------------------------------

const importTimes = new Map()
if (!args["no-import"]) {
  const modes = ["platform", "lib"]
  const skippedModes = new Set()
  // One discarded round first (file-system cache), then `importRuns` interleaved rounds.
  for (let i = 0; i <= importRuns; i++) {
    for (const mode of modes) {
      if (skippedModes.has(mode)) continue
      const run = await runChild("./import-cost.mjs", { mode, ...keys }, { timeoutMs: 60_000 })
      if (run.failure !== undefined) {
        failures.push(`import cost ${mode}: ${run.failure}`)
        skippedModes.add(mode)
        continue
      }
      if (run.reply.skipped) {
        skippedModes.add(mode)
        notes.push(`import cost ${mode}: skipped (${run.reply.skipped})`)
        continue
      }
      if (i > 0) importTimes.set(mode, [...(importTimes.get(mode) ?? []), run.reply.ms])
    }
  }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const cpus = os.cpus()
const out = []
out.push(`## Benchmark`)
out.push("")
out.push(
  `${new Date().toISOString()} · Node ${process.version} · ${cpus[0]?.model ?? "unknown CPU"} × ${cpus.length} cores · ` +
    `${os.platform()} ${os.release()} · load average at start ${loadAtStart.toFixed(2)}, at end ${os.loadavg()[0].toFixed(2)}`
)
out.push(
  `${rounds} interleaved round(s), N=${n} after ${warmup} warm-up requests (the heap baseline's forced GC ${settle} before their end), three endpoints round-robin, ` +
    `loopback server in its own process; medians over rounds, CPU = client process.cpuUsage() over the measured phase.`
)
out.push("")
out.push("| client | C | req/s median (min–max) | p50 ms | p99 ms | CPU ms/req | peak RSS MB | heap Δ MB | CPU × floor | req/s × floor | CPU × axios | req/s × axios |")
out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
const group = (config, concurrency) => results.filter((r) => r.config === config && r.concurrency === concurrency)
for (const concurrency of concurrencies) {
  const floor = group("floor", concurrency)
  const floorCpu = median(floor.map((r) => r.cpuMsPerReq))
  const floorRps = median(floor.map((r) => r.rps))
  const axios = group("axios-plugin", concurrency)
  const axiosCpu = median(axios.map((r) => r.cpuMsPerReq))
  const axiosRps = median(axios.map((r) => r.rps))
  for (const config of configs) {
    const g = group(config, concurrency)
    if (g.length === 0) {
      out.push(`| ${config} | ${concurrency} | ${skipped.has(config) ? "skipped" : "failed"} | | | | | | | | | |`)
      continue
    }
    const rps = g.map((r) => r.rps)
    const cpu = median(g.map((r) => r.cpuMsPerReq))
    out.push(
      `| ${config} | ${concurrency} | ` +
        `${fmt(median(rps), 0)} (${fmt(Math.min(...rps), 0)}–${fmt(Math.max(...rps), 0)}) | ` +
        `${fmt(median(g.map((r) => r.p50)))} | ${fmt(median(g.map((r) => r.p99)))} | ${fmt(cpu, 3)} | ` +
        `${fmt(median(g.map((r) => r.peakRssMB)), 0)} | ${fmt(median(g.map((r) => r.heapGrowthMB)), 1)} | ${fmt(cpu / floorCpu)}× | ${fmt(median(rps) / floorRps)}× | ${fmt(cpu / axiosCpu)}× | ${fmt(median(rps) / axiosRps)}× |`
    )
  }
}
out.push("")
out.push(
  `Peak RSS: client process, sampled every 50 ms over its whole life (imports, warm-up, measured phase). ` +
    `Heap Δ: heapUsed after a full GC, end of the measured phase minus ${settle} requests before the end of warm-up (growth check). ` +
    `Server CPU: median ${fmt(median(results.map((r) => r.serverCpuMsPerReq)), 3)} ms/req.`
)

if (importTimes.size > 0) {
  const base = median(importTimes.get("platform") ?? [])
  out.push("")
  out.push(`Import cost (fresh process each, ${importRuns} interleaved runs after one discarded round, node start-up excluded):`)
  out.push("")
  out.push("| what | median ms (min–max) | × NodeHttpClient alone |")
  out.push("|---|---:|---:|")
  const label = {
    platform: `import "@effect/platform-node/NodeHttpClient"`,
    lib: "root module + NodeHttpClient + building the layers (layerUndici)"
  }
  for (const [mode, xs] of importTimes) {
    out.push(
      `| ${label[mode]} | ${fmt(median(xs), 0)} (${fmt(Math.min(...xs), 0)}–${fmt(Math.max(...xs), 0)}) | ${fmt(median(xs) / base)}× |`
    )
  }
}

for (const [config, reason] of skipped) notes.push(`${config}: skipped (${reason})`)
if (notes.length + failures.length > 0) out.push("")
for (const note of notes) out.push(`- note: ${note}`)
for (const failure of failures) out.push(`- FAILURE: ${failure}`)
out.push("")
out.push(`Total bench time: ${fmt((Date.now() - started) / 1000, 0)} s.`)
console.log(out.join("\n"))

if (args.json) {
  fs.writeFileSync(args.json, JSON.stringify({ args: { ...args, settle: String(settle) }, results, importTimes: Object.fromEntries(importTimes), failures, notes }, null, 2))
}
process.exitCode = failures.length > 0 ? 1 : 0

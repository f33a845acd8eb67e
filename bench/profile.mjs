// CPU profile of one client configuration over the measured phase only, with self
// time aggregated per package / node subsystem and the top functions.
//   node bench/profile.mjs [--config effect-undici] [--concurrency 1] [--n 3000]
//     [--warmup 500] [--top 25] [--out /tmp/bench-profiles]
// The .cpuprofile is kept (open it in Chrome DevTools or speedscope).
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { shortUrl } from "./common.mjs"
import { oneClientArgs, runOneClient } from "./harness.mjs"

process.on("unhandledRejection", (e) => {
  console.error("unhandled rejection:", e)
  process.exit(1)
})

const args = oneClientArgs("effect-undici", {
  top: { type: "string", default: "25" },
  out: { type: "string", default: path.join(os.tmpdir(), "bench-profiles") }
})
const n = Number(args.n), concurrency = Number(args.concurrency)
fs.mkdirSync(args.out, { recursive: true })
const file = path.join(args.out, `${args.config}-c${concurrency}-${Date.now()}.cpuprofile`)

const reply = await runOneClient(args, { profile: file })
if (reply.skipped) {
  console.log(`${args.config}: skipped (${reply.skipped})`)
  process.exit(0)
}

// ---------------------------------------------------------------------------
// Aggregation
// ---------------------------------------------------------------------------

const profile = JSON.parse(fs.readFileSync(file, "utf8"))
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const selfUs = new Map() // node id -> µs
for (let i = 0; i < profile.samples.length; i++) {
  // timeDeltas[i] is the time before sample i; attribute the following interval to sample i.
  const dt = profile.timeDeltas[i + 1] ?? 0
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt)
}

const bucketOf = (frame) => {
  const { url, functionName } = frame
  if (url === "") {
    if (functionName.startsWith("(")) return functionName
    // Synchronous crypto.sign/verify run their job natively ("run", "SignJob").
    return functionName === "run" || functionName === "SignJob" ? "node:crypto (native RSA)" : `native ${functionName}`
  }
  if (url.startsWith("wasm://")) return "undici (llhttp wasm)"
  if (url.startsWith("node:")) {
    const rest = url.slice(5).replace(/^internal\//, "")
    return `node:${rest.split("/")[0]}`
  }
  const nm = url.lastIndexOf("/node_modules/")
  if (nm !== -1) {
    const parts = url.slice(nm + 14).split("/")
    return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  if (url.includes("/dist/")) return "effect-wechatpay (dist)"
  if (url.includes("/bench/")) return "bench"
  return url
}

const buckets = new Map(), functions = new Map(), files = new Map()
let total = 0
for (const [id, us] of selfUs) {
  const { callFrame } = byId.get(id)
  if (callFrame.functionName === "(idle)") continue
  total += us
  const bucket = bucketOf(callFrame)
  buckets.set(bucket, (buckets.get(bucket) ?? 0) + us)
  if (callFrame.url !== "") {
    const f = shortUrl(callFrame.url)
    files.set(f, (files.get(f) ?? 0) + us)
  }
  const key = `${callFrame.functionName || "(anonymous)"}  ${shortUrl(callFrame.url)}:${callFrame.lineNumber + 1}`
  functions.set(key, (functions.get(key) ?? 0) + us)
}

const top = Number(args.top)
const table = (title, map, limit) => {
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)
  console.log(`\n${title}\n\n| | µs/req | share |\n|---|---:|---:|`)
  for (const [k, us] of rows) console.log(`| ${k} | ${(us / n).toFixed(1)} | ${((100 * us) / total).toFixed(1)} % |`)
}
const r = reply.result
console.log(
  `## CPU profile: ${args.config}, C=${concurrency}, N=${n} (measured phase only, 100 µs sampling)\n\n` +
    `main-thread samples ${(total / n).toFixed(0)} µs/req (process.cpuUsage ${(r.cpuMsPerReq * 1000).toFixed(0)} µs/req, ` +
    `${r.rps.toFixed(0)} req/s). Profile: ${file}`
)
table("Self time by package / node subsystem", buckets, 30)
table("Self time by file (top 15)", files, 15)
table(`Top ${top} functions by self time`, functions, top)

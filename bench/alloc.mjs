// Allocation profile of one client configuration over the measured phase: V8's sampling
// heap profiler (512-byte interval), bytes per request by allocating function.
//   node bench/alloc.mjs [--config effect-undici] [--concurrency 1] [--kind all|promoted] [--top 30]
// "all" counts every sampled allocation; "promoted" only objects that outlived a scavenge
// (collected by a major GC or still alive), which is what grows the old generation.
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { shortUrl } from "./common.mjs"
import { oneClientArgs, runOneClient } from "./harness.mjs"

const args = oneClientArgs("effect-undici", {
  kind: { type: "string", default: "all" },
  top: { type: "string", default: "30" },
  out: { type: "string", default: path.join(os.tmpdir(), "bench-profiles") }
})
if (!["all", "promoted"].includes(args.kind)) {
  console.error("usage: --kind all|promoted")
  process.exit(2)
}
const n = Number(args.n)
fs.mkdirSync(args.out, { recursive: true })
const file = path.join(args.out, `${args.config}-c${args.concurrency}-${args.kind}-${Date.now()}.heapprofile`)
await runOneClient(args, { profile: file, heap: args.kind })
const { head } = JSON.parse(fs.readFileSync(file, "utf8"))
const byFunction = new Map()
let total = 0
const walk = (node) => {
  const { functionName, url, lineNumber } = node.callFrame
  const key = `${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize)
  total += node.selfSize
  for (const child of node.children) walk(child)
}
walk(head)
console.log(`## Allocations (${args.kind}): ${args.config}, C=${args.concurrency}, N=${n}\n`)
console.log(`${(total / n / 1024).toFixed(1)} KB/req sampled. Profile: ${file}\n\n| function | bytes/req | share |\n|---|---:|---:|`)
for (const [k, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) {
  console.log(`| ${k} | ${(bytes / n).toFixed(0)} | ${((100 * bytes) / total).toFixed(1)} % |`)
}

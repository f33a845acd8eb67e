// What a forced GC right before the measured phase costs (bench/README.md, "Settle"): one
// client, a warm-up, then N requests in windows, CPU per request of each window; every round runs
// the client twice, once with a forced global.gc() right before the measured phase (how run.mjs
// took its heap baseline before --settle) and once without any forced GC, then prints the
// medians over the rounds window by window.
//   node bench/settle.mjs [--config effect-undici] [--concurrency 1] [--warmup 5000] [--n 10000]
//     [--windows 1000] [--rounds 2]
import { countArg, oneClientArgs, runOneClient } from "./harness.mjs"
import { median } from "./common.mjs"

const args = oneClientArgs("effect-undici", {
  warmup: { type: "string", default: "5000" },
  n: { type: "string", default: "10000" },
  rounds: { type: "string", default: "2" }
})
const windows = Number(args.windows) > 0 ? Number(args.windows) : 1000
const rounds = countArg("rounds", args.rounds)
if (Number(args.settle) !== 0) console.error("note: --settle is ignored here (the point is where the forced GC goes)")
const runs = { forced: [], none: [] }
for (let round = 1; round <= rounds; round++) {
  for (const mode of ["forced", "none"]) {
    // settle 0 + --expose-gc: the GC right before the measured phase; without --expose-gc none at all
    const reply = await runOneClient({ ...args, settle: "0" }, { windows }, mode === "forced" ? ["--expose-gc"] : [])
    const r = reply.result
    runs[mode].push(r.windowCpu)
    console.error(`[round ${round}/${rounds}] ${mode === "forced" ? "forced GC" : "no forced GC"}: ` +
      `${r.windowCpu.map((x) => x.toFixed(3)).join(" ")} (all ${r.cpuMsPerReq.toFixed(3)} ms/req)`)
  }
}
console.log(`## ${args.config}, C=${args.concurrency}: CPU ms/req per window of ${windows} after ${args.warmup} warm-up requests (median of ${rounds})\n`)
console.log("| requests | forced GC before | no forced GC |\n|---|---:|---:|")
for (let i = 0; i < runs.forced[0].length; i++) {
  const from = i * windows + 1
  console.log(`| ${from}–${from + windows - 1} | ${median(runs.forced.map((w) => w[i])).toFixed(3)} | ${median(runs.none.map((w) => w[i])).toFixed(3)} |`)
}

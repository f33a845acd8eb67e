// The fleet benchmark (issue 14): `npm run bench:fleet [-- --lookups 20000 --users 2000
//   --workers 4 --limit 150 --concurrency 16 --only cache,no-cache]`
// Needs a built library (npm run bench:fleet builds it) and redis-server on the PATH.
//
// A merchant's fleet of `--workers` processes (bench/fleet-worker.mjs) shares one redis-server
// (a rate limit of `--limit`/s, and in the "cache" run a lookup cache) against one sandbox
// limiting Business Circle's authorization query at `--limit`/s, as WeChat Pay does at 150/s.
// The `--lookups` lookups ask about users drawn from a Zipf distribution (s = 1) over `--users`
// openids, split evenly across the workers. Reported, with and without the cache: the calls
// that reached the sandbox per lookup, the most requests it saw in one second, p50/p99 lookup
// latency (from the worker's side, rate-limit waits included) and wall time.
import { Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { parseArgs } from "node:util"
import { Sandbox } from "../dist/sandbox/index.js"
import { quantile } from "./common.mjs"
import { startRedis } from "./redis.mjs"

const { values: args } = parseArgs({
  options: {
    lookups: { type: "string", default: "20000" },
    users: { type: "string", default: "2000" },
    workers: { type: "string", default: "4" },
    limit: { type: "string", default: "150" },
    concurrency: { type: "string", default: "16" },
    only: { type: "string", default: "no-cache,cache" },
    seed: { type: "string", default: "14" }
  }
})
const LOOKUPS = Number(args.lookups)
const USERS = Number(args.users)
const WORKERS = Number(args.workers)
const LIMIT = Number(args.limit)
const WORKER = path.join(import.meta.dirname, "fleet-worker.mjs")
const APPID = "wxd678efh567hg6787"

/** A seeded generator (mulberry32), so both runs ask the same sequence. */
const random = (seed) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** `count` user ranks from a Zipf distribution (s = 1) over `n` users. */
const zipf = (n, count, next) => {
  const cumulative = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) cumulative[k - 1] = sum += 1 / k
  return Array.from({ length: count }, () => {
    const x = next() * sum
    let lo = 0, hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid] < x) lo = mid + 1
      else hi = mid
    }
    return lo
  })
}

/** Starts a worker; `ready` once it is warm and waits for SIGUSR2, `done` with its figures. */
const startWorker = (config) => {
  const child = spawn(process.execPath, [WORKER], { stdio: ["pipe", "pipe", "inherit"] })
  child.stdin.end(JSON.stringify(config))
  let markReady
  const ready = new Promise((resolve) => (markReady = resolve))
  let figures
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line)
    if (message.ready === true) markReady()
    if (message.done !== undefined) figures = message.done
  })
  const done = new Promise((resolve, reject) =>
    child.on("exit", (code) => code === 0 && figures !== undefined ? resolve(figures) : reject(new Error(`worker exited with ${code}`)))
  )
  return { ready, done, go: () => child.kill("SIGUSR2") }
}

const ranks = zipf(USERS, LOOKUPS, random(Number(args.seed)))

const run = (cache) =>
  Effect.gen(function*() {
    const redis = yield* Effect.acquireRelease(Effect.promise(startRedis), (r) => Effect.sync(r.stop))
    const sandbox = yield* Sandbox.make({ rateLimit: { "businesscircle.userAuthorization": LIMIT } })
    const c = sandbox.credentials
    const base = {
      baseUrl: sandbox.baseUrl,
      mchid: c.mchid,
      serialNo: c.merchantSerialNo,
      privateKeyPem: Redacted.value(c.merchantPrivateKey),
      publicKeyId: c.platformPublicKeyId,
      publicKeyPem: c.platformPublicKeyPem,
      redisPort: redis.port,
      limit: LIMIT,
      cache
    }
    const workers = Array.from({ length: WORKERS }, (_, w) =>
      startWorker({
        ...base,
        job: {
          kind: "lookups",
          lookups: ranks.filter((_, i) => i % WORKERS === w).map((rank) => ({ endpoint: "bc", openid: `oZipf${rank}`, appid: APPID })),
          concurrency: Number(args.concurrency),
          onSignal: true
        }
      }))
    yield* Effect.promise(() => Promise.all(workers.map((w) => w.ready)))
    const started = performance.now()
    for (const w of workers) w.go()
    const results = yield* Effect.promise(() => Promise.all(workers.map((w) => w.done)))
    const wall = performance.now() - started
    const counts = (yield* sandbox.requestCounts).filter((x) => x.route === "businesscircle.userAuthorization")
    const calls = counts.reduce((n, x) => n + x.count, 0)
    const latencies = results.flatMap((r) => r.latencies)
    const failures = results.reduce((all, r) => {
      for (const [k, v] of Object.entries(r.failures)) all[k] = (all[k] ?? 0) + v
      return all
    }, {})
    return {
      run: cache ? "cache" : "no cache",
      answered: latencies.length,
      failures,
      callsPerLookup: calls / LOOKUPS,
      limited: counts.reduce((n, x) => n + x.limited, 0),
      maxPerSecond: Math.max(...counts.map((x) => x.count)),
      p50: quantile(latencies, 0.5),
      p99: quantile(latencies, 0.99),
      wallSeconds: wall / 1000
    }
  }).pipe(Effect.scoped)

const distinct = new Set(ranks).size
console.log(`fleet: ${WORKERS} workers, ${LOOKUPS} lookups over ${USERS} users (Zipf s=1, ${distinct} distinct), sandbox and limiter at ${LIMIT}/s`)
const rows = []
for (const which of args.only.split(",")) {
  rows.push(await Effect.runPromise(run(which === "cache")))
}
console.log("\n| run | answered | calls per lookup | 429s | max req/s at the sandbox | p50 ms | p99 ms | wall s |")
console.log("|---|---|---|---|---|---|---|---|")
for (const r of rows) {
  console.log(`| ${r.run} | ${r.answered}${Object.keys(r.failures).length ? ` (failed: ${JSON.stringify(r.failures)})` : ""} | ${r.callsPerLookup.toFixed(3)} | ${r.limited} | ${r.maxPerSecond} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.wallSeconds.toFixed(1)} |`)
}

import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import * as readline from "node:readline"
import { Sandbox } from "../src/sandbox/index.js"
import { eventually, freePort } from "./helpers/loopback.js"
import { redisServer } from "./helpers/redis.js"
import { APPID, SERVICE_ID } from "./helpers/world.js"

/**
 * A merchant's fleet: separate OS processes (bench/fleet-worker.mjs, running
 * the built package) sharing one real redis-server, against one sandbox.
 * What they sent is counted from WeChat Pay's side.
 */

const WORKER = path.join(import.meta.dirname, "../bench/fleet-worker.mjs")

interface Done {
  readonly ok: number
  readonly failures: Record<string, number>
  readonly latencies: ReadonlyArray<number>
  readonly answers: ReadonlyArray<{ readonly answer: Record<string, unknown>; readonly dates: ReadonlyArray<string> }>
  readonly wallMillis: number
}

interface Worker {
  readonly lines: Array<Record<string, any>>
  /** Starts the lookups of a worker waiting on a signal. */
  readonly go: () => void
  readonly done: Effect.Effect<Done>
  readonly ready: Effect.Effect<void>
}

/** Starts a worker process, stopped with the scope. */
const worker = (sandbox: Sandbox.Service, redisPort: number, options: Record<string, unknown>) =>
  Effect.gen(function*() {
    const c = sandbox.credentials
    const config = {
      baseUrl: sandbox.baseUrl,
      mchid: c.mchid,
      serialNo: c.merchantSerialNo,
      privateKeyPem: Redacted.value(c.merchantPrivateKey!),
      publicKeyId: c.platformPublicKeyId,
      publicKeyPem: c.platformPublicKeyPem,
      apiV3Key: Redacted.value(c.apiV3Key),
      redisPort,
      ...options
    }
    const child: ChildProcess = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [WORKER], { stdio: ["pipe", "pipe", "inherit"] })
        child.stdin!.end(JSON.stringify(config))
        return child
      }),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const lines: Array<Record<string, any>> = []
    readline.createInterface({ input: child.stdout! }).on("line", (line) => lines.push(JSON.parse(line)))
    const exited = Effect.async<number | null>((resume) => {
      if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
      child.once("exit", (code) => resume(Effect.succeed(code)))
    })
    const result: Worker = {
      lines,
      go: () => void child.kill("SIGUSR2"),
      done: Effect.flatMap(exited, (code) => {
        const done = lines.find((l) => l.done !== undefined)?.done as Done | undefined
        return code === 0 && done !== undefined ? Effect.succeed(done) : Effect.dieMessage(`worker exited with ${code}`)
      }),
      ready: Effect.gen(function*() {
        for (let i = 0; i < 400 && !lines.some((l) => l.ready === true); i++) yield* Effect.sleep("50 millis")
        if (!lines.some((l) => l.ready === true)) return yield* Effect.dieMessage("worker not ready within 20 s")
      })
    }
    return result
  })

const bc = (openid: string) => ({ endpoint: "bc", openid, appid: APPID })
const payscore = (openid: string) => ({ endpoint: "payscore", openid, appid: APPID, service_id: SERVICE_ID })

describe("a fleet of processes sharing Redis", () => {
  it.scopedLive("four processes sharing one Redis limiter of 50/s against a sandbox limiting at 50/s for 5 s: the sandbox never sees more than 50 + one burst of 5 in a second, and no lookup is lost", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const sandbox = yield* Sandbox.make({ rateLimit: { "businesscircle.userAuthorization": 50 } })
      const workers = yield* Effect.forEach([0, 1, 2, 3], (w) =>
        worker(sandbox, redis.port, {
          limit: 50,
          // a 429 from a request that woke late is retried until it goes through
          maxAttempts: 6,
          job: {
            kind: "lookups",
            // 4 × 63 distinct users: 250 lookups take 5 s at 50/s
            lookups: Array.from({ length: 63 }, (_, i) => bc(`oFleet${w}x${i}`)).slice(0, w === 3 ? 61 : 63),
            concurrency: 16,
            onSignal: true
          }
        }))
      for (const w of workers) yield* w.ready
      for (const w of workers) w.go()
      const done = yield* Effect.forEach(workers, (w) => w.done, { concurrency: "unbounded" })
      const counts = (yield* sandbox.requestCounts).filter((c) => c.route === "businesscircle.userAuthorization")
      const total = counts.reduce((n, c) => n + c.count, 0)
      const limited = counts.reduce((n, c) => n + c.limited, 0)
      const highest = Math.max(...counts.map((c) => c.count))
      if (process.env.FLEET_VERBOSE) console.log(JSON.stringify({ counts, limited, walls: done.map((d) => Math.round(d.wallMillis)) }))
      assert.strictEqual(done.reduce((n, d) => n + d.ok, 0), 250, JSON.stringify(done.map((d) => d.failures)))
      assert.strictEqual(total - limited, 250, "each lookup answered once")
      assert.isAtMost(highest, 55, JSON.stringify(counts))
      assert.isAtLeast(counts.length, 5, "paced over five seconds or more")
    }), { timeout: 60_000 })

  it.scopedLive("the cache is shared: a second process gets the first one's answer without a call; a notification handled by a third drops it", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const notifyPort = yield* freePort
      const sandbox = yield* Sandbox.make({
        notifyUrl: `http://127.0.0.1:${notifyPort}/`,
        notifyTimeScale: 0.001,
        seed: {
          payscore: [{
            service_id: SERVICE_ID,
            appid: APPID,
            openid: "oShared",
            authorization_success_time: "2026-12-01T10:00:00+08:00"
          }]
        }
      })
      const calls = Effect.map(sandbox.requests, (rs) => rs.filter((r) => r.route === "payscore.openid").length)
      const lookupOnce = () => Effect.flatMap(worker(sandbox, redis.port, { cache: true, job: { kind: "lookups", lookups: [payscore("oShared")], concurrency: 1 } }), (w) => w.done)
      const first = yield* lookupOnce()
      const second = yield* lookupOnce()
      assert.strictEqual(yield* calls, 1, "the second process made no call")
      assert.deepStrictEqual(second.answers, first.answers)
      assert.deepStrictEqual(second.answers[0]!.dates, ["authorization_success_time"], "a Date is still a Date")

      const notified = yield* worker(sandbox, redis.port, { cache: true, job: { kind: "notify", port: notifyPort } })
      yield* notified.ready
      yield* sandbox.closePayscore({ service_id: SERVICE_ID, openid: "oShared" })
      assert.isTrue(yield* eventually(() => notified.lines.some((l) => l.handled !== undefined)))
      const third = yield* lookupOnce()
      assert.strictEqual(yield* calls, 2, "the drop reached the other processes")
      assert.strictEqual(third.answers[0]!.answer.authorization_state, "UNAVAILABLE")
    }), { timeout: 60_000 })

  it.scopedLive("a notification delivered at once to two processes runs the handler once; the one turned away is answered on the next delivery", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const [portA, portB, front] = [yield* freePort, yield* freePort, yield* freePort]
      // a load balancer in front of the two processes: each delivery to the next one
      let next = 0
      const hits = [0, 0]
      const balancer = http.createServer((request, response) => {
        const target = next++ % 2
        hits[target]!++
        const forward = http.request({ host: "127.0.0.1", port: target === 0 ? portA : portB, method: request.method, path: request.url, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(response)
        })
        forward.on("error", () => response.writeHead(502).end())
        request.pipe(forward)
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void balancer.listen(front, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => balancer.close())
      )
      const sandbox = yield* Sandbox.make({ notifyUrl: `http://127.0.0.1:${front}/`, notifyTimeScale: 0.001 })
      const a = yield* worker(sandbox, redis.port, { job: { kind: "notify", port: portA, handlerMillis: 300 } })
      const b = yield* worker(sandbox, redis.port, { job: { kind: "notify", port: portB, handlerMillis: 300 } })
      yield* a.ready
      yield* b.ready
      const id = yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: "oTwice" }, { copies: 2 })
      const deliveries = Effect.map(sandbox.notifications, (ds) => ds.filter((d) => d.id === id && !d.probe))
      // WeChat Pay's schedule a thousand times faster: the turned-away copy comes again within a second or two
      for (let i = 0; i < 100 && !(yield* deliveries).some((d) => d.status === 204); i++) yield* Effect.sleep("50 millis")
      yield* Effect.sleep("1 second")
      const handled = [...a.lines, ...b.lines].filter((l) => l.handled === id)
      assert.strictEqual(handled.length, 1, "the handler ran once across both processes")
      assert.isTrue(hits[0]! >= 1 && hits[1]! >= 1, "both processes were delivered to")
      const statuses = (yield* deliveries).map((d) => d.status)
      assert.include(statuses, 500, "the copy that came while the other was handled was turned away")
      assert.include(statuses, 204)
    }), { timeout: 60_000 })
})

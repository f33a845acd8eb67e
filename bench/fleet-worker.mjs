// One process of a merchant's fleet, for the fleet tests (test/fleet.test.ts) and the fleet
// benchmark (bench/fleet.mjs). It runs the built package (dist/) as an application would:
// its own Signer, Verifier and HTTP client, and, as asked, a rate limit, a lookup cache and a
// notification dedupe shared through Redis.
//
// Its job comes as JSON on stdin (see `Job` below); it prints
// JSON lines on stdout: {"ready":true} once it serves (or, for lookups on a signal, once it is
// warm and waits for SIGUSR2), {"handled":…} for each notification its handler runs, and
// {"done":…} with what its lookups gave.
import * as HttpServer from "@effect/platform/HttpServer"
import { layerUndici } from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as fs from "node:fs"
import { createServer } from "node:http"
import { BusinessCircle, LookupCache, Notifications, Payscore, RateLimit, Signer, Verifier, Wechatpay } from "../dist/index.js"
import { Redis } from "../dist/redis/index.js"

/**
 * @typedef {{
 *   baseUrl: string, mchid: string, serialNo: string, privateKeyPem: string,
 *   publicKeyId: string, publicKeyPem: string, apiV3Key?: string, redisPort: number,
 *   limit?: number, cache?: boolean, maxAttempts?: number,
 *   job:
 *     | { kind: "lookups", lookups: Array<{ endpoint: "bc" | "payscore", openid: string, appid: string, service_id?: string }>, concurrency: number, onSignal?: boolean }
 *     | { kind: "notify", port: number, handlerMillis?: number }
 * }} Job
 */
/** @type {Job} */
const job = JSON.parse(fs.readFileSync(0, "utf8"))
const redis = { host: "127.0.0.1", port: job.redisPort, prefix: "fleet:" }
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n")

const Client = Layer.mergeAll(
  Signer.layer({ mchid: job.mchid, serialNo: job.serialNo, privateKey: Redacted.make(job.privateKeyPem) }),
  Verifier.layer({ publicKeys: { [job.publicKeyId]: job.publicKeyPem } }),
  Layer.succeed(Wechatpay.BaseUrl, job.baseUrl),
  job.maxAttempts === undefined
    ? Layer.empty
    : Layer.succeed(Wechatpay.Retry, { maxAttempts: job.maxAttempts, baseDelay: "200 millis", maxDelay: "2 seconds", jitter: true }),
  layerUndici
)
const Fleet = Layer.mergeAll(
  job.limit === undefined
    ? Layer.empty
    : RateLimit.layer({ limits: { "BusinessCircle.getUserAuthorization": job.limit } }).pipe(
      Layer.provide(Redis.layerRateLimiterStore(redis))
    ),
  job.cache === true ? LookupCache.layer().pipe(Layer.provide(Redis.layerResultPersistence(redis))) : Layer.empty
)

const lookup = (l) =>
  l.endpoint === "bc"
    ? BusinessCircle.getUserAuthorization({ openid: l.openid, params: { appid: l.appid } })
    : Payscore.getPermissionsByOpenid({ openid: l.openid, params: { service_id: l.service_id, appid: l.appid } })

const lookups = (j) =>
  Effect.gen(function*() {
    if (j.onSignal === true) {
      // warm (one Pay Score lookup: not the limited route, no token taken), say so, and wait for
      // the word: all workers then start together, none still loading while the others run
      yield* Effect.ignore(lookup({ endpoint: "payscore", openid: "oWarmUp", appid: "wxwarmup", service_id: "0" }))
      // listening before saying so: SIGUSR2 would otherwise end the process
      const go = new Promise((resolve) => process.once("SIGUSR2", resolve))
      print({ ready: true })
      yield* Effect.promise(() => go)
    }
    const started = performance.now()
    const latencies = []
    const failures = {}
    const answers = []
    yield* Effect.forEach(j.lookups, (l, i) => {
      const t = performance.now()
      return lookup(l).pipe(
        Effect.tap((answer) =>
          Effect.sync(() => {
            latencies.push(performance.now() - t)
            const dates = Object.entries(answer).filter(([, v]) => v instanceof Date).map(([k]) => k)
            if (i < 10) answers.push({ answer: JSON.parse(JSON.stringify(answer)), dates })
          })
        ),
        Effect.catchAll((error) =>
          Effect.sync(() => {
            const key = error._tag === "BusinessError" ? `BusinessError:${error.status}:${error.code}` : error._tag
            failures[key] = (failures[key] ?? 0) + 1
          })
        )
      )
    }, { concurrency: j.concurrency, discard: true })
    print({ done: { ok: latencies.length, failures, latencies, answers, wallMillis: performance.now() - started } })
  }).pipe(Effect.provide(Layer.provideMerge(Fleet, Client)))

const notify = (j) =>
  Effect.gen(function*() {
    const handler = (n) =>
      Effect.sleep(j.handlerMillis ?? 0).pipe(
        Effect.zipRight(Effect.sync(() => print({ handled: n.id, event: n.event_type })))
      )
    const server = HttpServer.serve(Notifications.httpApp(handler)).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port: j.port, host: "127.0.0.1" })),
      Layer.provide(Notifications.layer({ apiV3Key: Redacted.make(job.apiV3Key) })),
      Layer.provide(Verifier.layer({ publicKeys: { [job.publicKeyId]: job.publicKeyPem } })),
      Layer.provide(Redis.layerDedupe(redis)),
      Layer.provide(Fleet)
    )
    yield* Layer.launch(Layer.tap(server, () => Effect.sync(() => print({ ready: true }))))
  })

const main = job.job.kind === "lookups" ? lookups(job.job) : notify(job.job)
Effect.runPromise(main.pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`fleet worker failed: ${error}\n`)
    process.exit(1)
  }
)
process.on("SIGTERM", () => process.exit(0))

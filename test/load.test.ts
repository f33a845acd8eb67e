import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { BusinessCircle, Payscore, Wechatpay, type WechatpayError } from "../src/index.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"

/**
 * Load: 10 000 lookups at concurrency 64 against a sandbox in another process
 * (the CLI's `sandbox` command), the three queries round-robin, a tenth of
 * them for unknown users (typed 404s), with retries on: every
 * lookup accounted for, heap growth bounded after a forced GC, no socket left
 * open once the runtime is disposed.
 */

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli", "bin.js")
const APPID = "wxd678efh567hg6787"
const OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" // a demo user of the sandbox
const TOTAL = 10_000
const CONCURRENCY = 64

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length

const lookup = (i: number): Effect.Effect<unknown, WechatpayError, Wechatpay.Requirements> => {
  const unknown = i % 10 === 9
  const openid = unknown ? `oUnknown${i}` : OPENID
  switch (i % 3) {
    case 0:
      return Payscore.getPermissionsByOpenid({ openid, params: { service_id: "500001", appid: APPID } })
    case 1:
      return Payscore.getPermissionsByAuthorizationCode({
        authorization_code: unknown ? `X${i}` : "1234323JKHDFE1243252",
        params: { service_id: "500001" }
      })
    default:
      return BusinessCircle.getUserAuthorization({ openid, params: { appid: APPID } })
  }
}

describe("load", () => {
  it.live("10 000 lookups at concurrency 64: all accounted for, bounded heap, no sockets left", () =>
    Effect.gen(function*() {
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [BIN, "sandbox", "--json"], { stdio: ["ignore", "pipe", "inherit"] })),
        (c) =>
          c.exitCode !== null ? Effect.void : Effect.async<void>((resume) => {
            c.once("exit", () => resume(Effect.void))
            c.kill("SIGINT")
          })
      )
      const env = yield* Effect.async<Record<string, string>>((resume) => {
        let buffer = ""
        child.stdout.on("data", (chunk) => {
          buffer += chunk
          if (buffer.includes("\n")) resume(Effect.succeed(JSON.parse(buffer.slice(0, buffer.indexOf("\n"))).env))
        })
      })
      const socketsBefore = sockets()
      const runtime = ManagedRuntime.make(Layer.mergeAll(
        Wechatpay.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))),
        Transport,
        Layer.succeed(Wechatpay.Retry, { maxAttempts: 3, baseDelay: "5 millis", maxDelay: "20 millis", jitter: true })
      ))
      const outcomes = new Map<string, number>()
      const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
      const runBatch = (from: number, to: number) =>
        Effect.promise(() =>
          Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
            for (let i = from + worker; i < to; i += CONCURRENCY) {
              const exit = await runtime.runPromiseExit(lookup(i))
              if (Exit.isSuccess(exit)) count("ok")
              else {
                const failure = Cause.failureOption(exit.cause)
                count(failure._tag === "Some" ? `${failure.value._tag}${"code" in failure.value && failure.value.code ? ` ${failure.value.code}` : ""}` : "DEFECT")
              }
            }
          }))
        )

      // warm up, then measure the heap from here
      yield* runBatch(0, 500)
      gc()
      const heapBefore = process.memoryUsage().heapUsed
      const socketsDuring = sockets()
      const started = Date.now()
      yield* runBatch(500, TOTAL)
      const elapsed = Date.now() - started
      gc()
      const heapAfter = process.memoryUsage().heapUsed

      yield* Effect.promise(() => runtime.dispose())
      yield* Effect.sleep("200 millis")
      const socketsAfter = sockets()

      const total = [...outcomes.values()].reduce((a, b) => a + b, 0)
      const summary = Object.fromEntries(outcomes)
      console.log(`load: ${TOTAL} lookups in ${elapsed + 0} ms (after warm-up), outcomes ${JSON.stringify(summary)}, heap ${(heapBefore / 1e6).toFixed(1)} → ${(heapAfter / 1e6).toFixed(1)} MB, TCP sockets ${socketsBefore} → ${socketsDuring} → ${socketsAfter}`)
      assert.strictEqual(total, TOTAL)
      assert.isUndefined(outcomes.get("DEFECT"))
      assert.strictEqual(outcomes.get("BusinessError ORDER_NOT_EXIST"), 667) // i % 10 === 9 on the two Pay Score queries
      assert.strictEqual((outcomes.get("ok") ?? 0) + (outcomes.get("BusinessError ORDER_NOT_EXIST") ?? 0), TOTAL)
      assert.isBelow(heapAfter - heapBefore, 16e6, "heap growth after a forced GC")
      assert.isAbove(socketsDuring, socketsBefore, "keep-alive sockets were open while in use")
      assert.isAtMost(socketsAfter, socketsBefore)
    }).pipe(Effect.scoped), 120_000)
})

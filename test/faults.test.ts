import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { afterAll, beforeAll } from "vitest"
import { BusinessCircle, Payscore, Wechatpay, type WechatpayError } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"

/**
 * The fault matrix: every sandbox fault × each query, with the default
 * three attempts (short backoff, real clock), a fault that persists and one
 * that happens once. The outcome table in the README is this test.
 */

const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: "500001", appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: [{ appid: APPID, openid: "oUser1", authorize_state: "AUTHORIZED" }]
}
const queries: ReadonlyArray<readonly [string, Effect.Effect<unknown, WechatpayError, Wechatpay.Requirements>]> = [
  ["Payscore.getPermissionsByOpenid", Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: "500001", appid: APPID } })],
  ["Payscore.getPermissionsByAuthorizationCode", Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CODE1", params: { service_id: "500001" } })],
  ["BusinessCircle.getUserAuthorization", BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } })]
]

type Outcome = string
const describeExit = (exit: Exit.Exit<unknown, WechatpayError>): Outcome => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return `DEFECT ${Cause.pretty(exit.cause)}`
  const e = failure.value
  const detail = e._tag === "SignatureError" || e._tag === "NetworkError"
    ? `(${e.reason})`
    : e._tag === "BusinessError"
    ? `(${e.status})`
    : ""
  const attempts = (e._tag === "NetworkError" || e._tag === "BusinessError") && e.attempts !== undefined ? ` x${e.attempts}` : ""
  return `${e._tag}${detail}${attempts}`
}

// fault → [outcome when it persists, outcome when it happens once]
const expected: Record<Sandbox.Fault, readonly [Outcome, Outcome]> = {
  Latency: ["NetworkError(Timeout) x3", "ok"],
  SystemError: ["BusinessError(500) x3", "ok"],
  FrequencyLimited: ["BusinessError(429) x3", "ok"],
  DropConnection: ["NetworkError(Transport) x3", "ok"],
  TamperBody: ["SignatureError(InvalidSignature)", "SignatureError(InvalidSignature)"],
  WrongSerial: ["SignatureError(UnknownSerial)", "SignatureError(UnknownSerial)"],
  StaleTimestamp: ["SignatureError(TimestampSkew)", "SignatureError(TimestampSkew)"],
  MalformedJson: ["DecodeError", "DecodeError"],
  Unsigned: ["SignatureError(MissingHeaders)", "SignatureError(MissingHeaders)"],
  ProbeSignature: ["SignatureError(MalformedSignature)", "SignatureError(MalformedSignature)"]
}

let unhandled = 0
const onUnhandled = () => {
  unhandled++
}
beforeAll(() => {
  process.on("unhandledRejection", onUnhandled)
})
afterAll(() => {
  process.off("unhandledRejection", onUnhandled)
  assert.strictEqual(unhandled, 0, "unhandled rejections")
})

const Client = Layer.mergeAll(
  Sandbox.layerTest({ seed, httpClient: Transport, retry: { maxAttempts: 3, baseDelay: "10 millis", maxDelay: "40 millis", jitter: true } }),
  Layer.succeed(Wechatpay.RequestTimeout, "250 millis")
)

describe("fault matrix (real HTTP, real clock)", () => {
  for (const fault of Sandbox.faults) {
    it.live(`${fault}: ${expected[fault][0]} when it persists, ${expected[fault][1]} when it happens once`, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        for (const [name, query] of queries) {
          for (const [mode, times] of [["persists", undefined], ["once", 1]] as const) {
            yield* sandbox.clearFaults
            yield* sandbox.injectFault({ fault, times, latency: "1 second" })
            const before = (yield* sandbox.requests).length
            const started = Date.now()
            const outcome = describeExit(yield* Effect.exit(query))
            const elapsed = Date.now() - started
            const attempts = (yield* sandbox.requests).length - before
            assert.strictEqual(outcome, expected[fault][mode === "persists" ? 0 : 1], `${name}, fault ${mode}`)
            // bounded: at most 3 attempts of 250 ms plus backoff
            assert.isBelow(elapsed, 2_000, `${name} took ${elapsed} ms`)
            assert.strictEqual(attempts, outcome.endsWith("x3") ? 3 : outcome === "ok" && mode === "once" && expected[fault][0].endsWith("x3") ? 2 : 1)
          }
        }
        yield* sandbox.clearFaults
      }).pipe(Effect.provide(Client)), 30_000)
  }
})

import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { BusinessCircle, Payscore, Signer, Verifier, Wechatpay, type WechatpayError } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { recordingTracer as makeRecordingTracer } from "./helpers/tracer.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"

/**
 * Secret hygiene: every error path and every log line at debug level, with a
 * tracer recording every span; no private key, APIv3 key, signature or
 * Authorization header value may appear in any error, Cause.pretty, log
 * output or span attribute.
 */

const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: "500001", appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: [{ appid: APPID, openid: "oUser1", authorize_state: "AUTHORIZED" }]
}

const sentAuthorizations: Array<string> = []
const receivedSignatures: Array<string> = []
const logs: Array<string> = []
const spans: Array<Tracer.Span> = []
const rendered: Array<string> = []

const native = Effect.runSync(Effect.tracer)
const recordingTracer = Tracer.make({
  span: (name, parent, context, links, startTime, kind, options) => {
    const span = native.span(name, parent, context, links, startTime, kind, options)
    spans.push(span)
    return span
  },
  context: native.context
})

const recordingLogger = Logger.make(({ annotations, cause, message }) => {
  logs.push(`${String(message)} ${JSON.stringify([...annotations])} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`)
})

/** undici, recording what goes out and comes back, so the test knows every secret on the wire. */
const RecordingClient = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(HttpClient.HttpClient, (client) =>
    client.pipe(
      HttpClient.tapRequest((request) => Effect.sync(() => sentAuthorizations.push(request.headers["authorization"] ?? ""))),
      HttpClient.transformResponse(Effect.tap((response) =>
        Effect.sync(() => {
          const s = response.headers["wechatpay-signature"]
          if (s !== undefined) receivedSignatures.push(s)
        })
      ))
    ))
).pipe(Layer.provide(Transport))

const World = Layer.unwrapEffect(Effect.map(Sandbox.Sandbox, (sandbox) => {
  const c = sandbox.credentials
  const deps = Layer.mergeAll(
    Signer.layer({ mchid: c.mchid, serialNo: c.merchantSerialNo, privateKey: c.merchantPrivateKey! }),
    Layer.succeed(Wechatpay.BaseUrl, sandbox.baseUrl),
    Layer.succeed(Wechatpay.Retry, { maxAttempts: 2, baseDelay: 0, maxDelay: 0, jitter: false }),
    RecordingClient
  )
  return Layer.provideMerge(Verifier.layerAutoCertificates({ apiV3Key: c.apiV3Key }), deps)
})).pipe(Layer.provideMerge(Sandbox.layer({ seed })))

const queries: ReadonlyArray<Effect.Effect<unknown, WechatpayError, Wechatpay.Requirements>> = [
  Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: "500001", appid: APPID } }),
  Payscore.getPermissionsByOpenid({ openid: "oNobody", params: { service_id: "500001", appid: APPID } }),
  Payscore.getPermissionsByAuthorizationCode({ authorization_code: "CODE1", params: { service_id: "500001" } }),
  BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } }),
  BusinessCircle.getUserAuthorization({ openid: "../x", params: { appid: APPID } })
]

const exercise = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const record = (exit: Exit.Exit<unknown, unknown>) => {
    if (Exit.isFailure(exit)) {
      rendered.push(Cause.pretty(exit.cause), Cause.pretty(exit.cause, { renderErrorCause: true }))
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some") rendered.push(String(failure.value), JSON.stringify(failure.value))
    }
  }
  // every query plain, then under every fault
  for (const query of queries) record(yield* Effect.exit(query))
  for (const fault of Sandbox.faults.filter((f) => f !== "Latency")) {
    yield* sandbox.injectFault({ fault, times: 2 })
    for (const query of queries) record(yield* Effect.exit(query))
    yield* sandbox.clearFaults
  }
  // log lines: a refresh for an unknown serial that fails, and a periodic refresh that fails
  yield* TestClock.adjust("2 minutes")
  yield* sandbox.injectFault({ fault: "WrongSerial", route: "payscore.openid", times: 1 })
  yield* sandbox.injectFault({ fault: "SystemError", route: "certificates" })
  record(yield* Effect.exit(queries[0]!))
  yield* TestClock.adjust("12 hours")
  yield* sandbox.clearFaults
  // a request the sandbox refuses (401 SIGN_ERROR): a signer for another merchant
  const other = yield* Signer.make({
    mchid: "1900000002",
    serialNo: sandbox.credentials.merchantSerialNo,
    privateKey: sandbox.credentials.merchantPrivateKey!
  })
  record(yield* Effect.exit(Effect.provideService(queries[3]!, Signer.Signer, other)))
  return sandbox.credentials
})

describe("secret hygiene", () => {
  it.effect("no secret in errors, Cause.pretty, debug logs or span attributes", () =>
    Effect.gen(function*() {
      const credentials = yield* exercise.pipe(Effect.withTracer(recordingTracer))
      const secrets = [
        "PRIVATE KEY",
        Redacted.value(credentials.apiV3Key),
        ...Redacted.value(credentials.merchantPrivateKey!).split("\n").filter((l) => l.length > 40),
        ...sentAuthorizations,
        ...sentAuthorizations.map((a) => /signature="([^"]+)"/.exec(a)?.[1] ?? "never-matches"),
        ...receivedSignatures.filter((s) => s.length > 40)
      ]
      // the scenario really happened
      assert.isAbove(sentAuthorizations.length, 40)
      assert.isAbove(receivedSignatures.length, 30)
      assert.isAbove(rendered.length, 50)
      assert.isTrue(logs.some((l) => l.includes("unknown serial failed")), "debug log of the failed refresh")
      assert.isTrue(logs.some((l) => l.includes("refresh failed")), "warning log of the failed periodic refresh")
      const spanNames = new Set(spans.map((s) => s.name))
      const expectedSpans = ["Payscore.getPermissionsByOpenid", "BusinessCircle.getUserAuthorization", "http.client GET"]
      for (const name of expectedSpans) {
        assert.isTrue(spanNames.has(name), name)
      }
      const payscoreSpan = spans.find((s) => s.name === "Payscore.getPermissionsByOpenid" && s.attributes.has("wechatpay.request_id"))
      assert.isDefined(payscoreSpan)
      assert.strictEqual(payscoreSpan!.attributes.get("http.response.status_code"), 200)

      const spanTexts = spans.flatMap((s) => [
        s.name,
        ...[...s.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`),
        JSON.stringify((s as unknown as { events?: unknown }).events ?? [], (_, v) => typeof v === "bigint" ? String(v) : v)
      ])
      for (const [what, texts] of [["errors", rendered], ["logs", logs], ["spans", spanTexts]] as const) {
        for (const text of texts) {
          for (const secret of secrets) {
            if (text.includes(secret)) assert.fail(`a secret appears in ${what}: ${text.slice(0, 200)}`)
          }
        }
      }
      // the Authorization and Wechatpay-Signature headers are recorded, redacted
      assert.isTrue(spanTexts.some((t) => t === "http.request.header.authorization=<redacted>"))
      assert.isTrue(spanTexts.some((t) => t === "http.response.header.wechatpay-signature=<redacted>"))
    }).pipe(
      Effect.provide(World),
      Effect.provide(Logger.replace(Logger.defaultLogger, recordingLogger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    ), 60_000)

  it.live("on the live clock, the redacted header names the application sets, even changed later, are honoured, plus Wechatpay-Signature", () => {
    const { spans: recorded, tracer } = makeRecordingTracer()
    const names: Array<string | RegExp> = ["authorization", "request-id"]
    const lookup = Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: "500001", appid: APPID } }).pipe(
      Effect.locally(Headers.currentRedactedNames, names),
      Effect.withTracer(tracer)
    )
    const httpSpanTexts = () =>
      recorded.filter((s) => s.name.startsWith("http.client")).flatMap((s) =>
        [...s.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`)
      )
    return Effect.gen(function*() {
      yield* lookup
      const first = httpSpanTexts()
      assert.include(first, "http.response.header.request-id=<redacted>")
      assert.include(first, "http.response.header.wechatpay-signature=<redacted>")
      assert.isFalse(first.includes("http.response.header.wechatpay-nonce=<redacted>"))
      // the application changes the array it set: the next lookup follows
      names.push("wechatpay-nonce")
      recorded.length = 0
      yield* lookup
      const second = httpSpanTexts()
      assert.include(second, "http.response.header.wechatpay-nonce=<redacted>")
      assert.include(second, "http.response.header.wechatpay-signature=<redacted>")
    }).pipe(Effect.provide(Sandbox.layerTest({ seed, httpClient: NodeHttpClient.layerUndici })))
  })
})

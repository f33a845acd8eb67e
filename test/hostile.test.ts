import { FetchHttpClient } from "@effect/platform"
import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Schema } from "effect"
import * as crypto from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { BusinessCircle, Wechatpay, type WechatpayError } from "../src/index.js"
import { rsaSign } from "./helpers/keys.js"
import { countAborts, eventually, type Stats, withServer } from "./helpers/loopback.js"
import { recordingTracer } from "./helpers/tracer.js"
import { APPID, makeWorld, NoRetry, OPENID, PUB_KEY_ID } from "./helpers/world.js"

/**
 * A server that answers what it likes, over real loopback HTTP: huge bodies,
 * huge and deeply nested error texts, deep and wide JSON. Every lookup ends
 * typed, memory stays bounded, and every error renders small.
 */

const world = makeWorld()
const lookup = BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })

const MiB = 1024 * 1024

/** WeChat Pay's signature headers over `body`, or look-alike ones when `valid` is false. */
const signatureHeaders = (body: string | Buffer, valid = true): Record<string, string> => {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = crypto.randomBytes(16).toString("hex")
  return {
    "wechatpay-serial": PUB_KEY_ID,
    "wechatpay-timestamp": timestamp,
    "wechatpay-nonce": nonce,
    "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    "wechatpay-signature": valid
      ? rsaSign(world.platform.privateKey, `${timestamp}\n${nonce}\n${body}\n`)
      : Buffer.alloc(256, 1).toString("base64")
  }
}

/** Writes `total` bytes of spaces, a MiB at a time, as fast as the client takes them, until it goes away. */
const stream = (res: ServerResponse, total: number) => {
  const chunk = Buffer.alloc(MiB, 0x20)
  let sent = 0
  const more = () => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length
      if (!res.write(chunk)) return void res.once("drain", more)
    }
    if (!res.destroyed) res.end()
  }
  more()
}

const transports: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici],
  ["FetchHttpClient.layer", FetchHttpClient.layer]
]

/** Runs `effect` against a server answering with `handle`, over `transport`. */
const against = <A, E>(
  transport: Layer.Layer<HttpClient.HttpClient>,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  effect: Effect.Effect<A, E, Wechatpay.Requirements>
) =>
  withServer(handle, (url) =>
    effect.pipe(
      Effect.provide(Layer.mergeAll(world.SignerLive, world.VerifierLive, NoRetry, transport)),
      Effect.provideService(Wechatpay.BaseUrl, url)
    ))

/** The highest RSS seen while `effect` runs, above what it was when it started (MB). */
const rssGrowth = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const before = process.memoryUsage().rss
    let peak = before
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
    return effect.pipe(
      Effect.map((a) => [a, (Math.max(peak, process.memoryUsage().rss) - before) / MiB] as const),
      Effect.ensuring(Effect.sync(() => clearInterval(timer)))
    )
  })

/** The four ways an error is shown: String, JSON, Cause.pretty, and Effect's JSON and logfmt loggers. */
const renderings = (error: unknown) =>
  Effect.gen(function*() {
    const logged: Array<string> = []
    const capture = (logger: Logger.Logger<unknown, string>) =>
      Logger.replace(Logger.defaultLogger, Logger.map(logger, (line) => void logged.push(line)))
    yield* Effect.logError(error).pipe(Effect.provide(capture(Logger.jsonLogger)))
    yield* Effect.logError(error).pipe(Effect.provide(capture(Logger.logfmtLogger)))
    yield* Effect.logError("lookup failed", Cause.fail(error)).pipe(Effect.provide(capture(Logger.jsonLogger)))
    return [String(error), JSON.stringify(error), Cause.pretty(Cause.fail(error)), ...logged]
  })

const failureOf = <A>(exit: Exit.Exit<A, WechatpayError>): WechatpayError => {
  assert.isTrue(Exit.isFailure(exit), "the lookup failed")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
  assert.isTrue(failure?._tag === "Some", `a typed failure, not ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
  return (failure as { value: WechatpayError }).value
}

describe("a hostile server: huge bodies", () => {
  for (const [name, transport] of transports) {
    it.live(`${name}: 600 MiB bodies (200 and 404, signed and not, with and without a length) fail as ResponseTooLarge; RSS grows < 64 MB`, () =>
      Effect.gen(function*() {
        let worst = 0
        for (const status of [200, 404]) {
          for (const signed of [true, false]) {
            for (const withLength of [true, false]) {
              const seen: Stats = { hits: 0, aborted: 0 }
              const handle = (_req: IncomingMessage, res: ServerResponse) => {
                countAborts(seen, res)
                res.writeHead(status, {
                  "content-type": "application/json",
                  "request-id": "HOSTILE-1",
                  ...(withLength ? { "content-length": String(600 * MiB) } : {}),
                  ...(signed ? signatureHeaders("{}", false) : {})
                })
                stream(res, 600 * MiB)
              }
              const [exit, growth] = yield* rssGrowth(
                // the answer is abandoned, not left paused: the server sees its connection go
                against(transport, handle, Effect.zip(Effect.exit(lookup), eventually(() => seen.aborted === 1)))
              ).pipe(Effect.map(([[exit, abandoned], growth]) => {
                assert.isTrue(abandoned, "the server saw the connection closed")
                return [exit, growth] as const
              }))
              const error = failureOf(exit)
              const label = `${status} ${signed ? "signed" : "unsigned"} ${withLength ? "with" : "without"} a length`
              assert.strictEqual(error._tag === "NetworkError" && error.reason, "ResponseTooLarge", `${label}: ${error.message}`)
              assert.strictEqual(error._tag === "NetworkError" && error.requestId, "HOSTILE-1")
              assert.isBelow(growth, 64, `${label}: RSS grew ${growth.toFixed(0)} MB`)
              worst = Math.max(worst, growth)
            }
          }
        }
        console.log(`hostile: ${name}, eight 600 MiB answers, largest RSS growth ${worst.toFixed(1)} MB`)
      }), 60_000)
  }

  for (const withLength of [true, false]) {
  it.live(`a body (${withLength ? "with" : "without"} a Content-Length) exactly at the limit is read and verified; one byte over is refused, and not retried`, () =>
    Effect.gen(function*() {
      const body = JSON.stringify({ openid: OPENID, authorize_state: "AUTHORIZED", pad: "x".repeat(1000) })
      let hits = 0
      const handle = (_req: IncomingMessage, res: ServerResponse) => {
        hits++
        res.writeHead(200, {
          "content-type": "application/json",
          ...(withLength ? { "content-length": String(Buffer.byteLength(body)) } : { "transfer-encoding": "chunked" }),
          ...signatureHeaders(body)
        })
        res.end(body)
      }
      const fits = Buffer.byteLength(body)
      const ok = yield* against(
        NodeHttpClient.layerUndici,
        handle,
        lookup.pipe(Effect.provideService(Wechatpay.MaxResponseBytes, fits))
      )
      assert.strictEqual(ok.authorize_state, "AUTHORIZED")
      const error = yield* against(
        NodeHttpClient.layerUndici,
        handle,
        Effect.flip(lookup).pipe(
          Effect.provideService(Wechatpay.MaxResponseBytes, fits - 1),
          Effect.provideService(Wechatpay.Retry, { maxAttempts: 3, baseDelay: 0, maxDelay: 0, jitter: false })
        )
      )
      assert.strictEqual(error._tag === "NetworkError" && error.reason, "ResponseTooLarge")
      assert.strictEqual(hits, 2, "one request each: a body over the limit is not retried")
    }))
  }

  for (const [name, transport] of transports) {
    for (const withLength of [true, false]) {
      it.live(`${name}: a connection dropped half-way through a body (${withLength ? "with" : "without"} a length) is a Transport failure, retried`, () =>
        Effect.gen(function*() {
          let hits = 0
          const handle = (_req: IncomingMessage, res: ServerResponse) => {
            hits++
            res.writeHead(200, {
              "content-type": "application/json",
              ...(withLength ? { "content-length": "1000" } : {}),
              ...signatureHeaders("{}")
            })
            res.write("{\"openid\":")
            setTimeout(() => res.destroy(), 20)
          }
          const error = yield* against(
            transport,
            handle,
            Effect.flip(lookup).pipe(
              Effect.provideService(Wechatpay.Retry, { maxAttempts: 2, baseDelay: 0, maxDelay: 0, jitter: false })
            )
          )
          assert.strictEqual(error._tag === "NetworkError" && error.reason, "Transport", error.message)
          assert.strictEqual(hits, 2)
        }))
    }
  }
})

describe("a hostile server: huge and deep error texts render small", () => {
  const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

  const cases: ReadonlyArray<readonly [string, string, number | undefined]> = [
    ["a 3 MB message", JSON.stringify({ code: "PARAM_ERROR", message: "m".repeat(3_000_000) }), undefined],
    ["a 50 MB message, with the body limit raised to 64 MiB", JSON.stringify({ code: "PARAM_ERROR", message: "m".repeat(50_000_000) }), 64 * MiB],
    ["a detail.value nested 100 000 deep", `{"code":"PARAM_ERROR","message":"bad","detail":{"field":"x","value":${deep(100_000)}}}`, undefined],
    ["a 2 MB detail field and issue", JSON.stringify({ code: "PARAM_ERROR", detail: { field: "f".repeat(2_000_000), issue: "i".repeat(1000) } }), undefined],
    ["a 1 MB HTML page", "<html>" + "x".repeat(MiB) + "</html>", undefined]
  ]

  for (const [name, body, limit] of cases) {
    it.live(`an unsigned 404 with ${name}: a BusinessError whose every rendering is under 8 KB`, () =>
      Effect.gen(function*() {
        const handle = (_req: IncomingMessage, res: ServerResponse) => {
          res.writeHead(404, { "content-type": "application/json", "request-id": "R".repeat(10_000) })
          res.end(body)
        }
        const exit = yield* against(
          NodeHttpClient.layerUndici,
          handle,
          Effect.exit(lookup.pipe(limit === undefined ? (e) => e : Effect.provideService(Wechatpay.MaxResponseBytes, limit)))
        )
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "BusinessError")
        const texts = yield* renderings(error)
        for (const text of texts) assert.isBelow(text.length, 8192, `${name}: ${text.slice(0, 120)}…`)
        console.log(`hostile: 404 with ${name}: longest rendering ${Math.max(...texts.map((t) => t.length))} characters`)
      }), 30_000)
  }
})

describe("a hostile server: any JSON in a signed 2xx decodes or is a DecodeError", () => {
  const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["an openid nested 100 000 deep", `{"openid":${deep(100_000)},"authorize_state":"AUTHORIZED"}`],
    ["a body nested 1 000 000 deep", deep(1_000_000)],
    ["200 000 keys", JSON.stringify(Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i])))],
    ["an authorize_time of 300 000 array elements", JSON.stringify({ openid: OPENID, authorize_state: "AUTHORIZED", authorize_time: Array.from({ length: 300_000 }, () => 1) })],
    ["a 3 MB string where a literal belongs", JSON.stringify({ openid: OPENID, authorize_state: "A".repeat(3_000_000) })]
  ]
  for (const [name, body] of cases) {
    it.live(`${name}: DecodeError, rendered under 8 KB`, () =>
      Effect.gen(function*() {
        const handle = (_req: IncomingMessage, res: ServerResponse) => {
          res.writeHead(200, { "content-type": "application/json", ...signatureHeaders(body) })
          res.end(body)
        }
        const error = failureOf(yield* against(NodeHttpClient.layerUndici, handle, Effect.exit(lookup)))
        assert.strictEqual(error._tag, "DecodeError", error.message)
        for (const text of yield* renderings(error)) assert.isBelow(text.length, 8192)
      }), 30_000)
  }

  it.live("Wechatpay.get with a recursive schema over deep JSON: a DecodeError, not a defect", () =>
    Effect.gen(function*() {
      interface Tree {
        readonly children: ReadonlyArray<Tree>
      }
      const Tree: Schema.Schema<Tree> = Schema.Struct({ children: Schema.Array(Schema.suspend(() => Tree)) })
      const body = `{"children":[${`{"children":[`.repeat(50_000)}1${"]}".repeat(50_000)}]}`
      const handle = (_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200, { "content-type": "application/json", ...signatureHeaders(body) })
        res.end(body)
      }
      const exit = yield* against(NodeHttpClient.layerUndici, handle, Effect.exit(Wechatpay.get("/v3/tree", { schema: Tree })))
      assert.strictEqual(failureOf(exit)._tag, "DecodeError")
    }), 30_000)
})

describe("redaction that holds", () => {
  it.live("an application that sets its own redacted names still never sees Authorization or Wechatpay-Signature in a span", () => {
    const { spans, tracer } = recordingTracer()
    const body = JSON.stringify({ openid: OPENID, authorize_state: "AUTHORIZED" })
    const sent: Array<string> = []
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      sent.push(req.headers["authorization"] ?? "")
      res.writeHead(200, { "content-type": "application/json", ...signatureHeaders(body) })
      res.end(body)
    }
    return Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* lookup
      const attributes = spans.flatMap((s) => [...s.attributes.entries()].map(([k, v]) => `${k}=${String(v)}`))
      assert.isTrue(spans.some((s) => s.name.startsWith("http.client")), "the platform's spans were recorded")
      assert.include(attributes, "http.request.header.authorization=<redacted>")
      assert.include(attributes, "http.response.header.wechatpay-signature=<redacted>")
      for (const authorization of sent) {
        assert.isFalse(attributes.some((a) => a.includes(authorization.slice(-40))), "a span carries the signed Authorization")
      }
    }).pipe(
      (lookups) =>
        against(NodeHttpClient.layerUndici, handle, Effect.locally(lookups, Headers.currentRedactedNames, ["x-api-key"])),
      Effect.withTracer(tracer)
    )
  })

  it.live("no trace-propagation header is sent unless TracePropagation is turned on", () => {
    const seen: Array<boolean> = []
    const body = JSON.stringify({ openid: OPENID, authorize_state: "AUTHORIZED" })
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.headers["traceparent"] !== undefined || req.headers["b3"] !== undefined)
      res.writeHead(200, { "content-type": "application/json", ...signatureHeaders(body) })
      res.end(body)
    }
    const { tracer } = recordingTracer()
    return against(NodeHttpClient.layerUndici, handle, Effect.gen(function*() {
      yield* lookup
      yield* lookup.pipe(Effect.provideService(Wechatpay.TracePropagation, true))
      assert.deepStrictEqual(seen, [false, true])
    })).pipe(Effect.withTracer(tracer))
  })
})

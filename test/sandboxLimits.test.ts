import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Sandbox } from "../src/sandbox/index.js"

/** The sandbox as a target for load and abuse: bounded memory, bounded reads, connections that time out. */

const MiB = 1024 * 1024

/** One request with node:http; answers the status (0 when the connection failed first) and its headers. */
const exchange = (
  url: string,
  options: http.RequestOptions & { readonly body?: number | undefined }
) =>
  Effect.async<{ readonly status: number; readonly headers: http.IncomingHttpHeaders }>((resume) => {
    const req = http.request(url, options, (res) => {
      const done = () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers }))
      res.resume()
      res.on("end", done)
      res.on("error", done)
    })
    req.on("error", () => resume(Effect.succeed({ status: 0, headers: {} })))
    if (options.body === undefined) return void req.end()
    // a body of `options.body` bytes, written as fast as the server takes it, abandoned when it answers
    const chunk = Buffer.alloc(MiB, 0x61)
    let sent = 0
    const more = () => {
      while (sent < options.body! && !req.destroyed) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", more)
      }
      if (!req.destroyed) req.end()
    }
    more()
  })

const send = (url: string, options: http.RequestOptions & { readonly body?: number | undefined }) =>
  Effect.map(exchange(url, options), (r) => r.status)

/** A header that passes every check WeChat Pay makes before the body (but not the signature). */
const wellFormedAuthorization = (sandbox: Sandbox.Service) =>
  `WECHATPAY2-SHA256-RSA2048 mchid="${sandbox.credentials.mchid}",nonce_str="abc123",signature="AAAA",timestamp="${
    Math.floor(Date.now() / 1000)
  }",serial_no="${sandbox.credentials.merchantSerialNo}"`

const rss = () => process.memoryUsage().rss / MiB

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

describe("the sandbox under load and abuse", () => {
  it.live("40 000 requests with 8 KB URLs: the request log keeps the last 1000, the heap stays bounded", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
      const url = `${sandbox.baseUrl}/v3/businesscircle/user-authorizations/o${"x".repeat(8000)}?appid=wx1`
      const round = (n: number) =>
        Effect.forEach(Array.from({ length: n }), () => send(url, { agent }), { concurrency: 16, discard: true })
      yield* round(2000)
      gc()
      const heapBefore = process.memoryUsage().heapUsed / MiB
      yield* round(38_000)
      gc()
      const heapAfter = process.memoryUsage().heapUsed / MiB
      agent.destroy()
      const requests = yield* sandbox.requests
      console.log(`sandbox: 40 000 requests with 8 KB URLs, heap after a full GC ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MB`)
      assert.strictEqual(requests.length, 1000)
      assert.strictEqual(requests.at(-1)!.status, 401)
      assert.isAtMost(requests.at(-1)!.url.length, 1025)
      assert.isBelow(heapAfter - heapBefore, 32, `heap ${heapBefore.toFixed(0)} -> ${heapAfter.toFixed(0)} MB`)
    }).pipe(Effect.provide(Sandbox.layer())), 120_000)

  it.live("300 MB posts without Authorization are refused (401) without being read; signed-looking ones over the limit get 413", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const url = `${sandbox.baseUrl}/v3/payscore/permissions`
      const before = rss()
      let peak = before
      const timer = setInterval(() => (peak = Math.max(peak, rss())), 5)
      const statuses = yield* Effect.all([
        send(url, { method: "POST", body: 300 * MiB, headers: { "content-length": String(300 * MiB) } }),
        send(url, { method: "POST", body: 300 * MiB, headers: { "transfer-encoding": "chunked" } }),
        send(url, {
          method: "POST",
          body: 300 * MiB,
          headers: { "content-length": String(300 * MiB), authorization: wellFormedAuthorization(sandbox) }
        }),
        send(url, {
          method: "POST",
          body: 300 * MiB,
          headers: { "transfer-encoding": "chunked", authorization: wellFormedAuthorization(sandbox) }
        })
      ]).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
      console.log(`sandbox: four 300 MB posts, RSS ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`)
      assert.deepStrictEqual(statuses, [401, 401, 413, 413])
      assert.isBelow(peak - before, 64, `RSS grew ${(peak - before).toFixed(0)} MB`)
      // turned away before anything would sign: no signature on the 401
      const turnedAway = yield* exchange(url, { method: "POST", body: MiB, headers: { "content-length": String(MiB) } })
      assert.strictEqual(turnedAway.status, 401)
      assert.isUndefined(turnedAway.headers["wechatpay-signature"])
      assert.strictEqual(turnedAway.headers["connection"], "close")
    }).pipe(Effect.provide(Sandbox.layer())), 60_000)

  it.live("a connection that sends its headers too slowly is cut off", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { hostname, port } = new URL(sandbox.baseUrl)
      const started = Date.now()
      const closedAfter = yield* Effect.async<number>((resume) => {
        const socket = net.connect(Number(port), hostname, () => socket.write("GET /v3/certificates HTTP/1.1\r\nHost: x\r\n"))
        socket.on("data", () => {})
        socket.on("close", () => resume(Effect.succeed(Date.now() - started)))
        socket.on("error", () => {})
      })
      assert.isBelow(closedAfter, 5000)
    }).pipe(Effect.provide(Sandbox.layer({ timeouts: { headers: "500 millis" } }))))

  it.live("a connection that sends its body too slowly, or sits idle after an answer, is cut off", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { hostname, port } = new URL(sandbox.baseUrl)
      const closedAfter = (send: (socket: net.Socket) => void) =>
        Effect.async<number>((resume) => {
          const started = Date.now()
          const socket = net.connect(Number(port), hostname, () => send(socket))
          socket.on("data", () => {})
          socket.on("close", () => resume(Effect.succeed(Date.now() - started)))
          socket.on("error", () => {})
        })
      const slowBody = yield* closedAfter((socket) =>
        socket.write(
          `POST /v3/payscore/permissions HTTP/1.1\r\nHost: x\r\nAuthorization: ${wellFormedAuthorization(sandbox)}\r\ncontent-length: 100\r\n\r\n{`
        )
      )
      assert.isBelow(slowBody, 5000)
      const idle = yield* closedAfter((socket) => socket.write("GET /v3/certificates HTTP/1.1\r\nHost: x\r\n\r\n"))
      assert.isBelow(idle, 5000)
    }).pipe(Effect.provide(Sandbox.layer({ timeouts: { headers: "500 millis", request: "1 second", idle: "500 millis" } }))))

  it.live("any timeouts build a sandbox: a request timeout shorter than the default headers one, or none at all", () =>
    Effect.gen(function*() {
      for (const timeouts of [{ request: "5 seconds" }, { request: Duration.infinity, headers: Duration.infinity }, { headers: 0 }] as const) {
        const status = yield* Effect.scoped(Effect.flatMap(Sandbox.make({ timeouts }), (s) => send(`${s.baseUrl}/v3/certificates`, {})))
        assert.strictEqual(status, 401)
      }
    }))
})

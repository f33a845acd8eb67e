import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { FastHttpClient } from "../src/index.js"

/** A loopback server for transport behaviour: echo, hold, flaky. */
const withServer = <A, E, R>(use: (url: string, stats: { closed: number; hits: number }) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.async<{ server: ReturnType<typeof createServer>; url: string; stats: { closed: number; hits: number } }>((resume) => {
      const stats = { closed: 0, hits: 0 }
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        stats.hits++
        req.on("close", () => {
          if (!res.writableEnded) stats.closed++
        })
        let body = ""
        req.on("data", (c) => (body += c))
        req.on("end", () => {
          if (req.url!.startsWith("/hold")) return // never answers
          if (req.url!.startsWith("/flaky") && stats.hits < 3) {
            res.writeHead(503).end()
            return
          }
          res.writeHead(200, { "content-type": "application/json", "x-multi": ["a", "b"], "set-cookie": ["k=v; Path=/"] })
          res.end(JSON.stringify({ method: req.method, url: req.url, body, header: req.headers["x-test"] ?? null, text: "支付" }))
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, stats }))
      })
    }),
    ({ stats, url }) => use(url, stats),
    ({ server }) => Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  )

describe("FastHttpClient", () => {
  it.live("is an HttpClient: requests with headers, url params and a body; JSON, text, headers, cookies", () =>
    withServer((url) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const response = yield* client.execute(
          HttpClientRequest.post(`${url}/echo`, { headers: { "x-test": "1" } }).pipe(
            HttpClientRequest.setUrlParams({ a: "1", b: "x y" }),
            HttpClientRequest.bodyText("hello")
          )
        )
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(yield* response.json, { method: "POST", url: "/echo?a=1&b=x+y", body: "hello", header: "1", text: "支付" })
        assert.strictEqual(response.headers["x-multi"], "a, b")
        assert.strictEqual(response.cookies.cookies["k"]?.value, "v")
        const text = yield* (yield* client.get(`${url}/echo`)).text
        assert.include(text, "支付")
      })
    ).pipe(Effect.provide(FastHttpClient.layer)))

  it.live("composes with HttpClient combinators: filterStatusOk and retry", () =>
    withServer((url, stats) =>
      Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(
          HttpClient.filterStatusOk,
          HttpClient.retry(Schedule.recurs(3))
        )
        const response = yield* client.get(`${url}/flaky`)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(stats.hits, 3)
      })
    ).pipe(Effect.provide(FastHttpClient.layer)))

  it.live("interruption (and so a timeout) aborts the in-flight request", () =>
    withServer((url, stats) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const fiber = yield* Effect.fork(client.get(`${url}/hold`))
        yield* Effect.sleep("100 millis")
        assert.strictEqual(stats.hits, 1)
        yield* Fiber.interrupt(fiber)
        yield* Effect.sleep("100 millis")
        assert.strictEqual(stats.closed, 1, "the server saw the connection closed")
        const timedOut = yield* Effect.flip(client.get(`${url}/hold`).pipe(Effect.timeout("100 millis")))
        assert.strictEqual(timedOut._tag, "TimeoutException")
        yield* Effect.sleep("100 millis")
        assert.strictEqual(stats.closed, 2)
      })
    ).pipe(Effect.provide(FastHttpClient.layer)))

  it.live("typed failures: refused connection and invalid URL", () =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const refused = yield* Effect.flip(client.get("http://127.0.0.1:1/"))
      assert.strictEqual(refused._tag === "RequestError" && refused.reason, "Transport")
      const invalid = yield* Effect.flip(client.get("not a url"))
      assert.strictEqual(invalid._tag === "RequestError" && invalid.reason, "InvalidUrl")
      const ftp = yield* Effect.flip(client.get("ftp://127.0.0.1/"))
      assert.strictEqual(ftp._tag === "RequestError" && ftp.reason, "InvalidUrl")
      const port = yield* Effect.flip(client.get("http://127.0.0.1:99999/v3/x"))
      assert.strictEqual(port._tag === "RequestError" && port.reason, "InvalidUrl")
    }).pipe(Effect.provide(FastHttpClient.layer)))
})

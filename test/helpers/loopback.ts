import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** What a loopback server saw. */
export interface Stats {
  hits: number
  /** Requests whose connection closed before the whole answer was sent: the client aborted them. */
  aborted: number
}

/** Counts a request in `stats`, and counts it as aborted should its connection close before the answer ends. */
export const countAborts = (stats: Stats, res: ServerResponse): void => {
  stats.hits++
  res.on("close", () => {
    if (!res.writableEnded) stats.aborted++
  })
}

/** A server on 127.0.0.1 answering every request with `handle`, for the span of `use(url)`. */
export const withServer = <A, E, R>(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  use: (url: string) => Effect.Effect<A, E, R>
) =>
  Effect.acquireUseRelease(
    Effect.async<{ server: ReturnType<typeof createServer>; url: string }>((resume) => {
      const server = createServer(handle)
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })))
    }),
    ({ url }) => use(url),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** Polls `check` until it holds (at most 2 s): the server sees a close a moment after the client aborts. */
export const eventually = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && !check(); i++) yield* Effect.sleep("10 millis")
    return check()
  })

/** A port free on 127.0.0.1 a moment ago, for a server started by someone else (a child process, a layer). */
export const freePort = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as { port: number }
    probe.close(() => resume(Effect.succeed(port)))
  })
})

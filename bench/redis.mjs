// A redis-server of a benchmark's own, for bench/fleet.mjs and the reproductions: on 127.0.0.1,
// a free port, no persistence; `stop()` kills it.
import { spawn } from "node:child_process"
import * as net from "node:net"

const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/** A redis-server of the run's own: loopback, no persistence. */
export const startRedis = async () => {
  const port = await freePort()
  const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`cannot start redis-server (${e.message}): apt-get install redis-server`)))
    child.stdout.on("data", (d) => String(d).includes("Ready to accept connections") && resolve())
  })
  return { port, stop: () => child.kill("SIGKILL") }
}


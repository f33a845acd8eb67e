/**
 * A real `redis-server` for a test file: on 127.0.0.1, a free port, no
 * persistence (no RDB snapshots, no append-only file), started by the test
 * and stopped with its scope. It can be stopped and started again on the same
 * port, for "Redis went away" tests. A machine without `redis-server` fails
 * the test with how to install it: no test is skipped for want of Redis.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { Effect, Scope } from "effect"
import { freePort } from "./loopback.js"

const SERVER = process.env.REDIS_SERVER ?? "redis-server"

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the server (SIGKILL: it goes away as a crashed server would). */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port, empty. */
  readonly start: Effect.Effect<void>
}

const launch = (port: number): Effect.Effect<ChildProcess> =>
  Effect.async<ChildProcess>((resume) => {
    const child = spawn(
      SERVER,
      ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    let done = false
    const finish = (effect: Effect.Effect<ChildProcess>) => {
      if (done) return
      done = true
      resume(effect)
    }
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (output.includes("Ready to accept connections")) finish(Effect.succeed(child))
    })
    child.on("error", (error) =>
      finish(Effect.die(new Error(`cannot start ${SERVER} (${error.message}): install it, e.g. apt-get install redis-server`))))
    child.on("exit", (code) => finish(Effect.die(new Error(`${SERVER} exited with ${code}: ${output.slice(-500)}`))))
  })

const kill = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/** Whether `redis-server` can run here at all (for a clear failure, never a skip). */
export const redisServerVersion = (): string => {
  const result = spawnSync(SERVER, ["--version"], { encoding: "utf8" })
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(`${SERVER} is not installed: install it (apt-get install redis-server); .ci/run does`)
  }
  return result.stdout.trim()
}

/** A running `redis-server`, stopped when the scope closes. */
export const redisServer: Effect.Effect<RedisServer, never, Scope.Scope> = Effect.gen(function*() {
  redisServerVersion()
  const port = yield* freePort
  let child: ChildProcess | undefined = yield* launch(port)
  yield* Effect.addFinalizer(() => child === undefined ? Effect.void : kill(child))
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: Effect.suspend(() => {
      const running = child
      child = undefined
      return running === undefined ? Effect.void : kill(running)
    }),
    start: Effect.suspend(() =>
      child !== undefined ? Effect.void : Effect.map(launch(port), (started) => {
        child = started
      })
    )
  }
})

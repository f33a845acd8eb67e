/**
 * The built CLI (`dist/cli/bin.js`, which `npm test` builds first) as a
 * child process, in an environment without the developer's WECHATPAY_*
 * variables.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "cli", "bin.js")

/** The environment without any WECHATPAY_* variable of the developer's. */
export const cleanEnv = (extra: Record<string, string> = {}) => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("WECHATPAY_") && v !== undefined) env[k] = v
  return { ...env, NO_COLOR: "1", ...extra }
}

/**
 * Starts `effect-wechatpay <args>` (a long-running command such as `sandbox`),
 * stopped with SIGINT when the scope closes, pass or fail; answers the child
 * and the first line it prints.
 */
export const startCli = (
  args: ReadonlyArray<string>
): Effect.Effect<{ readonly child: ChildProcessByStdio<null, Readable, Readable>; readonly first: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, [BIN, ...args], { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })),
      (c) =>
        c.exitCode !== null ? Effect.void : Effect.async<void>((resume) => {
          c.once("exit", () => resume(Effect.void))
          c.kill("SIGINT")
        })
    )
    const first = yield* Effect.async<string>((resume) => {
      let buffer = ""
      child.stdout.on("data", (chunk) => {
        buffer += chunk
        if (buffer.includes("\n")) resume(Effect.succeed(buffer.slice(0, buffer.indexOf("\n"))))
      })
    })
    return { child, first }
  })

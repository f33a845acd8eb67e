// Process plumbing shared by run.mjs and the one-client tools (profile, alloc, gc-trace):
// keys, the server process, child runs with a time limit, and cleanup.
import { fork } from "node:child_process"
import * as crypto from "node:crypto"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { KNOWN_CONFIGS, PUB_KEY_ID } from "./common.mjs"

const here = (file) => fileURLToPath(new URL(file, import.meta.url))

const active = new Set()

/** Kills every child still running (by its own handle), e.g. on Ctrl-C or a fatal error. */
export const killAll = () => {
  for (const child of active) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
}
process.on("exit", killAll)
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping children`)
    killAll()
    process.exit(130)
  })
}

/** Fresh RSA-2048 merchant and platform key pairs, as PEM (never written to disk). */
export const generateKeys = () => {
  const pair = () =>
    crypto.generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" }
    })
  const merchant = pair(), platform = pair()
  return {
    merchantKey: merchant.privateKey,
    platformKey: platform.privateKey,
    platformPublicKey: platform.publicKey,
    pubKeyId: PUB_KEY_ID
  }
}

const spawn = (script, execArgv = []) => {
  const child = fork(here(script), [], { stdio: ["ignore", "inherit", "pipe", "ipc"], execArgv })
  active.add(child)
  let stderr = ""
  child.stderr.on("data", (d) => {
    process.stderr.write(d)
    if (stderr.length < 20_000) stderr += d
  })
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      active.delete(child)
      resolve({ code, signal })
    })
  })
  child.on("error", () => {}) // reported through "exit"
  return { child, exited, stderr: () => stderr }
}

/**
 * Forks `script`, sends it `message`, and resolves with its reply once it has
 * exited: { reply, code, signal, stderr, failure } where `failure` describes
 * anything wrong (non-zero exit, no reply, an error reply, time limit).
 */
export const runChild = async (script, message, { timeoutMs = 180_000, execArgv = [] } = {}) => {
  const { child, exited, stderr } = spawn(script, execArgv)
  let reply
  child.on("message", (m) => (reply ??= m))
  child.send(message)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill("SIGKILL")
  }, timeoutMs)
  const { code, signal } = await exited
  clearTimeout(timer)
  const failure = timedOut
    ? `killed after the ${timeoutMs / 1000} s time limit`
    : reply?.ok === false
    ? `reported an error: ${reply.error.split("\n").slice(0, 3).join(" | ")}`
    : code !== 0
    ? `exited with ${signal ?? `code ${code}`}`
    : reply === undefined
    ? "exited without a result"
    : undefined
  return { reply, code, signal, stderr: stderr(), failure }
}

/** Starts the loopback server; resolves with { baseUrl, stats(), stop() }. */
export const startServer = async (keys) => {
  const { child, exited } = spawn("./server.mjs")
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start within 10 s")), 10_000)
    child.on("message", (m) => {
      if (m?.type === "listening") clearTimeout(timer), resolve(m.port)
    })
    exited.then(({ code, signal }) => reject(new Error(`server exited early (${signal ?? code})`)))
  })
  child.send({ platformKey: keys.platformKey, pubKeyId: keys.pubKeyId })
  const port = await listening
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    stats: () =>
      new Promise((resolve) => {
        const onMessage = (m) => {
          if (m?.type === "stats") child.off("message", onMessage), resolve(m)
        }
        child.on("message", onMessage)
        child.send({ type: "stats" })
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.send({ type: "stop" })
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
      await exited
      clearTimeout(timer)
    }
  }
}

/**
 * The command line of a one-client tool: --config, --concurrency, --n, --warmup, --settle and the
 * tool's own `options`; exits with a usage message on an unknown configuration.
 */
export const oneClientArgs = (defaultConfig, options = {}) => {
  const { values } = parseArgs({
    options: {
      config: { type: "string", default: defaultConfig },
      concurrency: { type: "string", default: "1" },
      n: { type: "string", default: "3000" },
      warmup: { type: "string", default: "500" },
      // how many of the warm-up requests come after the heap baseline's forced GC (client.mjs; the
      // GC is forced only under --expose-gc, which gc-trace.mjs and settle.mjs pass)
      settle: { type: "string", default: "0" },
      // N measured in slices of this many requests, CPU per slice reported (0: one slice)
      windows: { type: "string", default: "0" },
      ...options
    }
  })
  if (!KNOWN_CONFIGS.includes(values.config)) {
    console.error(`unknown configuration ${values.config}; known: ${KNOWN_CONFIGS.join(", ")}`)
    process.exit(2)
  }
  for (const name of ["concurrency", "n", "warmup", "settle", "windows"]) countArg(name, values[name])
  return values
}

/** Options that may be 0 (the others must be positive). */
const MAY_BE_ZERO = new Set(["warmup", "settle", "windows"])

/** The integer value of the option `--name`; exits with a usage message when it is not a count. */
export const countArg = (name, text) => {
  const v = Number(text)
  if (!Number.isInteger(v) || v < 0 || (v === 0 && !MAY_BE_ZERO.has(name))) {
    console.error(`--${name} must be a ${MAY_BE_ZERO.has(name) ? "non-negative" : "positive"} integer (got ${text})`)
    process.exit(2)
  }
  return v
}

/**
 * Generates keys, starts the server, runs one client of `args` (with `extra` in its
 * message and `execArgv` for its node), stops the server and answers the client's reply;
 * exits 1 when the client failed.
 */
export const runOneClient = async (args, extra = {}, execArgv = []) => {
  const keys = generateKeys()
  const server = await startServer(keys)
  let run
  try {
    run = await runChild("./client.mjs", {
      config: args.config,
      baseUrl: server.baseUrl,
      n: Number(args.n),
      warmup: Number(args.warmup),
      settle: Number(args.settle),
      windows: Number(args.windows),
      concurrency: Number(args.concurrency),
      ...keys,
      ...extra
    }, { execArgv })
  } finally {
    await server.stop()
  }
  if (run.failure !== undefined) {
    console.error(`client failed: ${run.failure}`)
    process.exit(1)
  }
  return run.reply
}

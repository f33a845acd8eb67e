// One benchmark client, in its own process (forked by run.mjs or profile.mjs).
// IPC in: { config, baseUrl, n, warmup, concurrency, merchantKey, platformPublicKey,
//           pubKeyId, settle?: requests, profile?: path, heap?: "all" | "promoted",
//           windows?: requests per CPU slice }
// IPC out: { ok: true, result } | { ok: false, error } | { skipped: reason }
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { checkResult, firstMessage, guardChild, MCHID, MERCHANT_SERIAL, quantile, requestFor, SCHEME, USER_AGENT } from "./common.mjs"

const guard = guardChild("client")

// BENCH_V8_FLAGS="--no-allocation-site-pretenuring": V8 experiments (set before the library loads)
if (process.env.BENCH_V8_FLAGS) (await import("node:v8")).setFlagsFromString(process.env.BENCH_V8_FLAGS)

const opts = await firstMessage()

// ---------------------------------------------------------------------------
// floor: node:crypto + undici Pool + JSON.parse, nothing else
// ---------------------------------------------------------------------------

/** The request headers of a signed `GET path`: one RSA signature, the floor's way. */
const signedHeaders = (path, privateKey) => {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = crypto.randomBytes(16).toString("hex")
  const signature = crypto.sign("sha256", Buffer.from(`GET\n${path}\n${timestamp}\n${nonce}\n\n`), privateKey)
    .toString("base64")
  return {
    accept: "application/json",
    "user-agent": USER_AGENT,
    authorization:
      `${SCHEME} mchid="${MCHID}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${MERCHANT_SERIAL}"`,
    "wechatpay-serial": opts.pubKeyId
  }
}

const makeFloor = async () => {
  const { Pool } = await import("undici")
  const privateKey = crypto.createPrivateKey(opts.merchantKey)
  const publicKey = crypto.createPublicKey(opts.platformPublicKey)
  const pool = new Pool(opts.baseUrl, { pipelining: 1 })
  const call = async (i) => {
    const { path } = requestFor(i)
    const { statusCode, headers, body } = await pool.request({ path, method: "GET", headers: signedHeaders(path, privateKey) })
    const text = await body.text()
    const ts = headers["wechatpay-timestamp"], rn = headers["wechatpay-nonce"]
    const sig = headers["wechatpay-signature"], serial = headers["wechatpay-serial"]
    if (ts === undefined || rn === undefined || sig === undefined || serial === undefined) {
      throw new Error(`unsigned ${statusCode} response`)
    }
    if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) throw new Error("timestamp out of window")
    if (serial !== opts.pubKeyId) throw new Error(`unknown serial ${serial}`)
    if (!crypto.verify("sha256", Buffer.from(`${ts}\n${rn}\n${text}\n`), publicKey, Buffer.from(sig, "base64"))) {
      throw new Error("bad signature")
    }
    if (statusCode !== 200) throw new Error(`status ${statusCode}: ${text}`)
    return JSON.parse(text)
  }
  return { call, close: () => pool.close() }
}

// ---------------------------------------------------------------------------
// minimal-undici: PERFORMANCE.md's "minimal" Effect client, the least an Effect
// client over HttpClient + NodeHttpClient.layerUndici does: the floor's sign, verify and
// JSON.parse in one Effect.gen around HttpClient.execute, one runPromise per lookup.
// No input validation, schema, retry, timeout, typed errors or spans: a reference point.
// ---------------------------------------------------------------------------

const makeMinimal = async () => {
  const [Effect, HttpClient, NodeHttpClient, ManagedRuntime] = await Promise.all([
    import("effect/Effect"),
    import("@effect/platform/HttpClient"),
    import("@effect/platform-node/NodeHttpClient"),
    import("effect/ManagedRuntime")
  ])
  const privateKey = crypto.createPrivateKey(opts.merchantKey)
  const publicKey = crypto.createPublicKey(opts.platformPublicKey)
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  await runtime.runtime()
  const lookup = (path) =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const response = yield* client.get(opts.baseUrl + path, { headers: signedHeaders(path, privateKey) })
      const text = yield* response.text
      const headers = response.headers
      const ts = headers["wechatpay-timestamp"], rn = headers["wechatpay-nonce"], sig = headers["wechatpay-signature"]
      if (ts === undefined || rn === undefined || sig === undefined) return yield* Effect.die(new Error("unsigned"))
      if (!crypto.verify("sha256", Buffer.from(`${ts}\n${rn}\n${text}\n`), publicKey, Buffer.from(sig, "base64"))) {
        return yield* Effect.die(new Error("bad signature"))
      }
      return JSON.parse(text)
    })
  const call = (i) => runtime.runPromise(lookup(requestFor(i).path))
  return { call, close: () => runtime.dispose(), transport: "HttpClient + NodeHttpClient.layerUndici, minimal" }
}

// minimal-pool: PERFORMANCE.md's "minimal without @effect/platform": the floor's whole
// request as one Effect.tryPromise, one runPromise per lookup on a ManagedRuntime. The
// least any Effect client that runs each lookup as an Effect can cost.
const makeMinimalPool = async () => {
  const [Effect, ManagedRuntime, Layer] = await Promise.all([
    import("effect/Effect"),
    import("effect/ManagedRuntime"),
    import("effect/Layer")
  ])
  const floor = await makeFloor()
  const runtime = ManagedRuntime.make(Layer.empty)
  await runtime.runtime()
  const call = (i) => runtime.runPromise(Effect.tryPromise(() => floor.call(i)))
  return { call, close: async () => (await runtime.dispose(), await floor.close()), transport: "Effect.tryPromise over an undici Pool" }
}

// ---------------------------------------------------------------------------
// axios-plugin: wechatpay-axios-plugin 0.9.6, the seed docs' SDK, as its README sets it up
// (public-key mode: the platform public key under its PUB_KEY_ID in `certs`)
// ---------------------------------------------------------------------------

const makeAxiosPlugin = async () => {
  const { Wechatpay } = await import("wechatpay-axios-plugin")
  const wxpay = new Wechatpay({
    mchid: MCHID,
    serial: MERCHANT_SERIAL,
    privateKey: opts.merchantKey,
    certs: { [opts.pubKeyId]: opts.platformPublicKey },
    baseURL: `${opts.baseUrl}/`
  })
  const call = async (i) => {
    const { kind, input } = requestFor(i)
    const response = kind === 0
      ? await wxpay.v3.payscore.permissions.openid._openid_.get(input)
      : kind === 1
      ? await wxpay.v3.payscore.permissions.authorizationCode._authorization_code_.get(input)
      : await wxpay.v3.businesscircle.userAuthorizations._openid_.get(input)
    return response.data
  }
  return { call, close: async () => {}, transport: "axios (Node's http.globalAgent)" }
}

// ---------------------------------------------------------------------------
// effect-*: the library through its public API, one runPromise per lookup
// ---------------------------------------------------------------------------

const makeEffect = async (config) => {
  const [{ Payscore, BusinessCircle, Signer, Verifier, Wechatpay }, Layer, ManagedRuntime, Redacted] = await Promise.all([
    import("../dist/index.js"),
    import("effect/Layer"),
    import("effect/ManagedRuntime"),
    import("effect/Redacted")
  ])
  const httpLayer = (await import("@effect/platform-node/NodeHttpClient")).layerUndici
  const transport = "NodeHttpClient.layerUndici"
  const layer = Layer.mergeAll(
    Signer.layer({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: Redacted.make(opts.merchantKey) }),
    Verifier.layer({ publicKeys: { [opts.pubKeyId]: opts.platformPublicKey } }),
    Layer.succeed(Wechatpay.BaseUrl, opts.baseUrl),
    httpLayer
  )
  // BENCH_TWEAKS=no-timeout,same-timeout,no-retry,no-tracer,no-single-flight: A/B experiments on the request path (not used by run.mjs defaults)
  const tweaks = new Set((process.env.BENCH_TWEAKS ?? "").split(",").filter(Boolean))
  const extra = []
  if (tweaks.has("no-timeout")) extra.push(Layer.succeed(Wechatpay.RequestTimeout, Number.POSITIVE_INFINITY))
  // the default timeout provided as a layer, like no-timeout: the control for no-timeout's A/B
  if (tweaks.has("same-timeout")) extra.push(Layer.succeed(Wechatpay.RequestTimeout, "10 seconds"))
  if (tweaks.has("no-retry")) extra.push(Layer.succeed(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false }))
  if (tweaks.has("no-tracer")) extra.push(Layer.setTracerEnabled(false))
  if (tweaks.has("no-single-flight")) extra.push(Layer.succeed(Wechatpay.SingleFlight, { run: (_key, effect) => effect }))
  const runtime = ManagedRuntime.make(extra.length === 0 ? layer : Layer.mergeAll(layer, ...extra))
  await runtime.runtime()
  const call = (i) => {
    const { kind, input } = requestFor(i)
    return runtime.runPromise(
      kind === 0
        ? Payscore.getPermissionsByOpenid(input)
        : kind === 1
        ? Payscore.getPermissionsByAuthorizationCode(input)
        : BusinessCircle.getUserAuthorization(input)
    )
  }
  return { call, close: () => runtime.dispose(), transport }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/** `count` calls, `concurrency` at a time; latencies (ms) into `lat` when given. */
const phase = async (client, offset, count, concurrency, lat) => {
  let next = 0, errors = 0, firstError
  const worker = async () => {
    for (;;) {
      const j = next++
      if (j >= count) return
      const i = offset + j
      const t0 = performance.now()
      try {
        checkResult(i, await client.call(i))
      } catch (e) {
        errors++
        firstError ??= e
      }
      if (lat !== undefined) lat[j] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  if (errors > 0) {
    throw new Error(`${errors}/${count} requests failed; first: ${firstError?.stack ?? firstError}`)
  }
}

const startProfiler = async () => {
  const inspector = await import("node:inspector")
  const session = new inspector.Session()
  session.connect()
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))))
  if (opts.heap !== undefined) {
    // allocation sampling: with minor-GC garbage ("all") or only what outlived a scavenge ("promoted")
    await post("HeapProfiler.startSampling", {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: opts.heap === "all"
    })
    return async (file) => {
      const { profile } = await post("HeapProfiler.stopSampling")
      fs.writeFileSync(file, JSON.stringify(profile))
      session.disconnect()
    }
  }
  await post("Profiler.enable")
  await post("Profiler.setSamplingInterval", { interval: 100 })
  await post("Profiler.start")
  return async (file) => {
    const { profile } = await post("Profiler.stop")
    fs.writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
  }
}

// Peak RSS by sampling from the start: resourceUsage().maxRSS is useless in a forked
// child on Linux, it starts at the parent's RSS at spawn time.
let peakRss = process.memoryUsage().rss
let atPeak = process.memoryUsage()
const sampler = setInterval(() => {
  const usage = process.memoryUsage()
  if (usage.rss > peakRss) (peakRss = usage.rss), (atPeak = usage)
}, 50)

/** CPU ticks per thread name (Linux /proc; {} elsewhere): where the non-main-thread CPU goes. */
const threadTicks = () => {
  const out = {}
  try {
    for (const tid of fs.readdirSync("/proc/self/task")) {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
      const close = stat.lastIndexOf(")")
      const comm = stat.slice(stat.indexOf("(") + 1, close).replace(/[0-9]+$/, "").trim()
      const name = Number(tid) === process.pid ? "main" : process.env.BENCH_PER_THREAD ? `${comm}#${tid}` : comm === "node" ? "helpers" : comm
      const fields = stat.slice(close + 2).split(" ")
      out[name] = (out[name] ?? 0) + Number(fields[11]) + Number(fields[12])
    }
  } catch {}
  return out
}

/** Heap in use after a full GC (needs --expose-gc, which run.mjs passes), in MB. */
const heapAfterGc = () => {
  if (typeof globalThis.gc !== "function") return NaN
  globalThis.gc()
  return process.memoryUsage().heapUsed / 2 ** 20
}

const main = async () => {
  const t0 = performance.now()
  const client = opts.config === "floor"
    ? await makeFloor()
    : opts.config === "minimal-undici"
    ? await makeMinimal()
    : opts.config === "minimal-pool"
    ? await makeMinimalPool()
    : opts.config === "axios-plugin"
    ? await makeAxiosPlugin()
    : await makeEffect(opts.config)
  const setupMs = performance.now() - t0
  // The heap baseline (a forced full GC) is taken `settle` requests before the warm-up ends, not
  // right before the measured phase: after a forced GC (global.gc(); V8's own major GCs do not
  // do this) V8 optimises again much of the code it had optimised, and every client pays for
  // that over its next ~3000 requests, the Effect clients most (bench/README.md, "Settle").
  const settle = Math.min(opts.settle ?? 0, opts.warmup)
  await phase(client, 0, opts.warmup - settle, opts.concurrency)
  const heapStart = heapAfterGc()
  if (settle > 0) await phase(client, opts.warmup - settle, settle, opts.concurrency)

  const lat = new Float64Array(opts.n)
  // BENCH_MARK=1: a line on stderr where the measured phase starts (to cut V8 trace output)
  if (process.env.BENCH_MARK) process.stderr.write("=== measured phase ===\n")
  const stopProfiler = opts.profile ? await startProfiler() : undefined
  const ticks0 = threadTicks()
  const cpu0 = process.cpuUsage()
  const w0 = performance.now()
  // --windows W (warmup-curve.mjs): the same phase in consecutive slices of W requests, CPU of each
  const windowCpu = []
  if (opts.windows > 0) {
    for (let done = 0; done < opts.n; done += opts.windows) {
      const count = Math.min(opts.windows, opts.n - done)
      if (process.env.BENCH_MARK) process.stderr.write(`=== window from ${done} ===\n`)
      const c0 = process.cpuUsage()
      await phase(client, opts.warmup + done, count, opts.concurrency, lat.subarray(done, done + count))
      const c = process.cpuUsage(c0)
      windowCpu.push((c.user + c.system) / 1000 / count)
    }
  } else {
    await phase(client, opts.warmup, opts.n, opts.concurrency, lat)
  }
  const wallMs = performance.now() - w0
  const cpu = process.cpuUsage(cpu0)
  const ticks1 = threadTicks()
  // µs per request by thread name (clock ticks are 10 ms on Linux: coarse, but fine over N requests)
  const threads = Object.fromEntries(
    Object.entries(ticks1).map(([name, t]) => [name, ((t - (ticks0[name] ?? 0)) * 10_000) / opts.n])
  )
  if (stopProfiler) await stopProfiler(opts.profile)
  clearInterval(sampler)
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
  const heapEnd = heapAfterGc()

  await client.close()
  await send({
    ok: true,
    result: {
      config: opts.config,
      concurrency: opts.concurrency,
      n: opts.n,
      transport: client.transport,
      setupMs,
      wallMs,
      rps: (opts.n * 1000) / wallMs,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      cpuMsPerReq: (cpu.user + cpu.system) / 1000 / opts.n,
      // the part of it spent in the kernel (socket reads and writes, epoll, timers)
      sysMsPerReq: cpu.system / 1000 / opts.n,
      peakRssMB: peakRss / 2 ** 20,
      heapStartMB: heapStart,
      heapGrowthMB: heapEnd - heapStart,
      // what the RSS peak was made of (MB): V8 heap reserved and used, Buffers and other external memory
      atPeakMB: Object.fromEntries(
        ["heapTotal", "heapUsed", "external", "arrayBuffers"].map((k) => [k, Math.round(atPeak[k] / 2 ** 20)])
      ),
      threads,
      windowCpu
    }
  })
}

// A child that does not exit soon after reporting has leaked a handle: say which, and fail.
const lingering = () =>
  setTimeout(() => {
    console.error(`[client ${opts.config}] still alive 5 s after finishing; active resources:`, process.getActiveResourcesInfo())
    process.exit(3)
  }, 5000).unref()

const send = (message) => new Promise((resolve, reject) => process.send(message, (e) => (e ? reject(e) : resolve())))

main().then(
  () => {
    guard.finished = true
    lingering()
    process.disconnect()
  },
  (e) => {
    console.error(`[client ${opts.config}] failed:`, e)
    try {
      process.send({ ok: false, error: String(e?.stack ?? e) }, () => process.exit(1))
    } catch {
      process.exit(1)
    }
  }
)

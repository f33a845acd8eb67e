// Import cost, measured in a fresh process (forked by run.mjs). IPC in:
// { mode, merchantKey, platformPublicKey, pubKeyId }; IPC out: { ok, ms } | { skipped } | { ok: false, error }.
//   platform: import "@effect/platform-node/NodeHttpClient" alone
//   lib:      import the root module, NodeHttpClient, Layer, ManagedRuntime, and build the layers
// The clock starts when the message arrives (node's own start-up is left out).
import { firstMessage, guardChild, MCHID, MERCHANT_SERIAL } from "./common.mjs"

const guard = guardChild("import-cost")
const opts = await firstMessage()
const send = (message) => new Promise((resolve, reject) => process.send(message, (e) => (e ? reject(e) : resolve())))

const measure = async () => {
  const t0 = performance.now()
  if (opts.mode === "platform") {
    await import("@effect/platform-node/NodeHttpClient")
    return { ms: performance.now() - t0 }
  }
  const [root, Layer, ManagedRuntime, Redacted] = await Promise.all([
    import("../dist/index.js"),
    import("effect/Layer"),
    import("effect/ManagedRuntime"),
    import("effect/Redacted")
  ])
  const httpLayer = (await import("@effect/platform-node/NodeHttpClient")).layerUndici
  const runtime = ManagedRuntime.make(Layer.mergeAll(
    root.Signer.layer({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: Redacted.make(opts.merchantKey) }),
    root.Verifier.layer({ publicKeys: { [opts.pubKeyId]: opts.platformPublicKey } }),
    Layer.succeed(root.Wechatpay.BaseUrl, "http://127.0.0.1:1"),
    httpLayer
  ))
  await runtime.runtime()
  const ms = performance.now() - t0
  await runtime.dispose()
  return { ms }
}

measure().then(
  async (r) => {
    await send(r.skipped ? r : { ok: true, ms: r.ms })
    guard.finished = true
    process.disconnect()
  },
  (e) => {
    console.error("[import-cost] failed:", e)
    process.send({ ok: false, error: String(e?.stack ?? e) }, () => process.exit(1))
  }
)

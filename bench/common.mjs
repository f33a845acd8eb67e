// Shared fixtures and helpers of the issue-5 benchmark (no dependencies beyond node:*).

export const MCHID = "1900000001"
export const MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
export const PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
export const SERVICE_ID = "500001"
export const APPID = "wxd678efh567hg6787"
export const SCHEME = "WECHATPAY2-SHA256-RSA2048"
export const USER_AGENT = "effect-wechatpay-bench (floor)"

export const CONFIGS = ["floor", "axios-plugin", "effect-undici"]
/** Reference points run only when named with --only (see README): what the design allows. */
export const REFERENCE_CONFIGS = ["minimal-undici", "minimal-pool"]
export const KNOWN_CONFIGS = [...CONFIGS, ...REFERENCE_CONFIGS]

/** A profile frame's URL, short: `package/file` in node_modules, `dist/...`, `bench/...`. */
export const shortUrl = (url) => {
  const nm = url.lastIndexOf("/node_modules/")
  if (nm !== -1) return url.slice(nm + 14).replace(/\/dist\/(esm|cjs)\//, "/")
  const d = url.indexOf("/dist/")
  return d !== -1 ? url.slice(d + 1) : url.replace(/^file:\/\/.*\/bench\//, "bench/")
}

// Enough users that the lookups in flight at once (up to 32) are all different: a client that
// shares identical lookups in flight (effect-wechatpay's single-flight) makes every call too.
const USERS = Array.from({ length: 64 }, (_, i) => ({
  openid: `oUpF8uMuAJO_M2pxb1Q9zNjWeS6${String(i).padStart(2, "0")}`,
  code: `1234323JKHDFE12432${String(i).padStart(2, "0")}`
}))

/**
 * The request mix: the three endpoints round-robin over a few users.
 * `path` is the canonical `path?query` exactly as the library builds it
 * (identifiers are URL-safe, so no encoding is involved).
 */
export const requestFor = (i) => {
  const kind = i % 3
  const user = USERS[Math.floor(i / 3) % USERS.length]
  switch (kind) {
    case 0:
      return {
        kind,
        input: { openid: user.openid, params: { service_id: SERVICE_ID, appid: APPID } },
        path: `/v3/payscore/permissions/openid/${user.openid}?service_id=${SERVICE_ID}&appid=${APPID}`
      }
    case 1:
      return {
        kind,
        input: { authorization_code: user.code, params: { service_id: SERVICE_ID } },
        path: `/v3/payscore/permissions/authorization-code/${user.code}?service_id=${SERVICE_ID}`
      }
    default:
      return {
        kind,
        input: { openid: user.openid, params: { appid: APPID } },
        path: `/v3/businesscircle/user-authorizations/${user.openid}?appid=${APPID}`
      }
  }
}

/** Checks that a decoded answer is the one the server sends for request `i`. */
export const checkResult = (i, r) => {
  const { kind, input } = requestFor(i)
  const ok = kind === 0
    ? r?.authorization_state === "AVAILABLE" && r.openid === input.openid && r.service_id === SERVICE_ID
    : kind === 1
    ? r?.authorization_state === "AVAILABLE" && r.authorization_code === input.authorization_code
    : r?.authorize_state === "AUTHORIZED" && r.openid === input.openid
  if (!ok) throw new Error(`unexpected answer for request ${i} (kind ${kind}): ${JSON.stringify(r)}`)
}

export const median = (xs) => quantile(xs, 0.5)

export const quantile = (xs, q) => {
  if (xs.length === 0) return NaN
  const s = Float64Array.from(xs).sort()
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos), hi = Math.ceil(pos)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

/** Makes a child exit when its parent goes away, and turn stray failures into a non-zero exit. */
export const guardChild = (name) => {
  const state = { finished: false }
  // The parent went away (crash, Ctrl-C): leave too. After our own disconnect, let the event loop drain.
  process.on("disconnect", () => {
    if (!state.finished) process.exit(0)
  })
  process.on("unhandledRejection", (e) => {
    console.error(`[${name}] unhandled rejection:`, e)
    process.exit(1)
  })
  process.on("uncaughtException", (e) => {
    console.error(`[${name}] uncaught exception:`, e)
    process.exit(1)
  })
  return state
}

/** Resolves with the first IPC message. */
export const firstMessage = () => new Promise((resolve) => process.once("message", resolve))

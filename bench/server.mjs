// Loopback WeChat Pay APIv3 stand-in for the benchmark. Runs in its own process
// (child_process.fork); receives { platformKey, pubKeyId } over IPC and answers
// { port } once listening. Bodies are built once per URL and each body's
// signature is cached for one second, so the server's CPU per request is small.
// Request signatures are not verified: only the Authorization scheme prefix is checked.
import * as crypto from "node:crypto"
import * as http from "node:http"
import { APPID, firstMessage, guardChild, MCHID, SCHEME } from "./common.mjs"

guardChild("server")

const { platformKey: platformKeyPem, pubKeyId } = await firstMessage()
const platformKey = crypto.createPrivateKey(platformKeyPem)

const SUCCESS_TIME = "2024-05-20T13:29:35+08:00"
const PAYSCORE_OPENID = "/v3/payscore/permissions/openid/"
const PAYSCORE_CODE = "/v3/payscore/permissions/authorization-code/"
const BUSINESS_CIRCLE = "/v3/businesscircle/user-authorizations/"

const bodies = new Map() // url -> { status, body } | null
const signatures = new Map() // body -> { second, nonce, signature }

/** Builds the answer for a URL, or a 404 for anything else. */
const answer = (url) => {
  const q = url.indexOf("?")
  const path = q === -1 ? url : url.slice(0, q)
  const params = new URLSearchParams(q === -1 ? "" : url.slice(q + 1))
  const tail = (prefix) => decodeURIComponent(path.slice(prefix.length))
  const notFound = { status: 404, body: JSON.stringify({ code: "RESOURCE_NOT_EXISTS", message: "no such resource" }) }
  if (path.startsWith(PAYSCORE_OPENID)) {
    const openid = tail(PAYSCORE_OPENID)
    if (!params.get("service_id") || !params.get("appid")) return notFound
    return {
      status: 200,
      body: JSON.stringify({
        appid: params.get("appid"),
        mchid: MCHID,
        service_id: params.get("service_id"),
        openid,
        authorization_code: `AC${openid.slice(-8)}`,
        authorization_state: "AVAILABLE",
        authorization_success_time: SUCCESS_TIME
      })
    }
  }
  if (path.startsWith(PAYSCORE_CODE)) {
    const code = tail(PAYSCORE_CODE)
    if (!params.get("service_id")) return notFound
    return {
      status: 200,
      body: JSON.stringify({
        appid: APPID,
        mchid: MCHID,
        service_id: params.get("service_id"),
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        authorization_code: code,
        authorization_state: "AVAILABLE",
        notify_url: "https://api.test.com/payscore/notify",
        authorization_success_time: SUCCESS_TIME
      })
    }
  }
  if (path.startsWith(BUSINESS_CIRCLE)) {
    const openid = tail(BUSINESS_CIRCLE)
    if (!params.get("appid")) return notFound
    return {
      status: 200,
      body: JSON.stringify({ openid, authorize_state: "AUTHORIZED", authorize_time: SUCCESS_TIME })
    }
  }
  return notFound
}

const signed = (body) => {
  const second = Math.floor(Date.now() / 1000)
  let entry = signatures.get(body)
  if (entry === undefined || entry.second !== second) {
    const nonce = crypto.randomBytes(16).toString("hex")
    const signature = crypto.sign("sha256", Buffer.from(`${second}\n${nonce}\n${body}\n`), platformKey).toString("base64")
    entry = { second, nonce, signature }
    signatures.set(body, entry)
  }
  return entry
}

let requestCount = 0
const requestIdPrefix = crypto.randomBytes(6).toString("hex").toUpperCase()

const server = http.createServer((req, res) => {
  requestCount++
  const requestId = `${requestIdPrefix}${requestCount.toString(16).toUpperCase().padStart(10, "0")}`
  const auth = req.headers.authorization
  if (req.method !== "GET" || typeof auth !== "string" || !auth.startsWith(`${SCHEME} mchid="`)) {
    const body = JSON.stringify({ code: "SIGN_ERROR", message: "missing or malformed Authorization" })
    res.writeHead(401, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "request-id": requestId })
    res.end(body)
    return
  }
  let entry = bodies.get(req.url)
  if (entry === undefined) {
    entry = answer(req.url)
    if (bodies.size < 10_000) bodies.set(req.url, entry)
  }
  const sig = signed(entry.body)
  res.writeHead(entry.status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(entry.body),
    "request-id": requestId,
    "wechatpay-nonce": sig.nonce,
    "wechatpay-serial": pubKeyId,
    "wechatpay-signature": sig.signature,
    "wechatpay-signature-type": SCHEME,
    "wechatpay-timestamp": String(sig.second)
  })
  res.end(entry.body)
})
server.keepAliveTimeout = 120_000
server.headersTimeout = 125_000
server.requestTimeout = 0

process.on("message", (m) => {
  if (m?.type === "stats") process.send({ type: "stats", requests: requestCount, cpu: process.cpuUsage() })
  if (m?.type === "stop") server.close(() => process.exit(0)), server.closeAllConnections()
})

server.listen(0, "127.0.0.1", () => {
  process.send({ type: "listening", port: server.address().port })
})

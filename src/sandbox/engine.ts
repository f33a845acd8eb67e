/**
 * The server side of the sandbox as plain functions: WeChat Pay's checks of
 * a request, its routes, its answers and their signatures. No I/O here; the
 * HTTP server in `Sandbox.ts` feeds it requests.
 *
 * @internal
 */
import * as crypto from "node:crypto"
import { encrypt } from "../protocol/aead.js"
import { formatChinaCompactTime, formatChinaTime, parseRfc3339 } from "../protocol/time.js"
import { type AuthorizationParts, parseAuthorization, verifyRequest } from "../protocol/signing.js"
import { MAX_CLOCK_SKEW_SECONDS, signResponse } from "../protocol/verification.js"

/** @internal */
export type Route =
  | "payscore.openid"
  | "payscore.authorizationCode"
  | "payscore.apply"
  | "payscore.terminateByOpenid"
  | "payscore.terminateByAuthorizationCode"
  | "businesscircle.userAuthorization"
  | "certificates"

/** Every route, in the order of `Route`. @internal */
export const routes: ReadonlyArray<Route> = [
  "payscore.openid",
  "payscore.authorizationCode",
  "payscore.apply",
  "payscore.terminateByOpenid",
  "payscore.terminateByAuthorizationCode",
  "businesscircle.userAuthorization",
  "certificates"
]

/** @internal */
export type FaultKind =
  | "Latency"
  | "SystemError"
  | "FrequencyLimited"
  | "DropConnection"
  | "TamperBody"
  | "WrongSerial"
  | "StaleTimestamp"
  | "MalformedJson"
  | "Unsigned"
  | "ProbeSignature"

/** @internal */
export interface ActiveFault {
  readonly route: Route | "*"
  readonly fault: FaultKind
  readonly latencyMillis: number
  remaining: number
}

/** @internal */
export interface PayscoreRecord {
  readonly service_id: string
  readonly appid: string
  /** Unknown until the user authorizes a pre-authorization (state `UNBINDUSER`). */
  readonly openid: string | undefined
  readonly authorization_code: string
  readonly authorization_state: "AVAILABLE" | "UNAVAILABLE" | "UNBINDUSER"
  readonly authorization_success_time?: string | undefined
  readonly cancel_authorization_time?: string | undefined
  readonly notify_url?: string | undefined
  readonly user_risk_level?: number | undefined
  readonly risk_level_version?: number | undefined
}

/** @internal */
export interface BusinessCircleRecord {
  readonly appid: string
  readonly openid: string
  readonly sub_mchid?: string | undefined
  readonly authorize_state: "UNAUTHORIZED" | "AUTHORIZED" | "DEAUTHORIZED"
  readonly authorize_time?: string | undefined
  readonly deauthorize_time?: string | undefined
}

/** @internal */
export interface PlatformKey {
  readonly id: string
  readonly privateKey: crypto.KeyObject
}

/** @internal */
export interface PlatformCertificate extends PlatformKey {
  readonly pem: string
  readonly notBefore: Date
  readonly notAfter: Date
}

/** @internal */
export interface EngineConfig {
  readonly mchid: string
  readonly merchantSerial: string
  readonly merchantPublicKey: crypto.KeyObject
  /** The WeChat Pay public key (public-key mode). */
  readonly publicKey: PlatformKey
  /** Platform certificates, oldest first; empty for a merchant without any. Rotation changes it. */
  readonly certificates: Array<PlatformCertificate>
  /** The APIv3 key: it encrypts certificates in `GET /v3/certificates` and notification resources. */
  readonly apiV3Key: crypto.KeyObject
}

/**
 * The key a response is signed with: the one the request's `Wechatpay-Serial`
 * names; otherwise the newest platform certificate (as WeChat Pay does for
 * certificate merchants), or the public key when there is none.
 *
 * @internal
 */
export const signingKey = (config: EngineConfig, wanted: string | undefined): PlatformKey =>
  (wanted === config.publicKey.id ? config.publicKey : undefined) ??
    config.certificates.find((c) => c.id === wanted) ??
    config.certificates[config.certificates.length - 1] ??
    config.publicKey

/** @internal */
export interface IncomingRequest {
  readonly method: string
  /** path + query exactly as received */
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/** @internal */
export interface Reply {
  /** What happened to authorizations, for the sandbox to tell the merchant about. */
  readonly events: ReadonlyArray<AuthorizationEvent>
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  readonly latencyMillis: number
  readonly drop: boolean
  readonly route: Route | undefined
}

const OPENID = /^[A-Za-z0-9_-]+$/
const AUTH_CODE = /^[A-Za-z0-9_\-*|]+$/
const IDENT = /^[A-Za-z0-9_-]{1,32}$/
const DIGITS = /^[0-9]{1,32}$/

/** RFC 3339 in Beijing time, the way WeChat Pay writes times. @internal */
export const beijingTime: (millis: number) => string = formatChinaTime

const requestId = (): string => crypto.randomBytes(20).toString("hex").toUpperCase() + "-0"

/** An error answer, WeChat Pay's way. @internal */
export class Failure {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
    readonly detail?: { field: string; value?: unknown; issue: string; location: string }
  ) {}
}

/** 413 for a request body over `max` bytes. @internal */
export const bodyTooLarge = (max: number): Failure =>
  new Failure(413, "PARAM_ERROR", `请求体过大 (request body larger than ${max} bytes)`)

/**
 * 429 `FREQUENCY_LIMITED`, WeChat Pay's answer to too many requests; with the
 * limit that was passed, when the sandbox's rate limit answers it. @internal
 */
export const frequencyLimited = (limit?: number): Failure =>
  new Failure(
    429,
    "FREQUENCY_LIMITED",
    limit === undefined ? "频率超限" : `频率超限 (more than ${limit} requests in one second to this endpoint)`
  )

const paramError = (field: string, value: unknown, issue: string, location: "query" | "uri_template" | "body") =>
  new Failure(400, "PARAM_ERROR", `参数错误：${field} ${issue}`, { field, value, issue, location })

const signError = (message: string) => new Failure(401, "SIGN_ERROR", message)

/**
 * The checks of the Authorization header that need no body: scheme, parts,
 * merchant, serial, timestamp window and nonce. What it answers is the
 * header's parts, or the failure. @internal
 */
export const precheckAuthorization = (
  config: EngineConfig,
  headers: Readonly<Record<string, string | undefined>>,
  nowMillis: number
): AuthorizationParts | Failure => {
  const header = headers["authorization"]
  if (header === undefined) return signError("缺少Authorization请求头 (missing Authorization header)")
  const parts = parseAuthorization(header)
  switch (parts) {
    case "scheme":
      return signError("错误的签名方案 (unsupported authorization scheme)")
    case "malformed":
      return signError("Authorization格式错误 (malformed Authorization header)")
    case "incomplete":
      return signError("Authorization缺少参数 (Authorization lacks mchid, nonce_str, signature, timestamp or serial_no)")
  }
  if (parts.mchid !== config.mchid) return signError("商户号不匹配 (mchid does not match)")
  if (parts.serialNo !== config.merchantSerial) {
    return signError("商户证书序列号有误 (unknown merchant certificate serial_no)")
  }
  if (
    !/^\d{1,12}$/.test(parts.timestamp) ||
    Math.abs(Number(parts.timestamp) - Math.floor(nowMillis / 1000)) > MAX_CLOCK_SKEW_SECONDS
  ) {
    return signError("请求时间戳已过期 (timestamp outside the 5 minute window)")
  }
  if (!/^[0-9A-Za-z]{1,32}$/.test(parts.nonce)) {
    return signError("随机串格式错误 (nonce_str must be 1-32 letters or digits)")
  }
  return parts
}

/** WeChat Pay's check of the Authorization header, the signature over the body included. @internal */
export const checkAuthorization = (
  config: EngineConfig,
  request: IncomingRequest,
  nowMillis: number
): Failure | undefined => {
  const parts = precheckAuthorization(config, request.headers, nowMillis)
  if (parts instanceof Failure) return parts
  return verifyRequest(config.merchantPublicKey, request, parts)
    ? undefined
    : signError("签名错误 (signature does not verify)")
}

/** @internal */
export interface Store {
  readonly payscoreByOpenid: Map<string, PayscoreRecord>
  readonly payscoreByCode: Map<string, PayscoreRecord>
  readonly businessCircle: Map<string, BusinessCircleRecord>
}

/** @internal */
export const makeStore = (): Store => ({
  payscoreByOpenid: new Map(),
  payscoreByCode: new Map(),
  businessCircle: new Map()
})

/** @internal */
export const putPayscore = (store: Store, record: PayscoreRecord): void => {
  if (record.openid !== undefined) {
    const previous = store.payscoreByOpenid.get(`${record.service_id}|${record.openid}`)
    if (previous !== undefined && previous.authorization_code !== record.authorization_code) {
      store.payscoreByCode.delete(`${previous.service_id}|${previous.authorization_code}`)
    }
    store.payscoreByOpenid.set(`${record.service_id}|${record.openid}`, record)
  }
  store.payscoreByCode.set(`${record.service_id}|${record.authorization_code}`, record)
}

/**
 * Something that happened to an authorization, which WeChat Pay tells the
 * merchant about by a notification. @internal
 */
export type AuthorizationEvent =
  | { readonly _tag: "PayscoreOpened" | "PayscoreClosed"; readonly record: PayscoreRecord; readonly at: number }
  | { readonly _tag: "BusinessCircleActivated"; readonly record: BusinessCircleRecord; readonly at: number }

/** Ends an authorization: `UNAVAILABLE`, cancelled now. @internal */
export const closePayscore = (store: Store, record: PayscoreRecord, nowMillis: number): PayscoreRecord => {
  const closed: PayscoreRecord = {
    ...record,
    authorization_state: "UNAVAILABLE",
    cancel_authorization_time: beijingTime(nowMillis)
  }
  putPayscore(store, closed)
  return closed
}

/** @internal */
export const businessCircleKey = (appid: string, openid: string, subMchid: string | undefined) =>
  `${appid}|${openid}|${subMchid ?? ""}`

/** @internal */
export const putBusinessCircle = (store: Store, record: BusinessCircleRecord): void => {
  store.businessCircle.set(businessCircleKey(record.appid, record.openid, record.sub_mchid), record)
}

const segment = (raw: string, field: string, pattern: RegExp, max: number): string | Failure => {
  let value: string
  try {
    value = decodeURIComponent(raw)
  } catch {
    return paramError(field, raw, "不是合法的URL编码 (invalid percent-encoding)", "uri_template")
  }
  if (value.length === 0 || value.length > max || !pattern.test(value)) {
    return paramError(field, value, `长度须为1-${max}且只含合法字符 (1-${max} valid characters)`, "uri_template")
  }
  return value
}

const queryParam = (
  query: URLSearchParams,
  field: string,
  pattern: RegExp,
  required: boolean
): string | undefined | Failure => {
  const value = query.get(field)
  if (value === null || value === "") {
    return required ? paramError(field, undefined, "缺少必填参数 (required)", "query") : undefined
  }
  return pattern.test(value) ? value : paramError(field, value, "格式错误 (invalid format)", "query")
}

/** A JSON body as an object, or the 400 WeChat Pay answers. */
const jsonBody = (body: string): Record<string, unknown> | Failure => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return new Failure(400, "PARAM_ERROR", "请求体不是合法的JSON (the body is not JSON)")
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? parsed as Record<string, unknown>
    : new Failure(400, "PARAM_ERROR", "请求体须为JSON对象 (the body must be a JSON object)")
}

const bodyField = (
  body: Record<string, unknown>,
  field: string,
  valid: (value: string) => boolean,
  required: boolean
): string | undefined | Failure => {
  const value = body[field]
  if (value === undefined || value === "") {
    return required ? paramError(field, undefined, "缺少必填参数 (required)", "body") : undefined
  }
  return typeof value === "string" && valid(value) ? value : paramError(field, value, "格式错误 (invalid format)", "body")
}

const matches = (pattern: RegExp, max: number) => (value: string) => value.length <= max && pattern.test(value)

const isNotifyUrl = (value: string) => {
  try {
    const url = new URL(value)
    return value.length <= 255 && url.protocol === "https:" && url.search === "" && url.hash === ""
  } catch {
    return false
  }
}

const isReason = (value: string) => value.trim().length > 0 && Array.from(value).length <= 50

/** The answer of a request that succeeded with no content (204). @internal */
export const NoContent = { _tag: "NoContent" } as const

const omitUndefined = (o: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const k in o) if (o[k] !== undefined) out[k] = o[k]
  return out
}

const payscoreBody = (mchid: string, r: PayscoreRecord, byCode: boolean) =>
  omitUndefined({
    service_id: r.service_id,
    appid: r.appid,
    mchid,
    openid: r.openid,
    authorization_code: r.authorization_code,
    authorization_state: r.authorization_state,
    notify_url: byCode ? r.notify_url : undefined,
    authorization_success_time: r.authorization_success_time,
    cancel_authorization_time: r.cancel_authorization_time,
    user_risk_level: r.user_risk_level,
    risk_level_version: r.risk_level_version
  })

const PERMISSIONS = "/v3/payscore/permissions"
const TERMINATE = "/terminate"
const PREFIX_OPENID = "/v3/payscore/permissions/openid/"
const PREFIX_CODE = "/v3/payscore/permissions/authorization-code/"
const PREFIX_BC = "/v3/businesscircle/user-authorizations/"
const CERTIFICATES = "/v3/certificates"

/** Which route a URL names, by its path prefix. @internal */
export const routeOf = (url: string): Route | undefined => {
  const q = url.indexOf("?")
  const path = q === -1 ? url : url.slice(0, q)
  return path === PERMISSIONS
    ? "payscore.apply"
    : url.startsWith(PREFIX_OPENID)
    ? path.endsWith(TERMINATE) ? "payscore.terminateByOpenid" : "payscore.openid"
    : url.startsWith(PREFIX_CODE)
    ? path.endsWith(TERMINATE) ? "payscore.terminateByAuthorizationCode" : "payscore.authorizationCode"
    : url.startsWith(PREFIX_BC)
    ? "businesscircle.userAuthorization"
    : url === CERTIFICATES || url.startsWith(CERTIFICATES + "?")
    ? "certificates"
    : undefined
}

/** Routes and answers a request that passed the signature check. @internal */
export const route = (
  config: EngineConfig,
  store: Store,
  request: IncomingRequest,
  nowMillis: number
): {
  readonly route: Route | undefined
  readonly result: Failure | Record<string, unknown> | typeof NoContent
  readonly events?: ReadonlyArray<AuthorizationEvent>
} => {
  const q = request.url.indexOf("?")
  const path = q === -1 ? request.url : request.url.slice(0, q)
  const query = new URLSearchParams(q === -1 ? "" : request.url.slice(q + 1))
  const tail = (prefix: string, suffix = "") =>
    path.startsWith(prefix) && path.endsWith(suffix) && path.length > prefix.length + suffix.length &&
      !path.slice(prefix.length, path.length - suffix.length).includes("/")
      ? path.slice(prefix.length, path.length - suffix.length)
      : undefined
  let raw: string | undefined
  if (path === PERMISSIONS && request.method === "POST") {
    const body = jsonBody(request.body)
    if (body instanceof Failure) return { route: "payscore.apply", result: body }
    const fields = [
      bodyField(body, "service_id", matches(IDENT, 32), true),
      bodyField(body, "appid", matches(IDENT, 32), true),
      bodyField(body, "authorization_code", matches(AUTH_CODE, 32), true),
      bodyField(body, "notify_url", isNotifyUrl, false)
    ] as const
    const failure = fields.find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "payscore.apply", result: failure }
    const [serviceId, appid, code, notifyUrl] = fields as unknown as readonly [string, string, string, string | undefined]
    const existing = store.payscoreByCode.get(`${serviceId}|${code}`)
    if (existing !== undefined && existing.authorization_state !== "UNBINDUSER") {
      return {
        route: "payscore.apply",
        result: new Failure(400, "INVALID_REQUEST", "授权协议号已被使用 (the authorization_code is already in use)")
      }
    }
    putPayscore(store, {
      service_id: serviceId,
      appid,
      openid: undefined,
      authorization_code: code,
      authorization_state: "UNBINDUSER",
      notify_url: notifyUrl
    })
    return { route: "payscore.apply", result: { apply_permissions_token: crypto.randomBytes(24).toString("base64url") } }
  }
  const terminated = (route: Route, record: PayscoreRecord | undefined) => {
    // never authorized: nothing to end; ended already: ended
    if (record === undefined || record.authorization_state === "UNBINDUSER") {
      return { route, result: new Failure(404, "ORDER_NOT_EXIST", "无授权记录") }
    }
    if (record.authorization_state === "UNAVAILABLE") return { route, result: NoContent }
    const closed = closePayscore(store, record, nowMillis)
    return { route, result: NoContent, events: [{ _tag: "PayscoreClosed", record: closed, at: nowMillis }] as const }
  }
  if ((raw = tail(PREFIX_CODE, TERMINATE)) !== undefined && request.method === "POST") {
    const code = segment(raw, "authorization_code", AUTH_CODE, 32)
    const body = jsonBody(request.body)
    if (body instanceof Failure) return { route: "payscore.terminateByAuthorizationCode", result: body }
    const serviceId = bodyField(body, "service_id", matches(IDENT, 32), true)
    const reason = bodyField(body, "reason", isReason, true)
    const failure = [code, serviceId, reason].find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "payscore.terminateByAuthorizationCode", result: failure }
    return terminated("payscore.terminateByAuthorizationCode", store.payscoreByCode.get(`${serviceId}|${code}`))
  }
  if ((raw = tail(PREFIX_OPENID, TERMINATE)) !== undefined && request.method === "POST") {
    const openid = segment(raw, "openid", OPENID, 128)
    const body = jsonBody(request.body)
    if (body instanceof Failure) return { route: "payscore.terminateByOpenid", result: body }
    const serviceId = bodyField(body, "service_id", matches(IDENT, 32), true)
    const appid = bodyField(body, "appid", matches(IDENT, 32), true)
    const reason = bodyField(body, "reason", isReason, true)
    const failure = [openid, serviceId, appid, reason].find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "payscore.terminateByOpenid", result: failure }
    const record = store.payscoreByOpenid.get(`${serviceId}|${openid}`)
    return terminated("payscore.terminateByOpenid", record?.appid === appid ? record : undefined)
  }
  if ((raw = tail(PREFIX_OPENID)) !== undefined && request.method === "GET") {
    const openid = segment(raw, "openid", OPENID, 128)
    const serviceId = queryParam(query, "service_id", IDENT, true)
    const appid = queryParam(query, "appid", IDENT, true)
    const failure = [openid, serviceId, appid].find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "payscore.openid", result: failure }
    const record = store.payscoreByOpenid.get(`${serviceId}|${openid}`)
    if (record === undefined || record.appid !== appid) {
      return { route: "payscore.openid", result: new Failure(404, "ORDER_NOT_EXIST", "无授权记录") }
    }
    return { route: "payscore.openid", result: payscoreBody(config.mchid, record, false) }
  }
  if ((raw = tail(PREFIX_CODE)) !== undefined && request.method === "GET") {
    const code = segment(raw, "authorization_code", AUTH_CODE, 32)
    const serviceId = queryParam(query, "service_id", IDENT, true)
    const failure = [code, serviceId].find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "payscore.authorizationCode", result: failure }
    const record = store.payscoreByCode.get(`${serviceId}|${code}`)
    if (record === undefined) {
      return { route: "payscore.authorizationCode", result: new Failure(404, "ORDER_NOT_EXIST", "无授权记录") }
    }
    return { route: "payscore.authorizationCode", result: payscoreBody(config.mchid, record, true) }
  }
  if ((raw = tail(PREFIX_BC)) !== undefined && request.method === "GET") {
    const openid = segment(raw, "openid", OPENID, 64)
    const appid = queryParam(query, "appid", IDENT, true)
    const subMchid = queryParam(query, "sub_mchid", DIGITS, false)
    const failure = [openid, appid, subMchid].find((x) => x instanceof Failure)
    if (failure !== undefined) return { route: "businesscircle.userAuthorization", result: failure }
    const record = store.businessCircle.get(businessCircleKey(appid as string, openid as string, subMchid as string | undefined))
    return {
      route: "businesscircle.userAuthorization",
      result: record === undefined
        ? { openid, authorize_state: "UNAUTHORIZED" }
        : omitUndefined({
          openid: record.openid,
          authorize_state: record.authorize_state,
          authorize_time: record.authorize_time,
          deauthorize_time: record.deauthorize_time
        })
    }
  }
  if (path === CERTIFICATES && request.method === "GET") {
    if (config.certificates.length === 0) {
      return {
        route: "certificates",
        result: new Failure(404, "RESOURCE_NOT_EXISTS", "无可用的平台证书，请使用微信支付公钥 (no platform certificates: use the WeChat Pay public key)")
      }
    }
    return {
      route: "certificates",
      result: {
        data: config.certificates.map((c) => ({
          serial_no: c.id,
          effective_time: beijingTime(c.notBefore.getTime()),
          expire_time: beijingTime(c.notAfter.getTime()),
          encrypt_certificate: encrypt(config.apiV3Key, c.pem, { associatedData: "certificate" })
        }))
      }
    }
  }
  return { route: undefined, result: new Failure(404, "RESOURCE_NOT_EXISTS", "请求的资源不存在 (no such resource)") }
}


/** Picks and consumes the faults that apply to a route. @internal */
export const takeFaults = (faults: Array<ActiveFault>, r: Route | undefined): ReadonlyArray<ActiveFault> => {
  const taken: Array<ActiveFault> = []
  for (const f of faults) {
    if (f.remaining > 0 && (f.route === "*" || f.route === r)) {
      taken.push(f)
      f.remaining--
    }
  }
  for (let i = faults.length - 1; i >= 0; i--) if (faults[i]!.remaining <= 0) faults.splice(i, 1)
  return taken
}

/**
 * The whole server side: check, route, fault, sign. `refused` is a failure
 * found before the body was read (a body over the limit), answered instead of
 * checking and routing. @internal
 */
export const handle = (
  config: EngineConfig,
  store: Store,
  faults: Array<ActiveFault>,
  request: IncomingRequest,
  nowMillis: number,
  refused?: Failure
): Reply => {
  const authFailure = refused ?? checkAuthorization(config, request, nowMillis)
  // faults apply to the route the URL names, even when the request failed its checks
  const r = routeOf(request.url)
  const active = new Set<FaultKind>()
  let latencyMillis = 0
  for (const f of takeFaults(faults, r)) {
    active.add(f.fault)
    if (f.fault === "Latency") latencyMillis += f.latencyMillis
  }
  // a fault stands in for the answer, before anything is done
  const fault = active.has("SystemError")
    ? new Failure(500, "SYSTEM_ERROR", "系统错误")
    : active.has("FrequencyLimited")
    ? frequencyLimited()
    : undefined
  const routed = authFailure ?? fault ?? route(config, store, request, nowMillis)
  const result = routed instanceof Failure ? routed : routed.result
  const events = routed instanceof Failure ? [] : routed.events ?? []
  const status = result instanceof Failure ? result.status : result === NoContent ? 204 : 200
  const payload = result instanceof Failure
    ? omitUndefined({ code: result.code, message: result.message, detail: result.detail })
    : result
  let body = result === NoContent ? "" : JSON.stringify(payload)
  if (active.has("MalformedJson")) body = body.slice(0, Math.max(1, body.length - 7))
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "request-id": requestId()
  }
  // a request without any Authorization is turned away before anything would sign an answer
  const signed = request.headers["authorization"] !== undefined
  if (!active.has("Unsigned") && signed) {
    const wanted = request.headers["wechatpay-serial"]
    const key = signingKey(config, wanted)
    const seconds = Math.floor(nowMillis / 1000)
    // ten minutes off: in the past when the clock allows (a TestClock starts at 0)
    const timestamp = String(!active.has("StaleTimestamp") ? seconds : seconds >= 600 ? seconds - 600 : seconds + 600)
    const nonce = crypto.randomBytes(16).toString("hex").toUpperCase()
    const signature = signResponse(key.privateKey, timestamp, nonce, body)
    headers["wechatpay-serial"] = active.has("WrongSerial") ? "PUB_KEY_ID_0000000000000000000000000000" : key.id
    headers["wechatpay-timestamp"] = timestamp
    headers["wechatpay-nonce"] = nonce
    headers["wechatpay-signature-type"] = "WECHATPAY2-SHA256-RSA2048"
    headers["wechatpay-signature"] = active.has("ProbeSignature")
      ? `WECHATPAY/SIGNTEST/${signature.slice(0, 64)}`
      : signature
  }
  if (active.has("TamperBody")) {
    body = body.replace(/"(AVAILABLE|AUTHORIZED|UNAVAILABLE|UNAUTHORIZED|DEAUTHORIZED|UNBINDUSER)"/, (s) =>
      s === "\"AVAILABLE\"" || s === "\"AUTHORIZED\"" ? "\"UNAVAILABLE\"" : "\"AVAILABLE\"")
    if (!body.includes("AVAILABLE")) body = body + " "
  }
  return { status, headers, body, latencyMillis, drop: active.has("DropConnection"), route: r, events }
}

// ---------------------------------------------------------------------------
// Request counts and the rate limit
// ---------------------------------------------------------------------------

/** The requests to one route from one merchant in one calendar second. @internal */
export interface RequestCount {
  readonly route: Route
  readonly mchid: string
  readonly second: number
  count: number
  limited: number
}

/** How many calendar seconds of counts are kept, the current one included. @internal */
export const COUNT_SECONDS = 3600

/**
 * How many (route, merchant) pairs one second counts apart; requests of
 * further merchants in that second count under `""`, so a flood of made-up
 * mchids cannot grow the counts without bound. @internal
 */
export const MAX_PAIRS_PER_SECOND = 100

/** @internal */
export interface RequestCounter {
  /** Requests per second allowed per merchant on a route; a route not named has no limit. */
  readonly limits: Partial<Readonly<Record<Route, number>>>
  /** Counts by calendar second (in the order they began), each keyed by `route|mchid`. */
  readonly windows: Map<number, Map<string, RequestCount>>
}

/** @internal */
export const makeRequestCounter = (limits: Partial<Readonly<Record<Route, number>>>): RequestCounter => ({
  limits,
  windows: new Map()
})

/**
 * The mchid a well-formed `Authorization` header names (before any check of
 * it), or `""` without one; mchids are at most 32 characters, a longer one
 * reads as `""`. @internal
 */
export const mchidOf = (header: string | undefined): string => {
  if (header === undefined) return ""
  const parts = parseAuthorization(header)
  return typeof parts === "string" || parts.mchid.length > 32 ? "" : parts.mchid
}

/** Drops the windows that are no longer among the last `COUNT_SECONDS` seconds. */
const pruneCounts = (counter: RequestCounter, second: number): void => {
  // a clock that went back leaves newer windows first: the size bound still holds
  for (const s of counter.windows.keys()) {
    if (s > second - COUNT_SECONDS && counter.windows.size <= COUNT_SECONDS) break
    counter.windows.delete(s)
  }
}

/**
 * Counts a request to a route in its calendar second and answers the 429 it
 * gets when that makes more requests than the route's limit, otherwise
 * `undefined`. @internal
 */
export const countRequest = (
  counter: RequestCounter,
  route: Route,
  mchid: string,
  nowMillis: number
): Failure | undefined => {
  const second = Math.floor(nowMillis / 1000)
  pruneCounts(counter, second)
  let window = counter.windows.get(second)
  if (window === undefined) {
    window = new Map()
    counter.windows.set(second, window)
  }
  let entry = window.get(`${route}|${mchid}`)
  if (entry === undefined) {
    const key = window.size < MAX_PAIRS_PER_SECOND ? mchid : ""
    entry = window.get(`${route}|${key}`)
    if (entry === undefined) {
      entry = { route, mchid: key, second, count: 0, limited: 0 }
      window.set(`${route}|${key}`, entry)
    }
  }
  entry.count++
  const limit = counter.limits[route]
  if (limit === undefined || entry.count <= limit) return undefined
  entry.limited++
  return frequencyLimited(limit)
}

/** The counts of the last `COUNT_SECONDS` seconds, by second, then route, then mchid. @internal */
export const requestCounts = (counter: RequestCounter, nowMillis: number): Array<RequestCount> => {
  const second = Math.floor(nowMillis / 1000)
  pruneCounts(counter, second)
  const all: Array<RequestCount> = []
  for (const window of counter.windows.values()) {
    for (const c of window.values()) {
      if (c.second > second - COUNT_SECONDS) all.push({ ...c })
    }
  }
  const order = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0)
  return all.sort((a, b) => order(a.second, b.second) || order(a.route, b.route) || order(a.mchid, b.mchid))
}

/** Whether a seed time is valid RFC 3339. @internal */
export const isRfc3339 = (s: string): boolean => parseRfc3339(s) !== undefined

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------

/** A notification ready to POST. @internal */
export interface OutgoingNotification {
  readonly id: string
  readonly eventType: string
  readonly headers: Record<string, string>
  readonly body: string
}

const eventTypeOf = (event: AuthorizationEvent): string =>
  event._tag === "PayscoreOpened"
    ? "PAYSCORE.USER_OPEN_SERVICE"
    : event._tag === "PayscoreClosed"
    ? "PAYSCORE.USER_CLOSE_SERVICE"
    : "MALL_AUTH.ACTIVATE_CARD"

/** The decrypted resource of an event, as WeChat Pay writes it (merchant mode). @internal */
export const plaintextOf = (config: EngineConfig, event: AuthorizationEvent): Record<string, unknown> =>
  event._tag === "BusinessCircleActivated"
    ? {
      openid: event.record.openid,
      code: crypto.createHash("sha256").update(event.record.openid).digest("hex").slice(0, 16).toUpperCase(),
      mchid: config.mchid,
      auth_type: "REGISTERED_AND_AUTHORIZATION_MODE"
    }
    : omitUndefined({
      appid: event.record.appid,
      mchid: config.mchid,
      service_id: event.record.service_id,
      openid: event.record.openid,
      user_service_status: event._tag === "PayscoreOpened" ? "USER_OPEN_SERVICE" : "USER_CLOSE_SERVICE",
      openorclose_time: formatChinaCompactTime(event.at),
      authorization_code: event.record.authorization_code
    })

/** Signs a body with the WeChat Pay public key, as WeChat Pay signs notifications. */
const signedHeaders = (config: EngineConfig, body: string, nowMillis: number, probe: boolean): Record<string, string> => {
  const timestamp = String(Math.floor(nowMillis / 1000))
  const nonce = crypto.randomBytes(16).toString("hex").toUpperCase()
  const signature = signResponse(config.publicKey.privateKey, timestamp, nonce, body)
  return {
    "content-type": "application/json",
    "wechatpay-serial": config.publicKey.id,
    "wechatpay-timestamp": timestamp,
    "wechatpay-nonce": nonce,
    "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    // WeChat Pay's own check that merchants verify: a signature that is no signature
    "wechatpay-signature": probe ? `WECHATPAY/SIGNTEST/${signature.slice(0, 64)}` : signature
  }
}

/**
 * A notification of an event: the envelope with its resource encrypted with
 * the APIv3 key, signed with the WeChat Pay public key. @internal
 */
export const notificationOf = (
  config: EngineConfig,
  event: AuthorizationEvent,
  nowMillis: number,
  options: { readonly probe?: boolean | undefined } = {}
): OutgoingNotification => {
  const id = `EV-${formatChinaCompactTime(nowMillis)}${crypto.randomBytes(6).toString("hex").toUpperCase()}`
  const eventType = eventTypeOf(event)
  const payscore = event._tag !== "BusinessCircleActivated"
  const resource = encrypt(config.apiV3Key, JSON.stringify(plaintextOf(config, event)), {
    associatedData: payscore ? "payscore" : "mall_auth"
  })
  const body = JSON.stringify({
    id,
    create_time: formatChinaTime(nowMillis),
    resource_type: "encrypt-resource",
    event_type: eventType,
    summary: event._tag === "PayscoreOpened"
      ? "用户开通服务 (the user opened the service)"
      : event._tag === "PayscoreClosed"
      ? "用户解除服务 (the user closed the service)"
      : "会员卡激活 (member points authorized)",
    resource: { original_type: payscore ? "payscore" : "mall_auth", ...resource }
  })
  return { id, eventType, headers: signedHeaders(config, body, nowMillis, options.probe === true), body }
}

/** The same notification signed afresh: a later delivery of it (WeChat Pay signs each delivery). @internal */
export const resigned = (config: EngineConfig, notification: OutgoingNotification, nowMillis: number): OutgoingNotification => ({
  ...notification,
  headers: signedHeaders(config, notification.body, nowMillis, false)
})

/**
 * Seconds WeChat Pay waits before each delivery of a notification that was
 * not answered with a 2xx: 0, 15, 15, 30, 180, 1800 four times, 3600, then
 * hourly, about a day in all. @internal
 */
export const NOTIFY_DELAYS_SECONDS: ReadonlyArray<number> = [
  0, 15, 15, 30, 180, 1800, 1800, 1800, 1800, 3600,
  ...Array.from({ length: 21 }, () => 3600)
]

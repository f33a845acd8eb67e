/**
 * A local WeChat Pay for tests, demos and non-Effect clients: real HTTP on
 * loopback, real signatures both ways, WeChat's error bodies, seedable
 * records and faults on demand.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import { createServer, type IncomingMessage } from "node:http"
import { promisify } from "node:util"
import { InvalidKeyError } from "../errors/Errors.js"
import * as X509 from "../protocol/x509.js"
import {
  AppId,
  AuthorizationCode,
  BusinessCircleOpenid,
  PayscoreOpenid,
  ServiceId,
  SubMchid
} from "../schemas/Common.js"
import * as Signer from "../services/Signer.js"
import * as Verifier from "../services/Verifier.js"
import { BaseUrl, Retry, type RetryPolicy, type RetrySetting } from "../internal/references.js"
import { contentLength } from "../internal/body.js"
import * as Engine from "./engine.js"
import * as Notify from "./notify.js"

// ---------------------------------------------------------------------------
// Seed data
// ---------------------------------------------------------------------------

const Rfc3339String = Schema.String.pipe(
  Schema.filter((s) => Engine.isRfc3339(s) || "must be an RFC 3339 date-time such as 2024-05-20T13:29:35+08:00")
)

/**
 * A Pay Score authorization record in the sandbox store.
 * `authorization_code` defaults to a generated one; `authorization_state` to
 * `AVAILABLE`.
 *
 * @since 0.1.0
 * @category seed
 */
export const PayscoreSeed = Schema.Struct({
  service_id: ServiceId,
  appid: AppId,
  openid: PayscoreOpenid,
  authorization_code: Schema.optional(AuthorizationCode),
  authorization_state: Schema.optional(Schema.Literal("AVAILABLE", "UNAVAILABLE", "UNBINDUSER")),
  authorization_success_time: Schema.optional(Rfc3339String),
  cancel_authorization_time: Schema.optional(Rfc3339String),
  notify_url: Schema.optional(Schema.String),
  user_risk_level: Schema.optional(Schema.Int),
  risk_level_version: Schema.optional(Schema.Int)
})

/**
 * The type of `PayscoreSeed`.
 *
 * @since 0.1.0
 * @category seed
 */
export type PayscoreSeed = typeof PayscoreSeed.Type

/**
 * A Business Circle member-points authorization in the sandbox store. Users
 * without one answer `UNAUTHORIZED`, as WeChat Pay does.
 *
 * @since 0.1.0
 * @category seed
 */
export const BusinessCircleSeed = Schema.Struct({
  appid: AppId,
  openid: BusinessCircleOpenid,
  sub_mchid: Schema.optional(SubMchid),
  authorize_state: Schema.Literal("UNAUTHORIZED", "AUTHORIZED", "DEAUTHORIZED"),
  authorize_time: Schema.optional(Rfc3339String),
  deauthorize_time: Schema.optional(Rfc3339String)
})

/**
 * The type of `BusinessCircleSeed`.
 *
 * @since 0.1.0
 * @category seed
 */
export type BusinessCircleSeed = typeof BusinessCircleSeed.Type

/**
 * The shape of a seed file: `{ "payscore": [...], "businessCircle": [...] }`.
 *
 * @since 0.1.0
 * @category seed
 */
export const SeedData = Schema.Struct({
  payscore: Schema.optionalWith(Schema.Array(PayscoreSeed), { default: () => [] }),
  businessCircle: Schema.optionalWith(Schema.Array(BusinessCircleSeed), { default: () => [] })
})

/**
 * The type of `SeedData`.
 *
 * @since 0.1.0
 * @category seed
 */
export type SeedData = typeof SeedData.Encoded

/**
 * A seed file could not be read or does not match {@link SeedData}.
 *
 * @since 0.1.0
 * @category errors
 */
export class SeedError extends Schema.TaggedError<SeedError>()("SeedError", {
  file: Schema.String,
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `seed file ${this.file}: ${this.description}`
  }
}

const decodeSeed = Schema.decodeUnknownEither(SeedData, { errors: "all", onExcessProperty: "error" })

/**
 * Reads and validates a JSON seed file.
 *
 * @since 0.1.0
 * @category seed
 */
export const loadSeed = (file: string): Effect.Effect<SeedData, SeedError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (e) =>
      new SeedError({ file, description: `cannot read: ${e instanceof Error && "code" in e ? String(e.code) : "error"}` })
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => new SeedError({ file, description: "not JSON" }) })
    ),
    Effect.flatMap((json) => {
      const result = decodeSeed(json)
      if (result._tag === "Right") return Effect.succeed(Schema.encodeSync(SeedData)(result.right))
      // one line: each issue as `path: message`
      const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
        .map((issue) => `${issue.path.length === 0 ? "(top level)" : issue.path.join(".")}: ${issue.message.replace(/\s+/g, " ")}`)
      return Effect.fail(new SeedError({ file, description: issues.join("; ") }))
    })
  )

/**
 * Demo users, the data `Sandbox.layerTest({ seed: Sandbox.demoSeed })`, the
 * CLI's `--sandbox` and `effect-wechatpay sandbox` start with:
 *
 * | lookup | answer |
 * |---|---|
 * | Pay Score, openid `oUpF8uMuAJO_M2pxb1Q9zNjWeS6o`, service `500001`, appid `wxd678efh567hg6787` | `AVAILABLE` (code `1234323JKHDFE1243252`) |
 * | Pay Score, openid `oUpF8uNqQ7zy3wl2xmnAvPKBfm2M` (code `8964323JKHDFE1249876`) | `UNAVAILABLE` |
 * | Business Circle, openid `oUpF8uMuAJO_M2pxb1Q9zNjWeS6o`, appid `wxd678efh567hg6787` | `AUTHORIZED` |
 * | any other Pay Score user | 404 `ORDER_NOT_EXIST` |
 * | any other Business Circle user | `UNAUTHORIZED` |
 *
 * @since 0.2.0
 * @category seed
 */
export const demoSeed: SeedData = {
  payscore: [
    {
      service_id: "500001",
      appid: "wxd678efh567hg6787",
      openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
      authorization_code: "1234323JKHDFE1243252",
      authorization_state: "AVAILABLE",
      authorization_success_time: "2024-05-20T13:29:35+08:00",
      user_risk_level: 0,
      risk_level_version: 1
    },
    {
      service_id: "500001",
      appid: "wxd678efh567hg6787",
      openid: "oUpF8uNqQ7zy3wl2xmnAvPKBfm2M",
      authorization_code: "8964323JKHDFE1249876",
      authorization_state: "UNAVAILABLE",
      authorization_success_time: "2023-11-02T09:12:00+08:00",
      cancel_authorization_time: "2024-03-18T20:01:44+08:00",
      notify_url: "https://merchant.example.com/payscore/notify"
    }
  ],
  businessCircle: [
    {
      appid: "wxd678efh567hg6787",
      openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
      authorize_state: "AUTHORIZED",
      authorize_time: "2024-06-01T10:00:00+08:00"
    }
  ]
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * Which Pay Score / Business Circle route a fault applies to, or `"*"` for all.
 *
 * @since 0.1.0
 * @category faults
 */
export type Route = Engine.Route | "*"

/**
 * A fault the sandbox can inject, each one a bad day the client must survive
 * with the right typed error:
 *
 * | fault | what the sandbox does | what the client sees |
 * |---|---|---|
 * | `Latency` | waits `latency` before answering | a slow answer (or a timeout) |
 * | `SystemError` | 500 `SYSTEM_ERROR` | `BusinessError`, retryable |
 * | `FrequencyLimited` | 429 `FREQUENCY_LIMITED` | `BusinessError`, retryable |
 * | `DropConnection` | closes the socket without answering | `NetworkError(Transport)` |
 * | `TamperBody` | changes the body after signing | `SignatureError(InvalidSignature)` |
 * | `WrongSerial` | names an unknown key in `Wechatpay-Serial` | `SignatureError(UnknownSerial)` |
 * | `StaleTimestamp` | signs with a timestamp 10 minutes off (old, unless the clock is near 0) | `SignatureError(TimestampSkew)` |
 * | `MalformedJson` | sends (and signs) truncated JSON | `DecodeError` |
 * | `Unsigned` | leaves out the signature headers | `SignatureError(MissingHeaders)` on 2xx |
 * | `ProbeSignature` | sends a `WECHATPAY/SIGNTEST/` probe signature | `SignatureError(MalformedSignature)` |
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault = Engine.FaultKind

/**
 * Every fault kind, in table order.
 *
 * @since 0.1.0
 * @category faults
 */
export const faults: ReadonlyArray<Fault> = [
  "Latency",
  "SystemError",
  "FrequencyLimited",
  "DropConnection",
  "TamperBody",
  "WrongSerial",
  "StaleTimestamp",
  "MalformedJson",
  "Unsigned",
  "ProbeSignature"
]

/**
 * A request the sandbox received, with the status it answered.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly route: Engine.Route | undefined
  readonly status: number
  readonly requestId: string
  readonly wechatpaySerial: string | undefined
}

/**
 * The requests to one route from one merchant in one calendar second, as
 * `requestCounts` and `GET /sandbox/request-counts` list them: what a fleet
 * of clients really sent, seen from WeChat Pay's side.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestCount {
  readonly route: Engine.Route
  /**
   * The mchid the request's `Authorization` header names (checked or not);
   * `""` for a request without a well-formed header, and for the requests
   * of merchants met in a second after its first 100 (route, mchid) pairs.
   */
  readonly mchid: string
  /** The calendar second: Unix time in whole seconds (`Math.floor(millis / 1000)`). */
  readonly second: number
  /** Every request in that second, answered or limited. */
  readonly count: number
  /** Of them, the ones the rate limit answered `429 FREQUENCY_LIMITED`. */
  readonly limited: number
}

/**
 * The sandbox's identity and key material. The merchant private key is only
 * known when the sandbox generated it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly mchid: string
  readonly merchantSerialNo: string
  readonly merchantPrivateKey: Redacted.Redacted<string> | undefined
  readonly merchantPublicKeyPem: string
  readonly platformPublicKeyId: string
  readonly platformPublicKeyPem: string
  /** The first platform certificate (undefined with `platformCertificates: false`). */
  readonly platformCertificateSerial: string | undefined
  readonly platformCertificatePem: string | undefined
  /** The APIv3 key that encrypts `GET /v3/certificates` (and would encrypt callbacks). */
  readonly apiV3Key: Redacted.Redacted<string>
}

/**
 * The shape of the `Sandbox` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `http://127.0.0.1:<port>`: point `Wechatpay.BaseUrl` here. */
  readonly baseUrl: string
  readonly credentials: Credentials
  /** Adds or replaces a Pay Score authorization record. */
  readonly addPayscorePermission: (record: PayscoreSeed) => Effect.Effect<void>
  /** Revokes a Pay Score authorization: `UNAVAILABLE`, cancel time now. */
  readonly revokePayscorePermission: (key: { readonly service_id: string; readonly openid: string }) => Effect.Effect<void>
  /** Sets a Business Circle member-points authorization. */
  readonly setBusinessCircleAuthorization: (record: BusinessCircleSeed) => Effect.Effect<void>
  /**
   * The user opens (authorizes) a Pay Score service: a pre-authorization
   * with `authorization_code` is bound to `openid`, or a record is made; it
   * reads `AVAILABLE`, and `PAYSCORE.USER_OPEN_SERVICE` is delivered. Answers
   * the notification id (`undefined` when there is no notify URL).
   */
  readonly openPayscore: (
    user: { readonly service_id: string; readonly appid: string; readonly openid: string; readonly authorization_code?: string | undefined },
    delivery?: Delivery
  ) => Effect.Effect<string | undefined>
  /**
   * The user closes a Pay Score service: the record reads `UNAVAILABLE` and
   * `PAYSCORE.USER_CLOSE_SERVICE` is delivered (also after a terminate call).
   */
  readonly closePayscore: (
    user: { readonly service_id: string; readonly openid: string },
    delivery?: Delivery
  ) => Effect.Effect<string | undefined>
  /** The user authorizes Business Circle member points: `AUTHORIZED`, and `MALL_AUTH.ACTIVATE_CARD` is delivered. */
  readonly activateBusinessCircle: (
    user: { readonly appid: string; readonly openid: string; readonly sub_mchid?: string | undefined },
    delivery?: Delivery
  ) => Effect.Effect<string | undefined>
  /** Delivers a notification sent before once more (a duplicate); answers the status the merchant answered. */
  readonly redeliver: (id: string) => Effect.Effect<number | undefined>
  /** Sends one notification with a `WECHATPAY/SIGNTEST/` probe signature; answers the status (a merchant that verifies: 401). */
  readonly sendProbe: (url?: string | undefined) => Effect.Effect<number | undefined>
  /** The recent deliveries of notifications, oldest first. */
  readonly notifications: Effect.Effect<ReadonlyArray<NotificationDelivery>>
  /** Loads many records at once. */
  readonly seed: (data: SeedData) => Effect.Effect<void>
  /**
   * Injects a fault on a route (default all) for the next `times` requests
   * (default: until cleared).
   */
  readonly injectFault: (options: {
    readonly fault: Fault
    readonly route?: Route | undefined
    readonly times?: number | undefined
    readonly latency?: Duration.DurationInput | undefined
  }) => Effect.Effect<void>
  readonly clearFaults: Effect.Effect<void>
  /** The requests received most recently (up to `requestLog` of them), oldest first. */
  readonly requests: Effect.Effect<ReadonlyArray<ReceivedRequest>>
  /**
   * The requests to each route per merchant and calendar second over the
   * last hour (3600 seconds), by second, then route: every request to a
   * WeChat Pay route counts, answered or limited. Also at
   * `GET /sandbox/request-counts`.
   */
  readonly requestCounts: Effect.Effect<ReadonlyArray<RequestCount>>
  /**
   * Forgets every count, and with them what the current second's requests
   * used of the rate limit.
   */
  readonly resetRequestCounts: Effect.Effect<void>
  /** The platform certificates `GET /v3/certificates` lists now, oldest first. */
  readonly certificates: Effect.Effect<ReadonlyArray<{ readonly serial: string; readonly pem: string }>>
  /**
   * Issues a new platform certificate and returns its serial. Responses are
   * signed with the newest certificate unless a request asks for another by
   * `Wechatpay-Serial`; with `retireOld` the previous certificates are
   * withdrawn at once (otherwise they stay listed, as during WeChat Pay's
   * overlap before an old certificate expires).
   */
  readonly rotateCertificate: (options?: {
    readonly retireOld?: boolean | undefined
    readonly validity?: { readonly notBefore: Date; readonly notAfter: Date } | undefined
  }) => Effect.Effect<string>
}

/**
 * Where and how often a notification is delivered: `notifyUrl` instead of
 * the record's or the sandbox's; `copies` deliveries at once the first time
 * (a concurrent duplicate).
 *
 * @since 0.2.0
 * @category models
 */
export interface Delivery {
  readonly notifyUrl?: string | undefined
  readonly copies?: number | undefined
}

/**
 * One delivery of a notification and what the merchant answered.
 *
 * @since 0.2.0
 * @category models
 */
export type NotificationDelivery = Notify.NotificationDelivery

/**
 * The sandbox: a `Context.Tag` for {@link Service}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Sandbox extends Context.Tag("effect-wechatpay/Sandbox")<Sandbox, Service>() {}

/**
 * Options of {@link make} and the layers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 127.0.0.1 (loopback only). */
  readonly host?: string | undefined
  /** Default 0: a free port. */
  readonly port?: number | undefined
  /** Default `"1900000001"`. */
  readonly mchid?: string | undefined
  /**
   * Use this merchant identity instead of a generated key pair (e.g. to test
   * with the merchant's real public key and serial).
   */
  readonly merchant?: {
    readonly serialNo: string
    readonly publicKeyPem: string
    /** Needed only by `layerClient`/`layerTest`, which sign with it. */
    readonly privateKey?: Redacted.Redacted<string> | undefined
  } | undefined
  /** Records to start with. */
  readonly seed?: SeedData | undefined
  /** The platform certificate's validity; default 1970-01-01 to 2099-12-31, so `TestClock` works. */
  readonly certificateValidity?: { readonly notBefore: Date; readonly notAfter: Date } | undefined
  /**
   * Whether the merchant has platform certificates (default true). Without
   * them `GET /v3/certificates` answers 404 `RESOURCE_NOT_EXISTS`, as for
   * merchants created since late 2024, and only the public key signs.
   */
  readonly platformCertificates?: boolean | undefined
  /**
   * Where this sandbox delivers notifications (a local merchant server). A
   * record's own `notify_url`, from a pre-authorization, is used only when
   * this is not set; without either, none is sent. The sandbox delivers only
   * to this machine (`127.x.x.x`, `[::1]`, `localhost`): a URL elsewhere is
   * never reached.
   */
  readonly notifyUrl?: string | undefined
  /**
   * WeChat Pay's delays between deliveries of an unanswered notification (0 s,
   * 15 s, 15 s, 30 s, 180 s, 1800 s four times, then hourly for about a day)
   * are multiplied by this: 1 (the default) as WeChat Pay waits, 0.001 to
   * see a day of deliveries in under two minutes. A finite number ≥ 0.
   */
  readonly notifyTimeScale?: number | undefined
  /**
   * WeChat Pay's per-merchant limit on each endpoint: at most this many
   * requests per second from one merchant to one route, a number for every
   * route or a record for the routes it names (the others have no limit).
   * A whole number > 0. Default: no limit.
   *
   * Seconds are calendar seconds of the sandbox's `Clock`, fixed windows
   * aligned to the wall clock (`Math.floor(Date.now() / 1000)`), not a
   * sliding second: a burst may get up to the limit at the end of one second
   * and again at the start of the next. The merchant is the mchid the
   * `Authorization` header names (`""` without a well-formed header). Every
   * request to a WeChat Pay route counts, whether it is signed, valid or
   * limited itself; one past the limit in its second is answered
   * `429 FREQUENCY_LIMITED` (signed like the sandbox's other errors) before
   * its signature is checked, its body read or anything done. See
   * `requestCounts`.
   */
  readonly rateLimit?: number | Partial<Readonly<Record<Engine.Route, number>>> | undefined
  /** How many recent requests `requests` keeps (default 1000); their URLs are kept to 1024 characters. */
  readonly requestLog?: number | undefined
  /**
   * The largest request body read (default 64 KiB); a larger one is answered
   * `413` without being read. A request that fails the checks of its
   * `Authorization` header that need no body is answered `401` with no body
   * read at all.
   */
  readonly maxBodyBytes?: number | undefined
  /**
   * How long a connection may take to send its headers (default 10 s) and
   * its whole request (30 s), and stay idle between requests (5 s); 0 or
   * `Duration.infinity` for no limit.
   */
  readonly timeouts?: {
    readonly headers?: Duration.DurationInput | undefined
    readonly request?: Duration.DurationInput | undefined
    readonly idle?: Duration.DurationInput | undefined
  } | undefined
}

const generateKeyPair = promisify(crypto.generateKeyPair)

/**
 * A request body, or `undefined` as soon as it passes `max` bytes: reading
 * stops there but the connection stays up for the answer (which closes it),
 * so memory stays bounded whatever a client sends. A body cut off by the
 * client reads as empty (its signature then fails). Node's own stream, not the
 * platform's: ending that early would destroy the socket before the `413`.
 */
const readRequestBody = (incoming: IncomingMessage, max: number): Effect.Effect<Uint8Array | undefined> =>
  Effect.async<Uint8Array | undefined>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => void incoming.off("data", onData).off("end", onEnd).off("error", onError)
    const done = (result: Uint8Array | undefined) => {
      stop()
      resume(Effect.succeed(result))
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= max) return void chunks.push(chunk)
      incoming.pause()
      done(undefined)
    }
    const onEnd = () => done(Buffer.concat(chunks, size))
    const onError = () => done(new Uint8Array(0))
    incoming.on("data", onData).on("end", onEnd).on("error", onError)
    return Effect.sync(stop)
  })

/** What the sandbox's own routes take (each uses some of it). */
const AdminBody = Schema.Struct({
  service_id: Schema.optional(Schema.String),
  appid: Schema.optional(Schema.String),
  openid: Schema.optional(Schema.String),
  authorization_code: Schema.optional(Schema.String),
  sub_mchid: Schema.optional(Schema.String),
  notify_url: Schema.optional(Schema.String),
  id: Schema.optional(Schema.String)
})

const parseJsonOr = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Node's server timeouts from the options: whole milliseconds, 0 for "none", headers within the request's. */
const serverTimeouts = (timeouts: Options["timeouts"]) => {
  const millis = (duration: Duration.DurationInput | undefined, fallback: number): number => {
    if (duration === undefined) return fallback
    const decoded = Duration.decode(duration)
    return Duration.isFinite(decoded) && Duration.toMillis(decoded) > 0 ? Math.max(1, Math.round(Duration.toMillis(decoded))) : 0
  }
  const request = millis(timeouts?.request, 30_000)
  const headers = millis(timeouts?.headers, 10_000)
  return {
    requestTimeout: request,
    headersTimeout: request === 0 ? headers : Math.min(headers === 0 ? request : headers, request),
    keepAliveTimeout: millis(timeouts?.idle, 5_000),
    // how often Node looks for connections past their time (its default, 30 s, would let them run on)
    connectionsCheckingInterval: Math.max(100, Math.min(1000, ...[headers, request].filter((t) => t > 0)))
  }
}

/** The limit of each route from the `rateLimit` option, or what is wrong with it. */
const rateLimits = (option: Options["rateLimit"]): Partial<Record<Engine.Route, number>> | string => {
  const valid = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n > 0
  if (option === undefined) return {}
  if (typeof option === "number") {
    return valid(option)
      ? Object.fromEntries(Engine.routes.map((route) => [route, option]))
      : `rateLimit must be a whole number > 0, got ${option}`
  }
  if (typeof option !== "object" || option === null || Array.isArray(option)) {
    return `rateLimit must be a whole number > 0 or a record of them by route, got ${String(option)}`
  }
  const limits: Partial<Record<Engine.Route, number>> = {}
  for (const [route, limit] of Object.entries(option)) {
    if (!(Engine.routes as ReadonlyArray<string>).includes(route)) {
      return `rateLimit names no route ${JSON.stringify(route)} (routes: ${Engine.routes.join(", ")})`
    }
    if (limit === undefined) continue
    if (!valid(limit)) return `rateLimit["${route}"] must be a whole number > 0, got ${String(limit)}`
    limits[route as Engine.Route] = limit
  }
  return limits
}

const rsa = () => Effect.promise(() => generateKeyPair("rsa", { modulusLength: 2048 }))

const randomDigits = (n: number) => Array.from(crypto.randomBytes(n), (b) => String(b % 10)).join("")

const ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const randomAlphanumeric = (n: number) => Array.from(crypto.randomBytes(n), (b) => ALPHANUMERIC[b % 62]).join("")

const toPayscoreRecord = (seed: PayscoreSeed): Engine.PayscoreRecord => ({
  ...seed,
  authorization_code: seed.authorization_code ?? crypto.randomBytes(10).toString("hex").toUpperCase(),
  authorization_state: seed.authorization_state ?? "AVAILABLE"
})

/**
 * Starts a sandbox in the current scope and returns it; the server closes
 * with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const timeScale = options.notifyTimeScale ?? 1
    if (!(Number.isFinite(timeScale) && timeScale >= 0)) {
      return yield* Effect.dieMessage(`Sandbox: notifyTimeScale must be a finite number ≥ 0, got ${timeScale}`)
    }
    if (options.notifyUrl !== undefined && !Notify.isLoopbackUrl(options.notifyUrl)) {
      return yield* Effect.dieMessage("Sandbox: notifyUrl must be an http(s) URL on this machine (127.x.x.x, [::1], localhost)")
    }
    const limits = rateLimits(options.rateLimit)
    if (typeof limits === "string") return yield* Effect.dieMessage(`Sandbox: ${limits}`)
    const mchid = options.mchid ?? "1900000001"
    const withCertificates = options.platformCertificates ?? true
    // the key pairs are generated side by side (on libuv's thread pool)
    const [generatedMerchant, publicKeyPair, certificatePair] = yield* Effect.all([
      options.merchant === undefined ? rsa() : Effect.succeed(undefined),
      rsa(),
      withCertificates ? rsa() : Effect.succeed(undefined)
    ], { concurrency: "unbounded" })
    const merchantPublicKeyPem = options.merchant?.publicKeyPem ??
      generatedMerchant!.publicKey.export({ type: "spki", format: "pem" }).toString()
    const merchantSerialNo = options.merchant?.serialNo ?? crypto.randomBytes(20).toString("hex").toUpperCase()
    const platformPublicKeyId = `PUB_KEY_ID_01${randomDigits(28)}`
    const apiV3KeyText = randomAlphanumeric(32)
    const apiV3Key = crypto.createSecretKey(Buffer.from(apiV3KeyText, "utf8"))
    const config: Engine.EngineConfig = {
      mchid,
      merchantSerial: merchantSerialNo,
      merchantPublicKey: crypto.createPublicKey(merchantPublicKeyPem),
      publicKey: { id: platformPublicKeyId, privateKey: publicKeyPair.privateKey },
      certificates: [],
      apiV3Key
    }
    const certificate = (
      pair: crypto.KeyPairKeyObjectResult,
      validity: { readonly notBefore: Date; readonly notAfter: Date } | undefined
    ): Engine.PlatformCertificate => {
      const serial = (1 + (crypto.randomBytes(1)[0]! % 7)).toString(16) +
        crypto.randomBytes(20).toString("hex").toUpperCase().slice(0, 39)
      const notBefore = validity?.notBefore ?? new Date(0)
      const notAfter = validity?.notAfter ?? new Date(Date.UTC(2099, 11, 31, 23, 59, 59))
      return {
        id: serial,
        privateKey: pair.privateKey,
        notBefore,
        notAfter,
        pem: X509.selfSignedCertificate({ serialHex: serial, privateKey: pair.privateKey, notBefore, notAfter })
      }
    }
    const newCertificate = (validity: { readonly notBefore: Date; readonly notAfter: Date } | undefined) =>
      Effect.map(rsa(), (pair) => certificate(pair, validity))
    if (certificatePair !== undefined) config.certificates.push(certificate(certificatePair, options.certificateValidity))
    const first = config.certificates[0]
    const credentials: Credentials = {
      mchid,
      merchantSerialNo,
      merchantPrivateKey: generatedMerchant === undefined
        ? options.merchant?.privateKey
        : Redacted.make(generatedMerchant.privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
      merchantPublicKeyPem,
      platformPublicKeyId,
      platformPublicKeyPem: publicKeyPair.publicKey.export({ type: "spki", format: "pem" }).toString(),
      platformCertificateSerial: first?.id,
      platformCertificatePem: first?.pem,
      apiV3Key: Redacted.make(apiV3KeyText)
    }
    const store = Engine.makeStore()
    const active: Array<Engine.ActiveFault> = []
    const received = Notify.ring<ReceivedRequest>(options.requestLog ?? 1000)
    const counter = Engine.makeRequestCounter(limits)
    const requestCounts: Effect.Effect<ReadonlyArray<RequestCount>> = Effect.map(
      Clock.currentTimeMillis,
      (now) => Engine.requestCounts(counter, now)
    )
    const notifier = yield* Notify.makeNotifier(config, {
      notifyUrl: options.notifyUrl,
      timeScale,
      logSize: options.requestLog ?? 1000
    })

    const seed = (data: SeedData) =>
      Effect.sync(() => {
        for (const r of data.payscore ?? []) Engine.putPayscore(store, toPayscoreRecord(r))
        for (const r of data.businessCircle ?? []) Engine.putBusinessCircle(store, r)
      })
    if (options.seed !== undefined) yield* seed(options.seed)

    const maxBody = options.maxBodyBytes ?? 64 * 1024

    const openPayscore: Service["openPayscore"] = (user, delivery) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const pending = user.authorization_code === undefined
          ? undefined
          : store.payscoreByCode.get(`${user.service_id}|${user.authorization_code}`)
        const existing = pending ?? store.payscoreByOpenid.get(`${user.service_id}|${user.openid}`)
        const record: Engine.PayscoreRecord = {
          service_id: user.service_id,
          appid: user.appid,
          openid: user.openid,
          authorization_code: user.authorization_code ?? existing?.authorization_code ??
            crypto.randomBytes(10).toString("hex").toUpperCase(),
          authorization_state: "AVAILABLE",
          authorization_success_time: Engine.beijingTime(now),
          notify_url: existing?.notify_url
        }
        Engine.putPayscore(store, record)
        return notifier.deliver({ _tag: "PayscoreOpened", record, at: now }, delivery)
      })

    const closePayscore: Service["closePayscore"] = (user, delivery) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const record = store.payscoreByOpenid.get(`${user.service_id}|${user.openid}`)
        if (record === undefined) return Effect.succeed(undefined)
        const closed = Engine.closePayscore(store, record, now)
        return notifier.deliver({ _tag: "PayscoreClosed", record: closed, at: now }, delivery)
      })

    const activateBusinessCircle: Service["activateBusinessCircle"] = (user, delivery) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const record: Engine.BusinessCircleRecord = {
          appid: user.appid,
          openid: user.openid,
          sub_mchid: user.sub_mchid,
          authorize_state: "AUTHORIZED",
          authorize_time: Engine.beijingTime(now)
        }
        Engine.putBusinessCircle(store, record)
        return notifier.deliver({ _tag: "BusinessCircleActivated", record, at: now }, delivery)
      })

    /** The sandbox's own routes, for clients and scripts that are not Effect programs (loopback only). */
    const admin = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        const path = request.url.split("?")[0]!
        if (request.method === "GET" && path === "/sandbox/notifications") {
          return HttpServerResponse.unsafeJson(yield* notifier.deliveries)
        }
        if (request.method === "GET" && path === "/sandbox/request-counts") {
          return HttpServerResponse.unsafeJson(yield* requestCounts)
        }
        const bytes = request.method === "POST"
          ? yield* readRequestBody(NodeHttpServerRequest.toIncomingMessage(request), maxBody)
          : undefined
        const body = Either.getOrElse(
          Schema.decodeUnknownEither(AdminBody)(bytes === undefined ? {} : parseJsonOr(Buffer.from(bytes).toString("utf8"))),
          () => undefined
        )
        const ok = (result: Record<string, unknown>) => HttpServerResponse.unsafeJson(result)
        const wanted = (fields: string) =>
          HttpServerResponse.unsafeJson({ code: "PARAM_ERROR", message: `expected a JSON body with ${fields}` }, { status: 400 })
        if (request.method !== "POST" || body === undefined) return wanted("the fields of the route")
        switch (path) {
          case "/sandbox/payscore/open":
            return body.service_id === undefined || body.appid === undefined || body.openid === undefined
              ? wanted("service_id, appid, openid (authorization_code, notify_url)")
              : ok({
                notification_id: (yield* openPayscore({
                  service_id: body.service_id,
                  appid: body.appid,
                  openid: body.openid,
                  authorization_code: body.authorization_code
                }, { notifyUrl: body.notify_url })) ?? null
              })
          case "/sandbox/payscore/close":
            return body.service_id === undefined || body.openid === undefined
              ? wanted("service_id, openid (notify_url)")
              : ok({
                notification_id: (yield* closePayscore({ service_id: body.service_id, openid: body.openid }, {
                  notifyUrl: body.notify_url
                })) ?? null
              })
          case "/sandbox/businesscircle/activate":
            return body.appid === undefined || body.openid === undefined
              ? wanted("appid, openid (sub_mchid, notify_url)")
              : ok({
                notification_id: (yield* activateBusinessCircle({ appid: body.appid, openid: body.openid, sub_mchid: body.sub_mchid }, {
                  notifyUrl: body.notify_url
                })) ?? null
              })
          case "/sandbox/notifications/redeliver":
            return body.id === undefined ? wanted("id") : ok({ status: (yield* notifier.redeliver(body.id)) ?? null })
          case "/sandbox/notifications/probe":
            return ok({ status: (yield* notifier.probe(body.notify_url)) ?? null })
        }
        return HttpServerResponse.unsafeJson({ code: "RESOURCE_NOT_EXISTS", message: "no such sandbox route" }, { status: 404 })
      })

    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.url.startsWith("/sandbox/")) return yield* admin(request)
      const now = yield* Clock.currentTimeMillis
      const hasBody = request.method !== "GET" && request.method !== "HEAD"
      // every request to a route counts; one over the rate limit is answered before anything else
      const route = Engine.routeOf(request.url)
      const limited = route === undefined
        ? undefined
        : Engine.countRequest(counter, route, Engine.mchidOf(request.headers["authorization"]), now)
      // what WeChat Pay checks without the body comes next: nothing is read for a request that
      // fails it, and none is read past the limit
      const signed = !(Engine.precheckAuthorization(config, request.headers, now) instanceof Engine.Failure)
      const length = contentLength(request.headers)
      const body = !hasBody || !signed || limited !== undefined
        ? ""
        : length !== undefined && length > maxBody
        ? undefined
        : yield* readRequestBody(NodeHttpServerRequest.toIncomingMessage(request), maxBody)
      const refused = limited ?? (body === undefined ? Engine.bodyTooLarge(maxBody) : undefined)
      const text = body === undefined || typeof body === "string" ? "" : Buffer.from(body).toString("utf8")
      const reply = Engine.handle(config, store, active, {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: text
      }, now, refused)
      const serial = request.headers["wechatpay-serial"]
      received.push({
        method: request.method,
        url: request.url.length > 1024 ? request.url.slice(0, 1024) + "…" : request.url,
        route: reply.route,
        status: reply.drop ? 0 : reply.status,
        requestId: reply.headers["request-id"]!,
        wechatpaySerial: serial === undefined ? undefined : serial.slice(0, 128)
      })
      // what happened to authorizations is told to the merchant
      for (const event of reply.events) yield* notifier.deliver(event)
      if (reply.latencyMillis > 0) yield* Effect.sleep(reply.latencyMillis)
      if (reply.drop) {
        NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
        return HttpServerResponse.empty({ status: 500 })
      }
      const { "content-type": contentType, ...headers } = reply.headers
      // a body left unread would follow on the connection: close it after the answer
      const unread = hasBody
        ? !signed || limited !== undefined || body === undefined
        : (length ?? 0) > 0 || request.headers["transfer-encoding"] !== undefined
      const answerHeaders = unread ? { ...headers, connection: "close" } : headers
      return reply.status === 204
        ? HttpServerResponse.empty({ status: 204, headers: answerHeaders })
        : HttpServerResponse.text(reply.body, { status: reply.status, headers: answerHeaders, contentType })
    })

    const context = yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() =>
          // a client that sends its headers or its request too slowly, or sits idle, is cut off
          createServer(serverTimeouts(options.timeouts)), {
          host: options.host ?? "127.0.0.1",
          port: options.port ?? 0
        }))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    const baseUrl = address._tag === "TcpAddress"
      ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
      : `http://unix:${address.path}`

    return Sandbox.of({
      baseUrl,
      credentials,
      addPayscorePermission: (record) => Effect.sync(() => Engine.putPayscore(store, toPayscoreRecord(record))),
      revokePayscorePermission: ({ openid, service_id }) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const record = store.payscoreByOpenid.get(`${service_id}|${openid}`)
            if (record !== undefined) {
              Engine.putPayscore(store, {
                ...record,
                authorization_state: "UNAVAILABLE",
                cancel_authorization_time: Engine.beijingTime(now)
              })
            }
          })),
      setBusinessCircleAuthorization: (record) => Effect.sync(() => Engine.putBusinessCircle(store, record)),
      openPayscore,
      closePayscore,
      activateBusinessCircle,
      redeliver: notifier.redeliver,
      sendProbe: notifier.probe,
      notifications: notifier.deliveries,
      seed,
      injectFault: ({ fault, latency, route, times }) =>
        Effect.sync(() => {
          active.push({
            fault,
            route: route ?? "*",
            remaining: times ?? Number.POSITIVE_INFINITY,
            latencyMillis: latency === undefined ? 1000 : Duration.toMillis(Duration.decode(latency))
          })
        }),
      clearFaults: Effect.sync(() => {
        active.length = 0
      }),
      requests: Effect.sync(() => received.snapshot()),
      requestCounts,
      resetRequestCounts: Effect.sync(() => counter.windows.clear()),
      certificates: Effect.sync(() => config.certificates.map((c) => ({ serial: c.id, pem: c.pem }))),
      rotateCertificate: (rotation = {}) =>
        Effect.map(newCertificate(rotation.validity), (certificate) => {
          if (rotation.retireOld === true) config.certificates.length = 0
          config.certificates.push(certificate)
          return certificate.id
        })
    })
  })

/**
 * A layer running a fresh sandbox for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Sandbox, ServeError> => Layer.scoped(Sandbox, make(options))

/**
 * How the client's `Verifier` trusts the sandbox: its WeChat Pay public key,
 * its platform certificate, or both (preferring the public key).
 *
 * @since 0.1.0
 * @category models
 */
export type TrustMode = "publicKey" | "certificate" | "both"

const NO_RETRY: RetryPolicy = { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false }

/**
 * Options of {@link layerClient} and {@link layerTest}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends Options {
  readonly trust?: TrustMode | undefined
  /**
   * The client's retry setting (a policy record or a `Schedule`). Default: no
   * retries, so each injected fault reaches the test as its typed error, and
   * nothing sleeps on a `TestClock`. Pass one (and advance the `TestClock`) to
   * test retries.
   */
  readonly retry?: RetrySetting | undefined
}

/**
 * A fresh sandbox plus everything a query needs but the HTTP client: a
 * `Signer` with the sandbox's merchant key, a `Verifier` trusting its
 * platform keys, `Wechatpay.BaseUrl` pointing at it, and retries off unless
 * `retry` is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: ClientOptions = {}
): Layer.Layer<Sandbox | Signer.Signer | Verifier.Verifier | BaseUrl | Retry, ServeError | InvalidKeyError> =>
  Layer.unwrapEffect(Effect.map(Sandbox, (sandbox) => {
    const c = sandbox.credentials
    const trust = options.trust ?? "both"
    return Layer.mergeAll(
      c.merchantPrivateKey === undefined
        ? Layer.fail(
          new InvalidKeyError({
            key: "PrivateKey",
            description: "the sandbox's merchant was given without privateKey, so no client can sign for it"
          })
        )
        : Signer.layer({ mchid: c.mchid, serialNo: c.merchantSerialNo, privateKey: c.merchantPrivateKey }),
      Verifier.layer({
        ...(trust !== "certificate" ? { publicKeys: { [c.platformPublicKeyId]: c.platformPublicKeyPem } } : {}),
        ...(trust !== "publicKey" && c.platformCertificatePem !== undefined
          ? { certificates: [c.platformCertificatePem] }
          : {})
      }),
      Layer.succeed(BaseUrl, sandbox.baseUrl),
      Layer.succeed(Retry, options.retry ?? NO_RETRY)
    )
  })).pipe(Layer.provideMerge(layer(options)))

/**
 * Everything a query needs against a fresh sandbox, torn down with the
 * scope: {@link layerClient} plus an HTTP client (`NodeHttpClient.layerUndici`
 * unless another is given).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Payscore } from "effect-wechatpay"
 * import { Sandbox } from "effect-wechatpay/sandbox"
 *
 * const test = Effect.gen(function*() {
 *   const sandbox = yield* Sandbox.Sandbox
 *   yield* sandbox.addPayscorePermission({ service_id: "500001", appid: "wx1", openid: "o1" })
 *   const record = yield* Payscore.getPermissionsByOpenid({ openid: "o1", params: { service_id: "500001", appid: "wx1" } })
 *   console.log(record.authorization_state) // "AVAILABLE"
 * }).pipe(Effect.provide(Sandbox.layerTest()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  options: ClientOptions & { readonly httpClient?: Layer.Layer<HttpClient.HttpClient> | undefined } = {}
): Layer.Layer<
  Sandbox | Signer.Signer | Verifier.Verifier | BaseUrl | Retry | HttpClient.HttpClient,
  ServeError | InvalidKeyError
> => Layer.merge(layerClient(options), options.httpClient ?? NodeHttpClient.layerUndici)

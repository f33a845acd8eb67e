/**
 * Notifications WeChat Pay POSTs to a merchant: verified like an API answer,
 * decrypted with the APIv3 key, decoded by event type, and served as an
 * `HttpApp` that answers WeChat Pay as it expects and runs a handler once per
 * notification.
 *
 * @since 0.2.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { DecodeError, type DedupeError, DecryptError, type InvalidKeyError, SignatureError } from "../errors/Errors.js"
import { contentLength, readAtMost } from "../internal/body.js"
import { ApiV3KeyConfig as apiV3KeyConfig } from "../internal/config.js"
import { decrypt } from "../protocol/aead.js"
import { DecryptFailure, SignatureFailure } from "../protocol/failures.js"
import { signatureHeaders } from "../protocol/verification.js"
import {
  BusinessCircleActivation,
  Envelope,
  PayscoreServiceEventType,
  PayscoreUserService
} from "../schemas/Notifications.js"
import * as Aead from "./Aead.js"
import * as LookupCache from "./LookupCache.js"
import { Verifier } from "./Verifier.js"

export {
  /**
   * @since 0.2.0
   * @category schemas
   */
  BusinessCircleActivation,
  /**
   * @since 0.2.0
   * @category schemas
   */
  Envelope,
  /**
   * @since 0.2.0
   * @category schemas
   */
  PayscoreUserService
} from "../schemas/Notifications.js"

// ---------------------------------------------------------------------------
// The decoded notification
// ---------------------------------------------------------------------------

/**
 * What every notification has besides its resource.
 *
 * @since 0.2.0
 * @category models
 */
export interface Base {
  /** WeChat Pay's id of the notification, the same on every delivery of it. */
  readonly id: string
  readonly create_time: Date
  readonly resource_type: string
  readonly summary?: string | undefined
}

/**
 * A user opened or closed a Pay Score service.
 *
 * @since 0.2.0
 * @category models
 */
export interface PayscoreUserServiceNotification extends Base {
  readonly _tag: "PayscoreUserService"
  readonly event_type: typeof PayscoreServiceEventType.Type
  readonly resource: PayscoreUserService
}

/**
 * A user authorized Business Circle member points.
 *
 * @since 0.2.0
 * @category models
 */
export interface BusinessCircleActivationNotification extends Base {
  readonly _tag: "BusinessCircleActivation"
  readonly event_type: "MALL_AUTH.ACTIVATE_CARD"
  readonly resource: BusinessCircleActivation
}

/**
 * A notification of an event this library does not model: verified and
 * decrypted, its resource the plaintext parsed as JSON.
 *
 * @since 0.2.0
 * @category models
 */
export interface OtherNotification extends Base {
  readonly _tag: "Other"
  readonly event_type: string
  readonly resource: unknown
}

/**
 * A verified, decrypted, decoded notification. `_tag` tells the three shapes
 * apart (`Match.tag` and `switch` narrow on it); `event_type` is WeChat's
 * own, a literal in the two modelled shapes, but a string in `Other`, so
 * comparing `event_type` alone does not narrow the union: test `_tag` first.
 *
 * @since 0.2.0
 * @category models
 */
export type Notification = PayscoreUserServiceNotification | BusinessCircleActivationNotification | OtherNotification

/**
 * The APIv3 key notifications are decrypted with.
 *
 * @since 0.2.0
 * @category tags
 */
export class ApiV3Key extends Context.Tag("effect-wechatpay/Notifications/ApiV3Key")<ApiV3Key, Aead.ApiV3Key>() {}

/**
 * A layer providing the {@link ApiV3Key}, checked once (32 bytes).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Notifications } from "effect-wechatpay"
 *
 * const KeyLive = Notifications.layer({ apiV3Key: Redacted.make(process.env.WECHATPAY_APIV3_KEY ?? "") })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: { readonly apiV3Key: Redacted.Redacted<string> }): Layer.Layer<ApiV3Key, InvalidKeyError> =>
  Layer.effect(ApiV3Key, Effect.suspend(() => Aead.apiV3Key(options.apiV3Key)))

/**
 * The APIv3 key from `WECHATPAY_APIV3_KEY`, or from the file named by
 * `WECHATPAY_APIV3_KEY_FILE` (one trailing line break dropped); an error
 * names the variable, never the key.
 *
 * @since 0.2.0
 * @category config
 */
export const ApiV3KeyConfig: Config.Config<Redacted.Redacted<string>> = apiV3KeyConfig

/**
 * The {@link ApiV3Key} from configuration: {@link ApiV3KeyConfig} by default,
 * or any `Config.Wrap` of `{ apiV3Key }` (e.g. `Config.nested(ApiV3KeyConfig, "SHOP_A")`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Notifications, Wechatpay } from "effect-wechatpay"
 *
 * // the Verifier and the APIv3 key a notification server needs, from WECHATPAY_*
 * const NotifyLive = Layer.merge(Wechatpay.layerConfig(), Notifications.layerConfig())
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<{ readonly apiV3Key: Redacted.Redacted<string> }> = { apiV3Key: ApiV3KeyConfig }
): Layer.Layer<ApiV3Key, ConfigError.ConfigError | InvalidKeyError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

// ---------------------------------------------------------------------------
// parse
// ---------------------------------------------------------------------------

/**
 * A notification as received: its headers (a record or platform `Headers`,
 * names in any case) and its body, best as the raw bytes (the signature is
 * over them; a string is taken as their UTF-8 decoding).
 *
 * @since 0.2.0
 * @category models
 */
export interface Incoming {
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string | Uint8Array
}

const ORIGIN = { method: "POST", path: "notification" } as const

const lowerCase = (headers: Incoming["headers"]): Record<string, string | undefined> => {
  const out: Record<string, string | undefined> = {}
  for (const name in headers) {
    const value = headers[name]
    out[name.toLowerCase()] = typeof value === "string" ? value : value?.join(", ")
  }
  return out
}

const decodeEnvelope = Schema.decodeUnknownEither(Envelope)
const decodePayscore = Schema.decodeUnknownEither(PayscoreUserService)
const decodeBusinessCircle = Schema.decodeUnknownEither(BusinessCircleActivation)
const isPayscoreServiceEvent = Schema.is(PayscoreServiceEventType)

const describe = (error: ParseResult.ParseError): string => {
  try {
    return ParseResult.TreeFormatter.formatErrorSync(error)
  } catch {
    return "the value is too deeply nested to describe"
  }
}

const decodeFailed = (what: string, description: string, cause?: unknown) =>
  DecodeError.fromAnswer(ORIGIN, `${what}: ${description}`, cause)

const parseJson = (text: string, what: string): Either.Either<unknown, DecodeError> => {
  try {
    return Either.right(JSON.parse(text))
  } catch (cause) {
    return Either.left(decodeFailed(what, "not JSON", cause))
  }
}

/** The decrypted resource, decoded by event type. */
const decodeResource = (envelope: Envelope, plaintext: string): Either.Either<Notification, DecodeError> =>
  Either.flatMap(parseJson(plaintext, "the decrypted resource"), (json) => {
    const base = {
      id: envelope.id,
      create_time: envelope.create_time,
      resource_type: envelope.resource_type,
      ...(envelope.summary !== undefined ? { summary: envelope.summary } : {})
    }
    const event = envelope.event_type
    const failed = (error: ParseResult.ParseError) => decodeFailed(`the ${event} resource`, describe(error))
    if (isPayscoreServiceEvent(event)) {
      return Either.mapBoth(decodePayscore(json), {
        onLeft: failed,
        onRight: (resource): Notification => ({ ...base, _tag: "PayscoreUserService", event_type: event, resource })
      })
    }
    if (event === "MALL_AUTH.ACTIVATE_CARD") {
      return Either.mapBoth(decodeBusinessCircle(json), {
        onLeft: failed,
        onRight: (resource): Notification => ({ ...base, _tag: "BusinessCircleActivation", event_type: event, resource })
      })
    }
    return Either.right({ ...base, _tag: "Other", event_type: event, resource: json })
  })

/**
 * Verifies, decrypts and decodes a notification:
 *
 * 1. the signature headers must be there and verify over the raw body with
 *    the key ring of the `Verifier` (public key ids and certificate serials,
 *    ±300 s, WeChat's `WECHATPAY/SIGNTEST/` probes refused as
 *    `MalformedSignature`): a `SignatureError` otherwise;
 * 2. the envelope must decode: a `DecodeError` otherwise;
 * 3. its `resource` must decrypt with the {@link ApiV3Key}
 *    (`AEAD_AES_256_GCM`, the resource's nonce and associated data): a
 *    `DecryptError` otherwise;
 * 4. the plaintext is decoded by `event_type`: Pay Score service events and
 *    Business Circle activations into their schemas, any other as parsed JSON.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Notifications } from "effect-wechatpay"
 *
 * declare const headers: Record<string, string>
 * declare const rawBody: Uint8Array
 *
 * const handled = Notifications.parse({ headers, body: rawBody }).pipe(
 *   Effect.tap((n) =>
 *     n._tag === "PayscoreUserService"
 *       ? Effect.log(`${n.resource.openid} ${n.resource.user_service_status}`)
 *       : Effect.void
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (
  incoming: Incoming
): Effect.Effect<Notification, SignatureError | DecryptError | DecodeError, Verifier | ApiV3Key> =>
  Effect.flatMap(Effect.all([Verifier, ApiV3Key, Clock.currentTimeMillis]), ([verifier, key, now]) => {
    const bytes = typeof incoming.body === "string" ? Buffer.from(incoming.body, "utf8") : incoming.body
    const signature = signatureHeaders(lowerCase(incoming.headers))
    if ("missing" in signature) {
      return Effect.fail(SignatureError.fromFailure(
        new SignatureFailure("MissingHeaders", `a notification without ${signature.missing.join(", ")}: refusing it`),
        ORIGIN
      ))
    }
    return Effect.flatMap(
      Effect.mapError(verifier.verify({ ...signature, body: bytes, receivedAt: now }), (e) => e.withOrigin(ORIGIN)),
      (): Effect.Effect<Notification, DecryptError | DecodeError> => {
        const envelope = Either.flatMap(
          parseJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), "the body"),
          (json) => Either.mapLeft(decodeEnvelope(json), (e) => decodeFailed("the envelope", describe(e)))
        )
        if (Either.isLeft(envelope)) return Effect.fail(envelope.left)
        const plaintext = decrypt(key.key, envelope.right.resource)
        return plaintext instanceof DecryptFailure
          ? Effect.fail(DecryptError.fromFailure(plaintext))
          : decodeResource(envelope.right, plaintext)
      }
    )
  })

// ---------------------------------------------------------------------------
// Dedupe
// ---------------------------------------------------------------------------

/**
 * The outcome of {@link DedupeService.claim}: `"claimed"` (the caller holds
 * the id now: run the handler), `"handled"` (it ran to success before),
 * `"busy"` (another delivery holds it).
 *
 * @since 0.2.0
 * @category models
 */
export type Claim = "claimed" | "handled" | "busy"

/**
 * Where `httpApp` remembers which notifications it handled, shared by every
 * process that receives them. Each delivery claims the notification id with
 * a token of its own:
 *
 * - `claim(id, token)`: `"handled"` if the id was handled, `"busy"` if
 *   another token holds it, otherwise the id is now held by `token` (for a
 *   limited time, so a process that dies while handling does not hold it for
 *   ever) and the answer is `"claimed"`;
 * - `complete(id, token)`: the id is handled from now on (for a day or more:
 *   WeChat Pay delivers for about a day), whoever holds it: a success is
 *   never lost, even one that outlived its claim;
 * - `release(id, token)`: if `token` still holds the id, it is free again;
 *   another's claim and a handled id are left as they are.
 *
 * `httpApp` calls these uninterruptibly: a store over the network bounds each
 * call in time itself and fails with a `DedupeError` (WeChat Pay is answered
 * `500` and delivers again later). After a failed `claim` it releases once,
 * in case the claim was recorded before the failure.
 *
 * @since 0.2.0
 * @category models
 */
export interface DedupeService {
  readonly claim: (id: string, token: string) => Effect.Effect<Claim, DedupeError>
  readonly complete: (id: string, token: string) => Effect.Effect<void, DedupeError>
  readonly release: (id: string, token: string) => Effect.Effect<void, DedupeError>
}

/**
 * How long ids are remembered: WeChat Pay retries a notification for about a
 * day (0 s, 15 s, 15 s, 30 s, 180 s, 1800 s four times, 3600 s, then hourly),
 * so the default is 25 hours.
 *
 * @since 0.2.0
 * @category constants
 */
export const DEDUPE_TTL_MILLIS = 25 * 3600_000

/**
 * Options of {@link memoryDedupe}.
 *
 * @since 0.2.0
 * @category models
 */
export interface MemoryDedupeOptions {
  /** How long a handled id is remembered (default {@link DEDUPE_TTL_MILLIS}). */
  readonly ttlMillis?: number | undefined
  /** How long a claim holds before it lapses, in case a handler never ends (default 10 minutes). */
  readonly claimMillis?: number | undefined
  /** The most ids kept; past it the oldest handled ids are forgotten first, never a claim being handled (default 100,000). */
  readonly maxEntries?: number | undefined
}

/**
 * A {@link DedupeService} in memory, for one process: times from the
 * `Clock`, at most `maxEntries` ids (a merchant receiving more
 * notifications a day than that wants a shared store anyway).
 *
 * @since 0.2.0
 * @category constructors
 */
export const memoryDedupe = (options: MemoryDedupeOptions = {}): DedupeService => {
  const setting = (name: keyof MemoryDedupeOptions, fallback: number): number => {
    const value = options[name] ?? fallback
    if (!(Number.isFinite(value) && value >= 1)) {
      throw new RangeError(`memoryDedupe: ${name} must be a finite number ≥ 1, got ${value}`)
    }
    return value
  }
  const ttl = setting("ttlMillis", DEDUPE_TTL_MILLIS)
  const claimFor = setting("claimMillis", 10 * 60_000)
  const maxEntries = setting("maxEntries", 100_000)
  // insertion order is age order: an entry is deleted before it is set again
  const entries = new Map<string, { readonly token: string | undefined; readonly until: number }>()
  let nextSweep = 0
  /** Once a minute: forgets what has expired. */
  const sweep = (now: number) => {
    if (now < nextSweep) return
    nextSweep = now + 60_000
    for (const [id, entry] of entries) if (entry.until <= now) entries.delete(id)
  }
  /** At the bound: forgets the oldest handled (or expired) ids, never a live claim. */
  const makeRoom = (now: number) => {
    if (entries.size < maxEntries) return
    for (const [id, entry] of entries) {
      if (entry.token === undefined || entry.until <= now) {
        entries.delete(id)
        if (entries.size < maxEntries) return
      }
    }
  }
  const put = (id: string, token: string | undefined, until: number) => {
    entries.delete(id)
    entries.set(id, { token, until })
  }
  return {
    claim: (id, token) =>
      Effect.map(Clock.currentTimeMillis, (now): Claim => {
        const entry = entries.get(id)
        if (entry !== undefined && entry.until > now) return entry.token === undefined ? "handled" : "busy"
        sweep(now)
        makeRoom(now)
        put(id, token, now + claimFor)
        return "claimed"
      }),
    complete: (id) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (!entries.has(id)) makeRoom(now)
        put(id, undefined, now + ttl)
      }),
    release: (id, token) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = entries.get(id)
        if (entry !== undefined && entry.token === token && entry.until > now) entries.delete(id)
      })
  }
}

/**
 * The store `httpApp` dedupes with. By default one {@link memoryDedupe} for
 * the whole process, made the first time it is needed; provide another
 * (`Layer.succeed(Notifications.Dedupe, store)`) to share one between
 * processes, or {@link layerMemoryDedupe} for a fresh one.
 *
 * @since 0.2.0
 * @category tags
 */
export class Dedupe extends Context.Reference<Dedupe>()("effect-wechatpay/Notifications/Dedupe", {
  defaultValue: (): DedupeService => memoryDedupe()
}) {}

/**
 * A fresh {@link Dedupe} in memory ({@link memoryDedupe}) with the given
 * options, for the `httpApp`s the layer is provided to.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemoryDedupe = (options?: MemoryDedupeOptions): Layer.Layer<Dedupe> =>
  Layer.sync(Dedupe, () => memoryDedupe(options))

// ---------------------------------------------------------------------------
// httpApp
// ---------------------------------------------------------------------------

/**
 * The largest notification body `httpApp` reads (1 MiB; WeChat Pay's are a
 * few KB).
 *
 * @since 0.2.0
 * @category constants
 */
export const MAX_NOTIFICATION_BYTES = 1024 * 1024

/** WeChat Pay's failure answer, `{"code":"FAIL","message":…}`. */
const fail = (status: number, message: string, headers?: Record<string, string>) =>
  HttpServerResponse.unsafeJson({ code: "FAIL", message }, headers === undefined ? { status } : { status, headers })

const noContent = HttpServerResponse.empty({ status: 204 })

/** Runs a store call; a failure or a defect is logged and answered `undefined` (the caller answers 500, or 204 once handled). */
const store = <A>(call: Effect.Effect<A, DedupeError>): Effect.Effect<A | undefined> =>
  Effect.catchAllCause(
    call,
    (cause) => Effect.as(Effect.logError("WeChat Pay notification: the dedupe store failed", cause), undefined)
  )

/**
 * Drops the cached lookups a notification makes stale (with a `LookupCache`
 * on): a Pay Score open or close, the user's Pay Score records for that
 * service by `openid` and by `authorization_code`; a Business Circle
 * activation, the user's Business Circle record.
 */
const dropCached = (notification: Notification) =>
  Effect.contextWithEffect((context: Context.Context<never>) => {
    const cache = Context.get(context, LookupCache.LookupCache)
    if (cache === undefined) return Effect.void
    switch (notification._tag) {
      case "PayscoreUserService": {
        const { authorization_code, mch_id, mchid, openid, service_id } = notification.resource
        const merchant = mchid ?? mch_id
        if (merchant === undefined) return Effect.void
        const subjects = [
          ...(openid === undefined ? [] : [LookupCache.subjects.payscoreByOpenid(service_id, openid)]),
          ...(authorization_code === undefined ? [] : [LookupCache.subjects.payscoreByAuthorizationCode(service_id, authorization_code)])
        ]
        return cache.invalidate(merchant, subjects)
      }
      case "BusinessCircleActivation": {
        const { mchid, openid } = notification.resource
        return cache.invalidate(mchid, [LookupCache.subjects.businessCircle(openid)])
      }
      default:
        return Effect.void
    }
  })

/**
 * Runs `handler` at most once for a notification handled to success, through
 * the store: the claim, the settling and the handler's end happen together
 * or not at all (uninterruptibly), the handler itself stays interruptible.
 */
const handleOnce = <E, R>(
  dedupe: DedupeService,
  notification: Notification,
  handler: (notification: Notification) => Effect.Effect<unknown, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const { id } = notification
      const token = crypto.randomUUID()
      const claim = yield* store(dedupe.claim(id, token))
      if (claim === undefined) {
        // the claim may have been recorded before the store failed
        yield* store(dedupe.release(id, token))
        return fail(500, "the notification could not be handled; deliver it again later")
      }
      if (claim === "handled") return noContent
      if (claim === "busy") return fail(500, "this notification is being handled; deliver it again later")
      // what the notification makes stale is dropped before the handler, which may look it up
      // afresh; a cache store that fails does not hold notifications up (its answers then live
      // out their time-to-live)
      yield* restore(dropCached(notification)).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning("WeChat Pay notification: cached lookups could not be dropped; they live out their time", cause)
        )
      )
      const outcome = yield* Effect.exit(restore(handler(notification)))
      if (Exit.isSuccess(outcome)) {
        yield* store(dedupe.complete(id, token))
        return noContent
      }
      yield* store(dedupe.release(id, token))
      yield* Cause.isInterruptedOnly(outcome.cause)
        ? Effect.logWarning("WeChat Pay notification: the handler was interrupted; it runs again on the next delivery")
        : Effect.logError("WeChat Pay notification: the handler failed; WeChat Pay delivers it again later", outcome.cause)
      return fail(500, "the notification could not be handled")
    })
  )

/**
 * An `HttpApp` receiving WeChat Pay's notifications, for @effect/platform's
 * `HttpServer` or `HttpRouter` (and, through `HttpApp.toWebHandler`, any
 * framework that speaks web `Request`/`Response`). It reads the raw body
 * (more than 1 MiB: `413`), {@link parse}s it, and runs `handler`:
 *
 * | outcome | answer |
 * |---|---|
 * | handled (now or before) | `204` |
 * | a `SignatureError` (missing or bad headers, unknown serial, skew, a probe, a bad signature): the handler is not run | `401` |
 * | a body, decryption or decoding failure | `400` |
 * | the handler failed or was interrupted, another delivery of the same notification is being handled, or the store failed | `500` (WeChat Pay delivers it again later) |
 * | not a `POST` | `405` |
 *
 * Failures answer `{"code":"FAIL","message":…}`, never with key material or a
 * signature, and are logged (refusals as warnings, failures as errors with
 * their cause). Each notification is a span `Notifications.handle` with its
 * id and event type.
 *
 * Delivery is at least once: through the {@link Dedupe} store (in memory
 * unless another is provided), the handler
 * runs to success at most once per notification id; after a failure or an
 * interruption (the server shutting down, WeChat Pay hanging up) it runs
 * again on the next delivery, so it must tolerate a partial earlier run
 * (make it `Effect.uninterruptible` to have it finish regardless).
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Notifications } from "effect-wechatpay"
 *
 * const notify = Notifications.httpApp((n) =>
 *   n._tag === "PayscoreUserService" ? Effect.log(n.resource.openid, n.resource.user_service_status) : Effect.void
 * )
 *
 * // provide the APIv3 key and a Verifier (and, for several processes, a shared Notifications.Dedupe)
 * const router = HttpRouter.empty.pipe(HttpRouter.post("/wechatpay/notify", notify))
 * ```
 *
 * @since 0.2.0
 * @category http
 */
export const httpApp = <E, R>(
  handler: (notification: Notification) => Effect.Effect<unknown, E, R>
): HttpApp.Default<never, R | Verifier | ApiV3Key> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "POST") return fail(405, "notifications are POSTed", { allow: "POST" })
    const length = contentLength(request.headers)
    if (length !== undefined && length > MAX_NOTIFICATION_BYTES) return fail(413, "the body is too large")
    const body = yield* Effect.either(readAtMost(request.stream, MAX_NOTIFICATION_BYTES))
    if (Either.isLeft(body)) return fail(400, "the body could not be read")
    if (body.right === undefined) return fail(413, "the body is too large")
    const parsed = yield* Effect.either(parse({ headers: request.headers, body: body.right }))
    if (Either.isLeft(parsed)) {
      const error = parsed.left
      // an unsigned request can come from anyone: not worth a warning each
      yield* Effect.logWithLevel(
        error._tag === "SignatureError" && error.reason === "MissingHeaders" ? LogLevel.Debug : LogLevel.Warning,
        "WeChat Pay notification refused",
        error.message
      )
      return error._tag === "SignatureError"
        ? fail(401, `the signature does not verify (${error.reason})`)
        : fail(400, error._tag === "DecryptError" ? "the resource does not decrypt" : "the notification does not decode")
    }
    const notification = parsed.right
    const dedupe = yield* Dedupe
    return yield* handleOnce(dedupe, notification, handler).pipe(
      Effect.annotateLogs({ "wechatpay.notification_id": notification.id, "wechatpay.event_type": notification.event_type }),
      Effect.withSpan("Notifications.handle", {
        captureStackTrace: false,
        attributes: { "wechatpay.notification_id": notification.id, "wechatpay.event_type": notification.event_type }
      })
    )
  })

/**
 * Notifications WeChat Pay POSTs to a merchant: verified like an API answer,
 * decrypted with the APIv3 key, decoded by event type, and served as an
 * `HttpApp` that answers WeChat Pay as it expects and runs a handler once per
 * notification.
 *
 * @since 0.2.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { DecodeError, DecryptError, type InvalidKeyError, SignatureError } from "../errors/Errors.js"
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
 * own, a literal in the two modelled shapes.
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
    if (Schema.is(PayscoreServiceEventType)(event)) {
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
 * The outcome of {@link DedupeService.claim}: `"claimed"` (run the handler),
 * `"handled"` (it ran to success before), `"busy"` (another delivery is
 * running it now).
 *
 * @since 0.2.0
 * @category models
 */
export type Claim = "claimed" | "handled" | "busy"

/**
 * Where `httpApp` remembers which notifications it handled.
 *
 * @since 0.2.0
 * @category models
 */
export interface DedupeService {
  /** Claims a notification id for handling. */
  readonly claim: (id: string) => Effect.Effect<Claim>
  /** The handler succeeded: remember the id as handled. */
  readonly complete: (id: string) => Effect.Effect<void>
  /** The handler failed: forget the id, so a later delivery runs it again. */
  readonly release: (id: string) => Effect.Effect<void>
}

/**
 * The store `httpApp` dedupes with. Without one in the context, each
 * `httpApp` keeps its own in memory ({@link memoryDedupe}).
 *
 * @since 0.2.0
 * @category tags
 */
export class Dedupe extends Context.Tag("effect-wechatpay/Notifications/Dedupe")<Dedupe, DedupeService>() {}

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
 * An in-memory {@link DedupeService}: handled ids for `ttlMillis` (default
 * 25 hours), ids being handled for at most `busyMillis` (default 10
 * minutes, in case a handler never ends), times from the `Clock`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const memoryDedupe = (
  options: { readonly ttlMillis?: number | undefined; readonly busyMillis?: number | undefined } = {}
): DedupeService => {
  const ttl = options.ttlMillis ?? DEDUPE_TTL_MILLIS
  const busyFor = options.busyMillis ?? 10 * 60_000
  const entries = new Map<string, { readonly state: "busy" | "handled"; readonly until: number }>()
  let nextSweep = 0
  const sweep = (now: number) => {
    if (now < nextSweep) return
    nextSweep = now + 60_000
    for (const [id, entry] of entries) if (entry.until <= now) entries.delete(id)
  }
  return {
    claim: (id) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        const entry = entries.get(id)
        if (entry !== undefined && entry.until > now) return entry.state === "busy" ? "busy" : "handled"
        entries.set(id, { state: "busy", until: now + busyFor })
        return "claimed"
      }),
    complete: (id) => Effect.map(Clock.currentTimeMillis, (now) => void entries.set(id, { state: "handled", until: now + ttl })),
    release: (id) => Effect.sync(() => void entries.delete(id))
  }
}

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
const fail = (status: number, message: string) =>
  HttpServerResponse.unsafeJson({ code: "FAIL", message }, { status })

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
 * | the handler failed, or another delivery of the same notification is being handled | `500` (WeChat Pay delivers it again later) |
 *
 * Failures answer `{"code":"FAIL","message":…}`, never with key material or a
 * signature. Delivery is at least once: the handler runs at most once per
 * notification `id` handled successfully, through the {@link Dedupe} store in
 * the context or one of its own in memory; a handler failure forgets the id.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServer } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Notifications } from "effect-wechatpay"
 *
 * const notify = Notifications.httpApp((n) =>
 *   n._tag === "PayscoreUserService" ? Effect.log(n.resource.openid, n.resource.user_service_status) : Effect.void
 * )
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.post("/wechatpay/notify", notify))
 * ```
 *
 * @since 0.2.0
 * @category http
 */
export const httpApp = <E, R>(
  handler: (notification: Notification) => Effect.Effect<unknown, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | Verifier | ApiV3Key | HttpServerRequest.HttpServerRequest> => {
  const ownDedupe = memoryDedupe()
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "POST") return fail(405, "notifications are POSTed")
    const length = contentLength(request.headers)
    if (length !== undefined && length > MAX_NOTIFICATION_BYTES) return fail(413, "the body is too large")
    const body = yield* Effect.either(readAtMost(request.stream, MAX_NOTIFICATION_BYTES))
    if (Either.isLeft(body)) return fail(400, "the body could not be read")
    if (body.right === undefined) return fail(413, "the body is too large")
    const parsed = yield* Effect.either(parse({ headers: request.headers, body: body.right }))
    if (Either.isLeft(parsed)) {
      const error = parsed.left
      return error._tag === "SignatureError"
        ? fail(401, `the signature does not verify (${error.reason})`)
        : fail(400, error._tag === "DecryptError" ? "the resource does not decrypt" : "the notification does not decode")
    }
    const notification = parsed.right
    const dedupe = Option.getOrElse(yield* Effect.serviceOption(Dedupe), () => ownDedupe)
    const claim = yield* dedupe.claim(notification.id)
    if (claim === "handled") return HttpServerResponse.empty({ status: 204 })
    if (claim === "busy") return fail(500, "this notification is being handled; deliver it again later")
    const outcome = yield* Effect.exit(Effect.onInterrupt(handler(notification), () => dedupe.release(notification.id)))
    if (Exit.isSuccess(outcome)) {
      yield* dedupe.complete(notification.id)
      return HttpServerResponse.empty({ status: 204 })
    }
    yield* dedupe.release(notification.id)
    return fail(500, "the notification could not be handled")
  })
}

/**
 * A cache of lookup results, opt-in: a GET lookup answered once is answered
 * again from the cache until its time-to-live ends, as the same decoded value
 * (a `Date` is still a `Date`). Answers with no record (`ORDER_NOT_EXIST`)
 * are kept for a shorter time; every other error is never kept.
 *
 * It is kept in `@effect/experimental`'s `ResultPersistence` (each answer an
 * `Exit` encoded with the endpoint's schemas): {@link layerMemory} for one
 * process, or `Redis.layerResultPersistence`
 * for a fleet, where a lookup answered in one process is served to every other
 * without a call to WeChat Pay.
 *
 * What changes an authorization drops what is cached about that user, in every
 * process sharing the store: a Pay Score open/close notification handled by
 * `Notifications.httpApp` drops the user's Pay Score records for that service
 * (by `openid` and by `authorization_code`), a Business Circle activation the
 * user's Business Circle record, and the terminate calls the record they end.
 * Dropping is a new generation of the user's entries, not a delete: a lookup
 * that was already on its way when the authorization changed stores its
 * (older) answer under the old generation, where no one reads it.
 *
 * @since 0.2.0
 */
import * as Persistence from "@effect/experimental/Persistence"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import {
  BusinessError,
  DecodeError,
  InvalidRequestError,
  NetworkError,
  RateLimitError,
  SignatureError,
  type WechatpayError
} from "../errors/Errors.js"

/**
 * The endpoints cached by default, and for how long (60 seconds each).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultTimeToLive: Readonly<Record<string, Duration.DurationInput>> = {
  "Payscore.getPermissionsByOpenid": "60 seconds",
  "Payscore.getPermissionsByAuthorizationCode": "60 seconds",
  "BusinessCircle.getUserAuthorization": "60 seconds"
}

/**
 * Options of {@link layer}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * How long an answer is kept, by endpoint name, over {@link defaultTimeToLive}
   * (at most 24 hours; `0` turns an endpoint's caching off). Endpoints not
   * named are not cached.
   */
  readonly timeToLive?: Readonly<Record<string, Duration.DurationInput>> | undefined
  /** How long an `ORDER_NOT_EXIST` answer is kept (default 10 seconds, at most 24 hours; `0`: never). */
  readonly noRecordTimeToLive?: Duration.DurationInput | undefined
  /** The store's name: caches with different names share nothing (default `"lookups"`; on Redis after the prefix). */
  readonly storeId?: string | undefined
}

/**
 * What the cache knows of a response: the decoded body, the status, the
 * Request-ID and the headers (without the answer's signature).
 *
 * @since 0.2.0
 * @category models
 */
export interface Cached<A> {
  readonly data: A
  readonly status: number
  readonly requestId: string | undefined
  readonly headers: Readonly<Record<string, string>>
}

/**
 * One lookup, as the request path hands it to the cache.
 *
 * @since 0.2.0
 * @category models
 */
export interface Lookup<A> {
  readonly mchid: string
  readonly baseUrl: string
  /** The endpoint's name. */
  readonly endpoint: string
  readonly canonical: string
  /** The answer's schema, to keep it encoded and give it back decoded. */
  readonly schema: Schema.Schema<Cached<A>, unknown>
  /** The call itself, with everything it needs. */
  readonly run: Effect.Effect<Cached<A>, WechatpayError>
}

/**
 * The cache the request path asks.
 *
 * @since 0.2.0
 * @category models
 */
export interface LookupCacheService {
  /** Whether answers of `endpoint` are kept. */
  readonly caches: (endpoint: string) => boolean
  /**
   * The current generation of a user's answers (`""` for answers about no
   * one), which a lookup's key ends with; `undefined` when the store did not
   * answer (logged): the lookup is then made without the cache.
   */
  readonly generation: (mchid: string, subject: string | undefined) => Effect.Effect<string | undefined>
  /** The answer kept under `generation`, or the lookup's own (kept if it may be). */
  readonly get: <A>(lookup: Lookup<A>, generation: string) => Effect.Effect<Cached<A>, WechatpayError>
  /** Drops what is cached about users of a merchant (see {@link subjects}): a new generation for each. */
  readonly invalidate: (mchid: string, subjects: ReadonlyArray<string>) => Effect.Effect<void, Persistence.PersistenceError>
}

/** The longest time-to-live an answer may have. */
const MAX_TIME_TO_LIVE = Duration.hours(24)

/** How long a generation lives: longer than any entry made before it. */
const GENERATION_TIME_TO_LIVE = Duration.hours(25)

/**
 * The cache GET lookups use: none by default; {@link layer} turns it on.
 *
 * @since 0.2.0
 * @category references
 */
export class LookupCache extends Context.Reference<LookupCache>()("effect-wechatpay/LookupCache/LookupCache", {
  defaultValue: (): LookupCacheService | undefined => undefined
}) {}

/**
 * The users answers are about, as cache subjects: what an endpoint's
 * `subject` names and what an invalidation drops.
 *
 * @since 0.2.0
 * @category subjects
 */
export const subjects = {
  /** A user's Pay Score record for a service, looked up by `openid`. */
  payscoreByOpenid: (serviceId: string, openid: string) => `payscore:${serviceId}:openid:${openid}`,
  /** A Pay Score record for a service, looked up by `authorization_code`. */
  payscoreByAuthorizationCode: (serviceId: string, code: string) => `payscore:${serviceId}:code:${code}`,
  /** A user's Business Circle authorization. */
  businessCircle: (openid: string) => `businesscircle:openid:${openid}`
} as const

const WechatpayErrorSchema = Schema.Union(
  RateLimitError,
  SignatureError,
  NetworkError,
  BusinessError,
  DecodeError,
  InvalidRequestError
)

/** A cache entry's key: the merchant, host, endpoint, canonical request and the subject's generation. */
abstract class EntryKey<A> implements Persistence.Persistable<Schema.Schema<Cached<A>, unknown>, typeof WechatpayErrorSchema> {
  constructor(readonly id: string, readonly lookup: Lookup<A>) {}
  abstract get [Schema.symbolWithResult](): {
    readonly success: Schema.Schema<Cached<A>, unknown>
    readonly failure: typeof WechatpayErrorSchema
  }
  [PrimaryKey.symbol]() {
    return this.id
  }
}

/**
 * The key class of one endpoint's answers. Schema keeps one `Exit` schema per
 * key prototype, so each answer schema gets a class of its own (made once).
 */
const entryKeyClasses = new WeakMap<object, new(id: string, lookup: Lookup<any>) => EntryKey<any>>()
const entryKeyClass = <A>(schema: Schema.Schema<Cached<A>, unknown>): new(id: string, lookup: Lookup<A>) => EntryKey<A> => {
  let made = entryKeyClasses.get(schema)
  if (made === undefined) {
    const result = { success: schema, failure: WechatpayErrorSchema } as const
    made = class extends EntryKey<any> {
      get [Schema.symbolWithResult]() {
        return result
      }
    }
    entryKeyClasses.set(schema, made)
  }
  return made
}

/** A subject's current generation: changed to drop everything cached under the old one. */
class GenerationKey implements Persistence.Persistable<typeof Schema.String, typeof Schema.Never> {
  constructor(readonly id: string) {}
  get [Schema.symbolWithResult]() {
    return { success: Schema.String, failure: Schema.Never }
  }
  [PrimaryKey.symbol]() {
    return this.id
  }
}

const isNoRecord = (error: unknown): boolean =>
  error instanceof BusinessError && error.verified && error.code === "ORDER_NOT_EXIST"

/**
 * A {@link LookupCacheService} on the `ResultPersistence` in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<LookupCacheService, never, Persistence.ResultPersistence | Scope.Scope> =>
  Effect.gen(function*() {
    const ttls = new Map<string, Duration.Duration>()
    for (const [endpoint, ttl] of Object.entries({ ...defaultTimeToLive, ...options.timeToLive })) {
      const decoded = Duration.decodeUnknown(ttl)
      if (Option.isNone(decoded) || Duration.greaterThan(decoded.value, MAX_TIME_TO_LIVE)) {
        return yield* Effect.dieMessage(`LookupCache: the time-to-live of ${endpoint} must be a duration of at most 24 hours`)
      }
      if (!Duration.isZero(decoded.value)) ttls.set(endpoint, decoded.value)
    }
    const noRecord = Duration.decodeUnknown(options.noRecordTimeToLive ?? "10 seconds")
    if (Option.isNone(noRecord) || Duration.greaterThan(noRecord.value, MAX_TIME_TO_LIVE)) {
      return yield* Effect.dieMessage("LookupCache: noRecordTimeToLive must be a duration of at most 24 hours")
    }
    const storeId = options.storeId ?? "lookups"
    const persistence = yield* Persistence.ResultPersistence
    // a generation outlives every entry made under the one before it, whatever the
    // time-to-live settings of the process that made them (at most 24 hours)
    const generations = yield* persistence.make({ storeId: `${storeId}:generations`, timeToLive: () => GENERATION_TIME_TO_LIVE })
    const entries = yield* persistence.make({
      storeId,
      timeToLive: (key, exit) =>
        Exit.isSuccess(exit)
          ? ttls.get((key as EntryKey<unknown>).lookup.endpoint) ?? Duration.zero
          : Option.exists(exitError(exit), isNoRecord)
          ? noRecord.value
          : Duration.zero
    })
    // by merchant and user only: the process that handles notifications need not know the host
    const generationKey = (mchid: string, subject: string) => new GenerationKey(`${mchid}\n${subject}`)
    const generation = (mchid: string, subject: string | undefined): Effect.Effect<string | undefined> =>
      subject === undefined ? Effect.succeed("") : generations.get(generationKey(mchid, subject)).pipe(
        Effect.map(Option.match({ onNone: () => "0", onSome: (exit) => Exit.isSuccess(exit) ? exit.value : "0" })),
        Effect.catchAll((error) =>
          Effect.as(Effect.logWarning("effect-wechatpay: the lookup cache's store failed; looking up without it", error.message), undefined)
        )
      )
    /**
     * The store's answer, or the call's (kept if its time-to-live says so). Nothing is kept in
     * this process: each lookup asks the store, so that a drop made by any process is seen by all
     * at once, and a failure that is not kept is never served again.
     */
    const get = <A>(lookup: Lookup<A>, generation: string): Effect.Effect<Cached<A>, WechatpayError> =>
      // the call is made at most once, even when the store fails after it
      Effect.flatMap(Effect.cached(lookup.run), (run) =>
        Effect.gen(function*() {
          const key = new (entryKeyClass(lookup.schema))(
            `${lookup.mchid}\n${lookup.baseUrl}\n${lookup.endpoint}\n${lookup.canonical}\n${generation}`,
            lookup
          )
          const kept = yield* entries.get(key)
          if (Option.isSome(kept)) return yield* kept.value
          const exit = yield* Effect.exit(run)
          yield* entries.set(key, exit)
          return yield* exit
        }).pipe(
          Effect.catchIf(
            (error): error is Persistence.PersistenceError => Predicate.hasProperty(error, Persistence.ErrorTypeId),
            (error) =>
              Effect.zipRight(
                Effect.logWarning("effect-wechatpay: the lookup cache's store failed; answering without it", error.message),
                run
              )
          )
        ))
    return {
      caches: (endpoint) => ttls.has(endpoint),
      generation,
      get,
      invalidate: (mchid, subjects) =>
        Effect.forEach(
          subjects,
          (subject) =>
            generations.set(generationKey(mchid, subject), Exit.succeed(crypto.randomBytes(9).toString("base64url"))),
          { discard: true }
        )
    }
  })

const exitError = (exit: Exit.Exit<unknown, unknown>): Option.Option<unknown> =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? Option.some(exit.cause.error) : Option.none()

/**
 * Turns on the lookup cache for the lookups it is provided to, kept in the
 * `ResultPersistence` given: {@link layerMemory} for one process,
 * `Redis.layerResultPersistence` for a fleet.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { LookupCache } from "effect-wechatpay"
 * import { Redis } from "effect-wechatpay/redis"
 *
 * const Cache = LookupCache.layer({ timeToLive: { "BusinessCircle.getUserAuthorization": "5 minutes" } }).pipe(
 *   Layer.provide(Redis.layerResultPersistence({ host: "127.0.0.1", port: 6379 }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LookupCache, never, Persistence.ResultPersistence> =>
  Layer.scoped(LookupCache, make(options))

/**
 * A `BackingPersistence` in this process's memory, bounded: expired entries
 * are swept once a minute, and past `maxEntries` in a store the oldest go
 * first (unlike `@effect/experimental`'s `layerMemory`, which forgets an
 * entry only when it is read again, so answers about users never asked
 * again, and every entry of an old generation, would stay forever).
 *
 * @since 0.2.0
 * @category constructors
 */
export const memoryBacking = (maxEntries = 50_000): Persistence.BackingPersistence => {
  if (!(Number.isSafeInteger(maxEntries) && maxEntries >= 1)) {
    throw new RangeError(`LookupCache: maxEntries must be a whole number ≥ 1, got ${maxEntries}`)
  }
  return {
    [Persistence.BackingPersistenceTypeId]: Persistence.BackingPersistenceTypeId,
    make: () =>
      Effect.map(Effect.clock, (clock) => {
        // insertion order is age order: an entry is deleted before it is set again
        const entries = new Map<string, { readonly value: unknown; readonly expires: number }>()
        let nextSweep = 0
        const read = (key: string): Option.Option<unknown> => {
          const entry = entries.get(key)
          if (entry === undefined) return Option.none()
          if (entry.expires <= clock.unsafeCurrentTimeMillis()) {
            entries.delete(key)
            return Option.none()
          }
          return Option.some(entry.value)
        }
        const write = (key: string, value: unknown, ttl: Option.Option<Duration.Duration>) => {
          const now = clock.unsafeCurrentTimeMillis()
          if (now >= nextSweep) {
            nextSweep = now + 60_000
            for (const [k, entry] of entries) if (entry.expires <= now) entries.delete(k)
          }
          entries.delete(key)
          for (const oldest of entries.keys()) {
            if (entries.size < maxEntries) break
            entries.delete(oldest)
          }
          entries.set(key, { value, expires: Option.isSome(ttl) ? now + Duration.toMillis(ttl.value) : Infinity })
        }
        return {
          get: (key) => Effect.sync(() => read(key)),
          getMany: (keys) => Effect.sync(() => keys.map(read)),
          set: (key, value, ttl) => Effect.sync(() => write(key, value, ttl)),
          setMany: (many) => Effect.sync(() => many.forEach(([key, value, ttl]) => write(key, value, ttl))),
          remove: (key) => Effect.sync(() => void entries.delete(key)),
          clear: Effect.sync(() => entries.clear())
        }
      })
  }
}

/**
 * {@link layer} kept in this process's memory ({@link memoryBacking}: at most
 * `maxEntries` answers, default 50,000).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options?: Options & { readonly maxEntries?: number | undefined }): Layer.Layer<LookupCache> =>
  layer(options).pipe(
    Layer.provide(Persistence.layerResult),
    Layer.provide(Layer.sync(Persistence.BackingPersistence, () => memoryBacking(options?.maxEntries)))
  )

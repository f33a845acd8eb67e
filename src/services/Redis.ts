/**
 * Redis for a fleet: the stores that let every process of a merchant share
 * one notification dedupe, one rate-limit budget and one lookup cache
 * (`effect-wechatpay/redis`, which needs `ioredis` 5).
 *
 * Every connection is made with bounded waits: a command that Redis does not
 * answer within `commandTimeout` (default 1 s) fails, so a Redis that went
 * away gives typed errors (`DedupeError`, `RateLimitError`, or for the cache
 * a lookup made without it), never a hang; ioredis reconnects by itself and
 * the stores work again when Redis returns.
 *
 * @since 0.2.0
 */
import * as Persistence from "@effect/experimental/Persistence"
import * as PersistenceRedis from "@effect/experimental/Persistence/Redis"
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import * as RateLimiterRedis from "@effect/experimental/RateLimiter/Redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import { DedupeError } from "../errors/Errors.js"
import { type Claim, DEDUPE_TTL_MILLIS, Dedupe, type DedupeService } from "./Notifications.js"

/**
 * How to reach Redis: ioredis' options (`host`, `port`, `password`, `db`,
 * `tls`, …) and the prefix of every key this library writes.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options extends RedisOptions {
  /** Prefix of every key (default `"wechatpay:"`), so one Redis can serve several apps. */
  readonly prefix?: string | undefined
}

const defaults: RedisOptions = {
  // a command waits at most this long, connected or not: no hang when Redis goes away
  commandTimeout: 1_000,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000
}

/** ioredis' options with our bounded waits under the caller's own. */
const connection = (options: Options): RedisOptions => {
  const { prefix: _prefix, ...rest } = options
  return { ...defaults, ...rest }
}

const prefixOf = (options: Options) => options.prefix ?? "wechatpay:"

/**
 * A claim is the holder's token (`c:<token>`), a handled id `h`: one Lua script
 * each, so a claim, a completion and a release are atomic on the server.
 */
const CLAIM = `
local current = redis.call("GET", KEYS[1])
if current == "h" then return "handled" end
if current then return "busy" end
redis.call("SET", KEYS[1], "c:" .. ARGV[1], "PX", ARGV[2])
return "claimed"
`
const RELEASE = `
if redis.call("GET", KEYS[1]) == "c:" .. ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
`

interface DedupeCommands extends Redis {
  wechatpayClaim(key: string, token: string, claimMillis: number): Promise<string>
  wechatpayRelease(key: string, token: string): Promise<number>
}

/**
 * Options of {@link makeDedupe}.
 *
 * @since 0.2.0
 * @category models
 */
export interface DedupeOptions extends Options {
  /** How long a claim holds before it lapses, in case a handler never ends (default 10 minutes). */
  readonly claimMillis?: number | undefined
  /** How long a handled id is remembered (default and least 25 hours: WeChat Pay redelivers for a day). */
  readonly ttlMillis?: number | undefined
}

/**
 * A `Notifications.Dedupe` store on Redis, shared by every process that
 * uses the same Redis and prefix: a notification delivered to two processes
 * runs the handler once; a handler failure releases the id so the next
 * delivery runs it; handled ids are remembered for 25 hours. The connection
 * closes with the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeDedupe = (options: DedupeOptions = {}): Effect.Effect<DedupeService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const claimMillis = Math.floor(options.claimMillis ?? 10 * 60_000)
    const ttlMillis = Math.floor(options.ttlMillis ?? DEDUPE_TTL_MILLIS)
    if (!(claimMillis >= 1) || !(ttlMillis >= DEDUPE_TTL_MILLIS) || !Number.isSafeInteger(ttlMillis)) {
      return yield* Effect.dieMessage(
        `Redis.makeDedupe: claimMillis must be ≥ 1 and ttlMillis ≥ ${DEDUPE_TTL_MILLIS} (25 hours)`
      )
    }
    const { claimMillis: _c, ttlMillis: _t, ...rest } = options
    const redis = yield* open(rest)
    redis.defineCommand("wechatpayClaim", { numberOfKeys: 1, lua: CLAIM })
    redis.defineCommand("wechatpayRelease", { numberOfKeys: 1, lua: RELEASE })
    const commands = redis as DedupeCommands
    const key = (id: string) => `${prefixOf(options)}notification:${id}`
    const run = <A>(what: string, command: () => Promise<A>) =>
      Effect.tryPromise({
        try: command,
        catch: (cause) => new DedupeError({ description: `Redis ${what} failed`, cause })
      })
    return {
      claim: (id, token) => run("claim", () => commands.wechatpayClaim(key(id), token, claimMillis)) as Effect.Effect<Claim, DedupeError>,
      complete: (id) => Effect.asVoid(run("complete", () => redis.set(key(id), "h", "PX", ttlMillis))),
      release: (id, token) => Effect.asVoid(run("release", () => commands.wechatpayRelease(key(id), token)))
    }
  })

/**
 * {@link makeDedupe} as the `Notifications.Dedupe` of `httpApp`.
 *
 * @example
 * ```ts
 * import { Redis } from "effect-wechatpay/redis"
 *
 * const DedupeLive = Redis.layerDedupe({ host: "127.0.0.1", port: 6379 })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerDedupe = (options?: DedupeOptions): Layer.Layer<Dedupe> => Layer.scoped(Dedupe, makeDedupe(options))

/**
 * The rate limiter's store on Redis (`@effect/experimental`'s, with bounded
 * waits), for `RateLimit.layer`: every process using the same Redis and
 * prefix shares each merchant's budget.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRateLimiterStore = (options: Options = {}): Layer.Layer<RateLimiter.RateLimiterStore> =>
  closingQuietly(RateLimiterRedis.layerStore({ ...connection(options), prefix: `${prefixOf(options)}ratelimit:` }))

/**
 * The result store on Redis (`@effect/experimental`'s `Persistence`, with
 * bounded waits), for `LookupCache.layer`: a lookup answered in one process
 * is served to every other.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerResultPersistence = (options: Options = {}): Layer.Layer<Persistence.ResultPersistence> =>
  Layer.effect(
    Persistence.ResultPersistence,
    Effect.map(Persistence.ResultPersistence, (persistence) =>
      // every store's keys under the prefix
      Persistence.ResultPersistence.of({
        ...persistence,
        make: (store) => persistence.make({ ...store, storeId: `${prefixOf(options)}${store.storeId}` })
      }))
  ).pipe(
    Layer.provide(Persistence.layerResult),
    Layer.provide(closingQuietly(PersistenceRedis.layer(connection(options))))
  )

/**
 * A layer whose teardown cannot fail the application's: `@effect/experimental`'s
 * Redis layers close their connection with a `quit` that rejects (a defect)
 * when Redis is unreachable at shutdown. It is logged instead.
 */
const closingQuietly = <A>(layer: Layer.Layer<A>): Layer.Layer<A> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Effect.addFinalizer((exit) =>
        Effect.catchAllCause(
          Scope.close(scope, exit),
          (cause) => Effect.logDebug("effect-wechatpay: a Redis connection did not close cleanly", cause)
        )
      )
      return yield* Layer.buildWithScope(layer, scope)
    })
  )

/** A connection of our own, closed with the scope; its errors surface on the commands. */
const open = (options: Options): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis(connection(options))
      // without a listener ioredis prints every reconnection failure; each command reports its own
      redis.on("error", () => {})
      return redis
    }),
    (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
  )

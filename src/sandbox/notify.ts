/**
 * The sandbox's notifications: POSTed to the merchant's notify URL, signed
 * and encrypted as WeChat Pay does, delivered again on WeChat Pay's schedule
 * until a 2xx answer.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Engine from "./engine.js"

/**
 * One delivery of a notification and what the merchant answered (`status`
 * 0: no answer).
 *
 * @since 0.2.0
 * @category models
 */
export interface NotificationDelivery {
  readonly id: string
  readonly eventType: string
  readonly url: string
  /** 1 for the first delivery of the notification. */
  readonly attempt: number
  readonly status: number
  readonly probe: boolean
  /** Epoch milliseconds, from the `Clock`. */
  readonly at: number
}

/** A ring of the last `size` entries, oldest first. @internal */
export const ring = <A>(size: number) => {
  const items: Array<A> = []
  let next = 0
  return {
    push: (item: A) => {
      if (size <= 0) return
      if (items.length < size) items.push(item)
      else items[next] = item
      next = (next + 1) % size
    },
    snapshot: (): ReadonlyArray<A> => items.length < size ? items.slice() : [...items.slice(next), ...items.slice(0, next)]
  }
}

/**
 * Whether `url` is an http(s) URL on this machine: the sandbox delivers
 * nowhere else, so a record's `notify_url` on the internet (a demo record's
 * `https://merchant.example.com/…`) or any URL a caller of the admin routes
 * names is never reached from a test run.
 */
export const isLoopbackUrl = (url: string): boolean => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  const host = parsed.hostname
  return (parsed.protocol === "http:" || parsed.protocol === "https:") &&
    (host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
}

/** POSTs once; answers the status, 0 when nothing came back within 5 s (a redirect is an answer, not followed). */
const post = (url: string, notification: Engine.OutgoingNotification): Effect.Effect<number> =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(url, {
      method: "POST",
      headers: notification.headers,
      body: notification.body,
      redirect: "manual",
      signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)])
    })
    await response.body?.cancel()
    return response.status
  }).pipe(Effect.orElseSucceed(() => 0))

/** @internal */
export const makeNotifier = (
  config: Engine.EngineConfig,
  options: {
    /** Where notifications go (before a record's own notify URL, which a local sandbox can seldom reach). */
    readonly notifyUrl: string | undefined
    /** WeChat Pay's delays are multiplied by this (1: as WeChat Pay waits; 0.001 for tests). */
    readonly timeScale: number
    readonly logSize: number
  }
): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    const log = ring<NotificationDelivery>(options.logSize)
    // what was sent, for a delivery again on demand (the last 1000)
    const sent = new Map<string, { readonly url: string; readonly notification: Engine.OutgoingNotification }>()
    const remember = (url: string, notification: Engine.OutgoingNotification) => {
      sent.set(notification.id, { url, notification })
      if (sent.size > 1000) sent.delete(sent.keys().next().value!)
    }

    /** One delivery, signed at the time it is made, logged. */
    const once = (url: string, notification: Engine.OutgoingNotification, attempt: number, probe = false) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.tap(
          post(url, probe ? notification : Engine.resigned(config, notification, now)),
          (status) =>
            Effect.sync(() =>
              log.push({ id: notification.id, eventType: notification.eventType, url, attempt, status, probe, at: now })
            )
        ))

    /** Deliveries on WeChat Pay's schedule until one is answered with a 2xx. */
    const untilAnswered = (url: string, notification: Engine.OutgoingNotification, copies: number) =>
      Effect.gen(function*() {
        for (let attempt = 1; attempt <= Engine.NOTIFY_DELAYS_SECONDS.length; attempt++) {
          const delay = Engine.NOTIFY_DELAYS_SECONDS[attempt - 1]! * 1000 * options.timeScale
          if (delay > 0) yield* Effect.sleep(delay)
          const statuses = yield* Effect.all(
            Array.from({ length: attempt === 1 ? copies : 1 }, () => once(url, notification, attempt)),
            { concurrency: "unbounded" }
          )
          if (statuses.some((status) => status >= 200 && status < 300)) return
        }
      })

    return {
      deliver: (event, delivery = {}) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const url = delivery.notifyUrl ?? options.notifyUrl ??
            (event._tag === "BusinessCircleActivated" ? undefined : event.record.notify_url)
          if (url === undefined || !isLoopbackUrl(url)) return Effect.succeed(undefined)
          const notification = Engine.notificationOf(config, event, now)
          remember(url, notification)
          return Effect.as(Effect.forkIn(untilAnswered(url, notification, delivery.copies ?? 1), scope), notification.id)
        }),
      redeliver: (id) =>
        Effect.suspend(() => {
          const found = sent.get(id)
          return found === undefined ? Effect.succeed(undefined) : once(found.url, found.notification, 0)
        }),
      probe: (url) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const target = url ?? options.notifyUrl
          if (target === undefined || !isLoopbackUrl(target)) return Effect.succeed(undefined)
          const event: Engine.AuthorizationEvent = {
            _tag: "PayscoreOpened",
            record: {
              service_id: "500001",
              appid: "wxd678efh567hg6787",
              openid: "oSignatureProbe0000000000000",
              authorization_code: "SIGNTEST",
              authorization_state: "AVAILABLE"
            },
            at: now
          }
          return once(target, Engine.notificationOf(config, event, now, { probe: true }), 1, true)
        }),
      deliveries: Effect.sync(() => log.snapshot())
    }
  })

/** @internal */
export interface Notifier {
  /** Notifies the merchant of an event, on WeChat Pay's schedule, in the background; answers the notification id. */
  readonly deliver: (
    event: Engine.AuthorizationEvent,
    delivery?: { readonly notifyUrl?: string | undefined; readonly copies?: number | undefined }
  ) => Effect.Effect<string | undefined>
  /** One more delivery of a notification sent before: a duplicate. */
  readonly redeliver: (id: string) => Effect.Effect<number | undefined>
  /** One notification with a `WECHATPAY/SIGNTEST/` signature. */
  readonly probe: (url?: string | undefined) => Effect.Effect<number | undefined>
  readonly deliveries: Effect.Effect<ReadonlyArray<NotificationDelivery>>
}

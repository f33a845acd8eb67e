/**
 * Single-flight: identical lookups in flight at the same time share one
 * call. The call runs in a fiber of its own, so a caller that leaves does
 * not end it for the others; each caller waiting on it is counted, and the
 * last one to leave, answered or interrupted, ends it.
 *
 * `RcMap` does this too (a reference-counted entry whose scope holds the
 * call's fiber), at about three times the cost per lookup: a semaphore, two
 * scopes and a finalizer on every call (`bench/README.md`). This is the same
 * count on a `Map`, one fork per call.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"

/**
 * Shares identical calls in flight.
 *
 * @since 0.2.0
 * @category models
 */
export interface SingleFlightService {
  /**
   * Runs `effect`, or joins the run of another caller that asked with the
   * same `key` and has not had its answer yet. A run has the context and
   * fiber refs of the caller that started it. A key must always stand for
   * the same work (and so the same `A` and `E`): a joining caller's own
   * `effect` is not run. The library's keys are the merchant, host,
   * endpoint and canonical path (and, with a `LookupCache`, the user's
   * cache generation).
   */
  readonly run: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** A call in flight, and how many callers wait on it. */
interface Flight {
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  waiters: number
}

/**
 * A single-flight map.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeSingleFlight: Effect.Effect<SingleFlightService> = Effect.sync(() => {
  const flights = new Map<string, Flight>()
  const forget = (key: string, flight: Flight) => {
    if (flights.get(key) === flight) flights.delete(key)
  }
  /** A caller leaves: the last one ends the call (nothing to end once it has answered). */
  const leave = (key: string, flight: Flight) =>
    Effect.suspend(() => {
      if (--flight.waiters > 0) return Effect.void
      forget(key, flight)
      return Fiber.interrupt(flight.fiber)
    })
  /** The flight for `key`: the one in the air, joined, or a new one, started. */
  const board = <R>(key: string, effect: Effect.Effect<unknown, unknown, R>): Effect.Effect<Flight, never, R> =>
    Effect.suspend(() => {
      const current = flights.get(key)
      if (current !== undefined) {
        current.waiters++
        return Effect.succeed(current)
      }
      return Effect.map(Effect.forkDaemon(Effect.interruptible(effect)), (fiber) => {
        const started: Flight = { fiber, waiters: 1 }
        flights.set(key, started)
        // once it has answered, the next caller makes a call of its own
        fiber.addObserver(() => forget(key, started))
        return started
      })
    })
  return {
    run: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) =>
      // boarding and counting happen together; only the wait is interruptible. The answer is
      // awaited, not joined: the call's fiber refs are its own, not merged into each caller's
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          board(key, effect),
          (flight) => Effect.ensuring(Effect.flatten(restore(Fiber.await(flight.fiber))), leave(key, flight))
        )
      ) as Effect.Effect<A, E, R>
  }
})

/**
 * Where GET lookups are shared while in flight: by default one map for the
 * process (identical lookups of one merchant share a call wherever they come
 * from); provide {@link layerSingleFlight} for one of a layer's own.
 *
 * @since 0.2.0
 * @category references
 */
export class SingleFlight extends Context.Reference<SingleFlight>()("effect-wechatpay/Wechatpay/SingleFlight", {
  defaultValue: (): SingleFlightService => Effect.runSync(makeSingleFlight)
}) {}

/**
 * A {@link SingleFlight} map of the layer's own.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSingleFlight: Layer.Layer<SingleFlight> = Layer.effect(SingleFlight, makeSingleFlight)

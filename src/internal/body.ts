/**
 * Bounded reads of an answer's body.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * The bytes of a body stream, or `undefined` as soon as they pass `max`: the
 * stream is ended there, which cancels the rest of the body, so memory stays
 * bounded whatever the other side sends.
 *
 * @internal
 */
export const readAtMost = <E, R>(
  stream: Stream.Stream<Uint8Array, E, R>,
  max: number
): Effect.Effect<Uint8Array | undefined, E, R> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Effect.map(
      Stream.runForEachWhile(stream, (chunk) =>
        Effect.sync(() => {
          size += chunk.length
          if (size > max) return false
          chunks.push(chunk)
          return true
        })),
      () => (size > max ? undefined : Buffer.concat(chunks, size))
    )
  })

/**
 * A `Content-Length` header's value when it is a plain decimal number.
 *
 * @internal
 */
export const contentLength = (headers: Readonly<Record<string, string | undefined>>): number | undefined => {
  const length = headers["content-length"]
  return length !== undefined && /^\d{1,15}$/.test(length) ? Number(length) : undefined
}

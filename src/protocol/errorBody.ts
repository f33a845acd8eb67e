/**
 * WeChat Pay's error bodies, `{"code","message","detail"?}`, read defensively:
 * an error answer may be unsigned, so everything taken from it is bounded.
 *
 * @since 0.2.0
 */

/**
 * The longest text kept from an error answer (`message`, `detail` strings, a
 * body excerpt), in characters; longer text is cut and ends with `…`.
 *
 * @since 0.2.0
 */
export const MAX_ERROR_TEXT = 512

/**
 * What an error answer said.
 *
 * @since 0.2.0
 */
export interface ErrorBody {
  /** WeChat's `code`, when the body was the documented JSON. */
  readonly code?: string | undefined
  readonly message?: string | undefined
  readonly detail?: {
    readonly field?: string | undefined
    /** A string, number, boolean or `null`; any other JSON as bounded JSON text. */
    readonly value?: unknown
    readonly issue?: string | undefined
    readonly location?: string | undefined
  } | undefined
  /** The start of a body that was not the documented JSON (a gateway page). */
  readonly excerpt?: string | undefined
}

/**
 * `text` cut to `max` characters (never inside a surrogate pair), with `…`
 * when it was cut.
 *
 * @since 0.2.0
 */
export const truncate = (text: string, max = MAX_ERROR_TEXT): string => {
  if (text.length <= max) return text
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max
  return text.slice(0, end) + "…"
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const text = (u: unknown): string | undefined => (typeof u === "string" ? truncate(u) : undefined)

/** A JSON value kept as is when it is a primitive, otherwise as bounded JSON text. */
const boundedValue = (u: unknown): unknown => {
  if (u === null || typeof u === "number" || typeof u === "boolean") return u
  if (typeof u === "string") return truncate(u)
  try {
    return truncate(JSON.stringify(u))
  } catch {
    return "[unprintable]"
  }
}

/**
 * Reads an error answer's body. `code` and `message` when it is WeChat's
 * JSON, otherwise an excerpt of the text; every string bounded by
 * {@link MAX_ERROR_TEXT}.
 *
 * @since 0.2.0
 */
export const parseErrorBody = (body: string): ErrorBody => {
  let parsed: unknown = undefined
  if (body.length > 0 && body.length <= 1_048_576) {
    try {
      parsed = JSON.parse(body)
    } catch {
      // not JSON: an excerpt below
    }
  }
  if (!isRecord(parsed) || typeof parsed.code !== "string") return { excerpt: truncate(body, 256) }
  const d = parsed.detail
  return {
    code: truncate(parsed.code, 64),
    message: text(parsed.message),
    detail: isRecord(d)
      ? { field: text(d.field), value: "value" in d ? boundedValue(d.value) : undefined, issue: text(d.issue), location: text(d.location) }
      : undefined
  }
}

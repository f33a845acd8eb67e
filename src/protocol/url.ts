/**
 * APIv3 URLs: path segments and query strings encoded so that the URL sent
 * is byte for byte the URL signed, whatever URL parser sits in between.
 *
 * @since 0.2.0
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** encodeURIComponent, with lone surrogates (which it throws on) replaced by U+FFFD. */
const encode = (value: string | number): string => {
  try {
    return encodeURIComponent(value)
  } catch {
    return encodeURIComponent(String(value).replace(LONE_SURROGATE, "\uFFFD"))
  }
}

const SUB_DELIMS = /[!'()*]/g
const HAS_SUB_DELIM = /[!'()*]/

/**
 * encodeURIComponent plus `!'()*` (RFC 3986 strict): URL parsers re-encode
 * `'` in a query, which would make the URL sent differ from the URL signed.
 */
const encodeQueryComponent = (value: string | number): string => {
  const encoded = encode(value)
  return HAS_SUB_DELIM.test(encoded)
    ? encoded.replace(SUB_DELIMS, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : encoded
}

/**
 * Percent-encodes a value as one path segment (`/` becomes `%2F`, so a value
 * can never leave its segment). `.` and `..` are encoded visibly: URL parsers
 * collapse them even when percent-encoded, so {@link hasDotSegment} refuses
 * them before anything is sent.
 *
 * @since 0.2.0
 */
export const encodeSegment = (value: string): string => {
  const encoded = encode(value)
  return encoded === "." ? "%2E" : encoded === ".." ? "%2E%2E" : encoded
}

/**
 * A tagged template for APIv3 paths that encodes every interpolated value
 * with {@link encodeSegment}.
 *
 * @since 0.2.0
 */
export const path = (strings: TemplateStringsArray, ...values: ReadonlyArray<string>): string => {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += encodeSegment(values[i]!) + strings[i + 1]!
  return out
}

/**
 * Query parameters: pairs in the order they go out; `undefined` values are
 * left out.
 *
 * @since 0.2.0
 */
export type QueryInput =
  | ReadonlyArray<readonly [string, string | number | undefined]>
  | Readonly<Record<string, string | number | undefined>>

/**
 * `?a=1&b=2` (or `""` when there is nothing to send), names and values
 * percent-encoded (RFC 3986 strict), in the given order, `undefined` values
 * left out.
 *
 * @since 0.2.0
 */
export const query = (params: QueryInput | undefined): string => {
  if (params === undefined) return ""
  const entries = Array.isArray(params)
    ? params as ReadonlyArray<readonly [string, string | number | undefined]>
    : Object.entries(params)
  let out = ""
  for (const [name, value] of entries) {
    if (value === undefined) continue
    out += `${out === "" ? "?" : "&"}${encodeQueryComponent(name)}=${encodeQueryComponent(value)}`
  }
  return out
}

/**
 * Why a path with a `.` or `..` segment is refused.
 *
 * @since 0.2.0
 */
export const DOT_SEGMENT =
  "must not contain '.' or '..' segments (also percent-encoded): URL parsers would rewrite the path"

/**
 * Whether a path has a `.` or `..` segment, plain or percent-encoded, which
 * every URL parser collapses (the signed path would differ from the sent
 * one).
 *
 * @since 0.2.0
 */
export const hasDotSegment = (p: string): boolean => {
  if (!p.includes(".") && !/%2e/i.test(p)) return false
  const q = p.indexOf("?")
  for (const segment of (q === -1 ? p : p.slice(0, q)).split("/")) {
    const decoded = segment.replace(/%2e/gi, ".")
    if (decoded === "." || decoded === "..") return true
  }
  return false
}

const API_PATH = /^\/v3(?:\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+)+$/

/**
 * Checks an already encoded APIv3 path (no query): returns why it is refused,
 * or `undefined`.
 *
 * @since 0.2.0
 */
export const checkApiPath = (p: string): string | undefined =>
  typeof p !== "string" || !API_PATH.test(p)
    ? "must be an encoded APIv3 path such as /v3/certificates (no query, fragment, spaces or empty segments)"
    : hasDotSegment(p)
    ? DOT_SEGMENT
    : undefined

/**
 * Query parameter names this library sends as they are.
 *
 * @since 0.2.0
 */
export const QUERY_NAME = /^[A-Za-z0-9_.\-]+$/

/**
 * A base URL (trailing slashes dropped) joined with a canonical `path?query`.
 *
 * @since 0.2.0
 */
export const joinUrl = (base: string, canonical: string): string =>
  (base.endsWith("/") ? base.replace(/\/+$/, "") : base) + canonical

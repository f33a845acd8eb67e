/**
 * Schemas shared by every endpoint: RFC 3339 times and the identifiers that
 * appear in request paths and query strings.
 *
 * @since 0.1.0
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Time from "../protocol/time.js"

/**
 * Parses an RFC 3339 date-time (`2015-05-20T13:29:35+08:00`,
 * `2015-05-20T13:29:35.120Z`, …) to epoch milliseconds, or `undefined` when
 * the text is not a valid RFC 3339 date-time (wrong shape, or a field out of
 * range such as February 30th or hour 24).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRfc3339: (text: string) => number | undefined = Time.parseRfc3339

/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the range of a four-digit year. */
const MIN_RFC3339 = -62_167_219_200_000
const MAX_RFC3339 = 253_402_300_799_999

/**
 * An RFC 3339 date-time string decoded to a `Date`. Accepts a `Z` or a
 * numeric offset, with or without fractional seconds; rejects anything else
 * (unlike `Schema.DateFromString`, which accepts any text `Date` can parse).
 * Encodes back to UTC ISO 8601; a date outside years 0000–9999 does not
 * encode (it has no RFC 3339 form).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Schemas } from "effect-wechatpay"
 *
 * const date = Schema.decodeUnknownSync(Schemas.DateTimeRfc3339)("2015-05-20T13:29:35.120+08:00")
 * // 2015-05-20T05:29:35.120Z
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const DateTimeRfc3339: Schema.Schema<Date, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DateFromSelf,
  {
    strict: true,
    decode: (text, _, ast) => {
      const millis = parseRfc3339(text)
      return millis === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, "Expected an RFC 3339 date-time"))
        : ParseResult.succeed(new Date(millis))
    },
    encode: (date, _, ast) => {
      const time = date.getTime()
      return Number.isNaN(time)
        ? ParseResult.fail(new ParseResult.Type(ast, date, "Invalid Date"))
        : time < MIN_RFC3339 || time > MAX_RFC3339
        // toISOString would write an expanded year (+010000-…), which is not RFC 3339
        ? ParseResult.fail(new ParseResult.Type(ast, date, "Expected a year from 0000 to 9999"))
        : ParseResult.succeed(date.toISOString())
    }
  }
).annotations({
  identifier: "DateTimeRfc3339",
  arbitrary: () => (fc) => fc.date({ min: new Date(MIN_RFC3339), max: new Date(MAX_RFC3339), noInvalidDate: true })
})

/**
 * WeChat Pay's compact China time, `yyyyMMddHHmmss` in UTC+8 (as in
 * `openorclose_time`), decoded to a `Date`; encodes back the same way.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ChinaCompactTime: Schema.Schema<Date, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DateFromSelf,
  {
    strict: true,
    decode: (text, _, ast) => {
      const millis = Time.parseChinaCompactTime(text)
      return millis === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, "Expected a time as yyyyMMddHHmmss"))
        : ParseResult.succeed(new Date(millis))
    },
    encode: (date, _, ast) =>
      Number.isNaN(date.getTime())
        ? ParseResult.fail(new ParseResult.Type(ast, date, "Invalid Date"))
        : ParseResult.succeed(Time.formatChinaCompactTime(date.getTime()))
  }
).annotations({ identifier: "ChinaCompactTime" })

const identifier = (options: {
  readonly identifier: string
  readonly pattern: RegExp
  readonly max: number
  readonly charset: string
}) =>
  Schema.String.pipe(
    Schema.filter((s) =>
      s.length === 0
        ? "must not be empty"
        : s.length > options.max
        ? `must be at most ${options.max} characters (got ${s.length})`
        : options.pattern.test(s)
        ? true
        : `may only contain ${options.charset}`
    ),
    Schema.annotations({ identifier: options.identifier })
  )

const urlSafe = "letters, digits, '_' and '-'"

/**
 * A Pay Score `openid` path parameter: 1–128 characters of `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PayscoreOpenid = identifier({
  identifier: "PayscoreOpenid",
  pattern: /^[A-Za-z0-9_-]+$/,
  max: 128,
  charset: urlSafe
})

/**
 * A Business Circle `openid` path parameter: 1–64 characters of `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BusinessCircleOpenid = identifier({
  identifier: "BusinessCircleOpenid",
  pattern: /^[A-Za-z0-9_-]+$/,
  max: 64,
  charset: urlSafe
})

/**
 * A Pay Score `authorization_code`: 1–32 characters of digits, letters and
 * `_ - * |`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AuthorizationCode = identifier({
  identifier: "AuthorizationCode",
  pattern: /^[A-Za-z0-9_\-*|]+$/,
  max: 32,
  charset: "letters, digits, '_', '-', '*' and '|'"
})

/**
 * A Pay Score `service_id`: 1–32 characters of `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServiceId = identifier({
  identifier: "ServiceId",
  pattern: /^[A-Za-z0-9_-]+$/,
  max: 32,
  charset: urlSafe
})

/**
 * An `appid` (official account or mini program id): 1–32 characters of
 * `[A-Za-z0-9_-]`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AppId = identifier({
  identifier: "AppId",
  pattern: /^[A-Za-z0-9_-]+$/,
  max: 32,
  charset: urlSafe
})

/**
 * A sub-merchant id (`sub_mchid`, partner mode): 1–32 digits.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubMchid = identifier({
  identifier: "SubMchid",
  pattern: /^[0-9]+$/,
  max: 32,
  charset: "digits"
})

/**
 * An optional response field: absent (or, defensively, `null`) decodes to a
 * missing key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { nullable: true })

/**
 * A `notify_url`: an `https` URL of at most 255 characters, without a query
 * string or fragment (WeChat Pay appends nothing to it).
 *
 * @since 0.2.0
 * @category schemas
 */
export const NotifyUrl = Schema.String.pipe(
  Schema.filter((s) => {
    if (s.length > 255) return `must be at most 255 characters (got ${s.length})`
    let url: URL
    try {
      url = new URL(s)
    } catch {
      return "must be a URL"
    }
    return url.protocol !== "https:"
      ? "must be an https URL"
      : url.search !== "" || s.includes("?")
      ? "must not have a query string"
      : url.hash !== "" || s.includes("#")
      ? "must not have a fragment"
      : url.username !== "" || url.password !== ""
      ? "must not hold credentials"
      : true
  }),
  Schema.annotations({ identifier: "NotifyUrl" })
)

/**
 * Why an authorization is ended (`reason`): 1 to 50 characters.
 *
 * @since 0.2.0
 * @category schemas
 */
export const TerminationReason = Schema.String.pipe(
  Schema.filter((s) => {
    const length = Array.from(s).length
    return s.trim().length === 0
      ? "must not be empty"
      : length > 50
      ? `must be at most 50 characters (got ${length})`
      : true
  }),
  Schema.annotations({ identifier: "TerminationReason" })
)

/**
 * Times as WeChat Pay writes them.
 *
 * @since 0.2.0
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

const daysInMonth = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28)
    : month === 4 || month === 6 || month === 9 || month === 11
    ? 30
    : 31

/**
 * Parses an RFC 3339 date-time (`2015-05-20T13:29:35+08:00`,
 * `2015-05-20T13:29:35.120Z`, …) to epoch milliseconds, or `undefined` when
 * the text is not one (wrong shape, or a field out of range such as
 * February 30th or hour 24).
 *
 * @since 0.2.0
 */
export const parseRfc3339 = (text: string): number | undefined => {
  const m = RFC3339.exec(text)
  if (m === null) return undefined
  const year = +m[1]!, month = +m[2]!, day = +m[3]!, hour = +m[4]!, minute = +m[5]!, second = +m[6]!
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  const offsetHours = m[9] === undefined ? 0 : +m[9]
  const offsetMinutes = m[10] === undefined ? 0 : +m[10]
  if (offsetHours > 23 || offsetMinutes > 59) return undefined
  // milliseconds from the fraction's first three digits (further digits are below a Date's precision)
  const millis = m[7] === undefined ? 0 : +(m[7] + "00").slice(0, 3)
  const offset = (m[8] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000
  const utc = new Date(0)
  utc.setUTCFullYear(year, month - 1, day)
  utc.setUTCHours(hour, minute, second, millis)
  return utc.getTime() - offset
}

/**
 * RFC 3339 in China time (`+08:00`), the way WeChat Pay writes times.
 *
 * @since 0.2.0
 */
export const formatChinaTime = (millis: number): string =>
  new Date(millis + 8 * 3600_000).toISOString().slice(0, 19) + "+08:00"

const COMPACT = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/

/**
 * Parses WeChat Pay's compact China time, `yyyyMMddHHmmss` in UTC+8 (as in
 * `openorclose_time`, e.g. `20180225112233`), to epoch milliseconds, or
 * `undefined` when the text is not one.
 *
 * @since 0.2.0
 */
export const parseChinaCompactTime = (text: string): number | undefined => {
  const m = COMPACT.exec(text)
  if (m === null) return undefined
  return parseRfc3339(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`)
}

/**
 * Formats epoch milliseconds as compact China time, `yyyyMMddHHmmss` in UTC+8.
 *
 * @since 0.2.0
 */
export const formatChinaCompactTime = (millis: number): string =>
  new Date(millis + 8 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, "")

/**
 * Output and exit codes of the CLI: a readable table or JSON, and errors
 * printed with their tag, code, message and Request-ID (never secrets).
 *
 * @internal
 */
import type { PlatformError } from "@effect/platform/Error"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as Console from "effect/Console"
import type * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { InvalidKeyError, WechatpayError } from "../errors/Errors.js"
import type { SeedError } from "../sandbox/Sandbox.js"

/** A mistake on the command line (missing or conflicting flags). @internal */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly description: string }> {
  override get message(): string {
    return this.description
  }
}

/** @internal */
export const ExitCode = {
  Ok: 0,
  Unexpected: 1,
  Usage: 2,
  InvalidRequest: 3,
  Business: 4,
  Signature: 5,
  Network: 6,
  Decode: 7,
  Configuration: 8
} as const

/** @internal */
export type CliError =
  | WechatpayError
  | InvalidKeyError
  | ConfigError.ConfigError
  | SeedError
  | ServeError
  | PlatformError
  | UsageError

/** @internal */
export const exitCodeOf = (error: CliError): number => {
  switch (error._tag) {
    case "UsageError":
      return ExitCode.Usage
    case "InvalidRequestError":
      return ExitCode.InvalidRequest
    case "BusinessError":
      return ExitCode.Business
    case "SignatureError":
      return ExitCode.Signature
    case "NetworkError":
      return ExitCode.Network
    case "DecodeError":
      return ExitCode.Decode
    case "RateLimitError":
      // the CLI sets no rate limit of its own; a limiter's failure is not a configuration mistake
      return ExitCode.Unexpected
    default:
      return ExitCode.Configuration
  }
}

const plain = (value: unknown): unknown =>
  value instanceof Date ? value.toISOString() : value

// control characters (C0, DEL, C1), invisible format characters (bidirectional overrides and
// isolates, zero-width characters, tags), line and paragraph separators, lone surrogates
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu

const escape = (c: string): string =>
  c === "\n"
    ? "\\n"
    : c === "\r"
    ? "\\r"
    : c === "\t"
    ? "\\t"
    : c.length === 2
    ? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}\\u${c.charCodeAt(1).toString(16).padStart(4, "0")}`
    : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * Text for a terminal: every control character escaped (`\u001b`, `\n`, …),
 * so what a server sent cannot clear the screen, recolour or fake a line.
 *
 * @internal
 */
export const printable = (text: string): string => text.replace(UNPRINTABLE, escape)

/**
 * JSON with every character a terminal could act on written as a `\u` escape
 * (`JSON.stringify` leaves C1 codes, bidirectional overrides and line
 * separators as they are); still the same JSON value.
 *
 * @internal
 */
export const safeJson = (value: unknown): string =>
  JSON.stringify(value).replace(UNPRINTABLE, (c) =>
    Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`).join(""))

/** The fields of a decoded response, in order, as printable pairs. @internal */
export const rows = (data: object): Array<readonly [string, string]> =>
  Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [printable(k), printable(String(plain(v)))] as const)

/** A two-column table. @internal */
export const table = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")
}

/** A successful lookup for humans or machines. @internal */
export const success = (
  json: boolean,
  response: { readonly data: object | void; readonly status: number; readonly requestId: string | undefined }
): string =>
  json
    ? safeJson({ status: response.status, requestId: response.requestId ?? null, data: response.data ?? null })
    : `${response.data === undefined ? "  done (no content)" : table(rows(response.data))}\n  (HTTP ${response.status}, Request-ID ${
      printable(response.requestId ?? "-")
    })`

const fieldsOf = (error: CliError): Record<string, unknown> => {
  const e = error as unknown as Record<string, unknown>
  const out: Record<string, unknown> = { _tag: error._tag }
  for (const key of ["reason", "status", "code", "serverMessage", "field", "requestId"]) {
    if (e[key] !== undefined && typeof e[key] !== "object") out[key] = e[key]
  }
  out.message = messageOf(error)
  return out
}

const messageOf = (error: CliError): string =>
  error._tag === "ServeError"
    ? `the sandbox could not start: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
    : "message" in error && typeof error.message === "string" && error.message.length > 0
    ? error.message
    : String(error)

/** An error for humans (stderr) or machines (stdout JSON). @internal */
export const failure = (json: boolean, error: CliError): string => {
  if (json) return safeJson({ error: fieldsOf(error) })
  const f = fieldsOf(error)
  const head = printable([f._tag, f.reason, f.code].filter((x) => x !== undefined).join(" "))
  return `error: ${head}\n  ${printable(String(f.message))}${
    f.requestId !== undefined ? `\n  Request-ID: ${printable(String(f.requestId))}` : ""
  }`
}

// CSI and OSC escape sequences: colours, cursor movement, titles
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g

const withoutEscapes = (args: ReadonlyArray<unknown>): Array<unknown> => args.map((a) => (typeof a === "string" ? a.replace(ANSI, "") : a))

/**
 * The default console, writing text without ANSI escape sequences (for a
 * pipe, a file, or `NO_COLOR`): what @effect/cli prints with colours comes
 * out plain.
 *
 * @internal
 */
export const plainConsole: Console.Console = (() => {
  const base = Effect.runSync(Effect.console)
  return {
    ...base,
    log: (...args) => base.log(...withoutEscapes(args)),
    error: (...args) => base.error(...withoutEscapes(args)),
    info: (...args) => base.info(...withoutEscapes(args)),
    warn: (...args) => base.warn(...withoutEscapes(args)),
    unsafe: {
      ...base.unsafe,
      log: (...args) => base.unsafe.log(...withoutEscapes(args)),
      error: (...args) => base.unsafe.error(...withoutEscapes(args)),
      info: (...args) => base.unsafe.info(...withoutEscapes(args)),
      warn: (...args) => base.unsafe.warn(...withoutEscapes(args))
    }
  }
})()

/**
 * Response (and callback) verification: the signature headers, the ±300 s
 * window, the probe signatures, the key ring and RSA-SHA256 over
 * `${timestamp}\n${nonce}\n${raw body}\n`.
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"
import { safeCause, SignatureFailure } from "./failures.js"
import { normalizeSerial, type RingKey } from "./keys.js"
import { SCHEME } from "./signing.js"

/**
 * What an answer brings to be verified: the four `Wechatpay-*` headers, the
 * optional `Wechatpay-Signature-Type`, the body exactly as received (raw
 * bytes, or text when only text is at hand) and when it arrived (epoch
 * milliseconds).
 *
 * @since 0.2.0
 */
export interface VerifyInput {
  readonly serial: string
  readonly timestamp: string
  readonly nonce: string
  readonly signature: string
  readonly signatureType?: string | undefined
  readonly body: string | Uint8Array
  readonly receivedAt: number
}

/**
 * Prefix of the deliberately invalid signatures WeChat Pay sends to check
 * that merchants verify.
 *
 * @since 0.2.0
 */
export const PROBE_PREFIX = "WECHATPAY/SIGNTEST/"

/**
 * The default accepted distance between `Wechatpay-Timestamp` and the local
 * clock, either way.
 *
 * @since 0.2.0
 */
export const MAX_CLOCK_SKEW_SECONDS = 300

/**
 * The signature headers of an answer.
 *
 * @since 0.2.0
 */
export type SignatureHeaders = Omit<VerifyInput, "body" | "receivedAt">

/**
 * Reads the signature headers from lower-case header names, or names the
 * ones that are missing.
 *
 * @since 0.2.0
 */
export const signatureHeaders = (
  headers: Readonly<Record<string, string | undefined>>
): SignatureHeaders | { readonly missing: ReadonlyArray<string> } => {
  const serial = headers["wechatpay-serial"]
  const timestamp = headers["wechatpay-timestamp"]
  const nonce = headers["wechatpay-nonce"]
  const signature = headers["wechatpay-signature"]
  if (serial === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
    const missing: Array<string> = []
    if (serial === undefined) missing.push("Wechatpay-Serial")
    if (timestamp === undefined) missing.push("Wechatpay-Timestamp")
    if (nonce === undefined) missing.push("Wechatpay-Nonce")
    if (signature === undefined) missing.push("Wechatpay-Signature")
    return { missing }
  }
  return { serial, timestamp, nonce, signature, signatureType: headers["wechatpay-signature-type"] }
}

// strict Base64: the alphabet, padding only at the end, a length that is a multiple of 4
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64.test(s)
const DIGITS = /^\d{1,12}$/

/** The serial as it may appear in an error: at most 64 characters. */
const shown = (serial: string): string => serial.slice(0, 64)

/**
 * Everything but the key: the signature type, the timestamp (digits, within
 * `maxSkewSeconds` of `receivedAt` either way) and the signature's form (a
 * `WECHATPAY/SIGNTEST/` probe is refused here). Returns the decoded
 * signature bytes or the failure.
 *
 * @since 0.2.0
 */
export const precheck = (input: VerifyInput, maxSkewSeconds = MAX_CLOCK_SKEW_SECONDS): Buffer | SignatureFailure => {
  const serial = shown(input.serial)
  if (input.signatureType !== undefined && input.signatureType !== SCHEME) {
    return new SignatureFailure(
      "UnsupportedSignatureType",
      `Wechatpay-Signature-Type ${JSON.stringify(input.signatureType.slice(0, 64))} is not ${SCHEME}`,
      serial
    )
  }
  if (!DIGITS.test(input.timestamp)) {
    return new SignatureFailure("MalformedHeaders", "Wechatpay-Timestamp is not a Unix time in seconds", serial)
  }
  const skew = Number(input.timestamp) - Math.floor(input.receivedAt / 1000)
  if (Math.abs(skew) > maxSkewSeconds) {
    return new SignatureFailure(
      "TimestampSkew",
      `Wechatpay-Timestamp is ${Math.abs(skew)} s ${skew < 0 ? "behind" : "ahead of"} the local clock (limit ${maxSkewSeconds} s)`,
      serial
    )
  }
  if (input.signature.startsWith(PROBE_PREFIX)) {
    return new SignatureFailure(
      "MalformedSignature",
      "Wechatpay-Signature is a WeChat Pay verification probe, not a signature",
      serial
    )
  }
  if (!isBase64(input.signature)) {
    return new SignatureFailure("MalformedSignature", "Wechatpay-Signature is not Base64", serial)
  }
  return Buffer.from(input.signature, "base64")
}

const NEWLINE = Buffer.from("\n")

/**
 * The message an answer's signature covers, `${timestamp}\n${nonce}\n${body}\n`,
 * over the raw body bytes when given.
 *
 * @since 0.2.0
 */
export const responseMessage = (timestamp: string, nonce: string, body: string | Uint8Array): Buffer =>
  typeof body === "string"
    ? Buffer.from(`${timestamp}\n${nonce}\n${body}\n`, "utf8")
    : Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`, "utf8"), body, NEWLINE])

/**
 * Signs an answer the way WeChat Pay does (for sandboxes and tests).
 *
 * @since 0.2.0
 */
export const signResponse = (
  privateKey: crypto.KeyObject,
  timestamp: string,
  nonce: string,
  body: string | Uint8Array
): string => crypto.sign("sha256", responseMessage(timestamp, nonce, body), privateKey).toString("base64")

/**
 * Verifies `input` with one ring key: a certificate must be valid when the
 * answer arrived, then RSA-SHA256 must match.
 *
 * @since 0.2.0
 */
export const verifyWith = (ringKey: RingKey, input: VerifyInput, signature: Buffer): SignatureFailure | undefined => {
  if (
    ringKey.notAfter !== undefined && ringKey.notBefore !== undefined &&
    (input.receivedAt > ringKey.notAfter || input.receivedAt < ringKey.notBefore)
  ) {
    return new SignatureFailure(
      "CertificateExpired",
      `platform certificate ${ringKey.serial} is not valid at the response time`,
      shown(input.serial)
    )
  }
  try {
    return crypto.verify("sha256", responseMessage(input.timestamp, input.nonce, input.body), ringKey.key, signature)
      ? undefined
      : new SignatureFailure("InvalidSignature", "the signature does not match the response", shown(input.serial))
  } catch (cause) {
    return new SignatureFailure(
      "InvalidSignature",
      "the signature could not be checked",
      shown(input.serial),
      safeCause(cause)
    )
  }
}

/**
 * The failure for a serial the ring does not hold.
 *
 * @since 0.2.0
 */
export const unknownSerial = (serial: string): SignatureFailure =>
  new SignatureFailure(
    "UnknownSerial",
    `no WeChat Pay public key or platform certificate with id ${JSON.stringify(shown(serial))}`,
    shown(serial)
  )

/**
 * Keys by id: public key ids as given, certificate serials normalised.
 *
 * @since 0.2.0
 */
export class KeyRing {
  private readonly keys: ReadonlyMap<string, RingKey>
  constructor(keys: Iterable<RingKey>) {
    this.keys = new Map(Array.from(keys, (k) => [k.serial, k] as const))
  }
  /** The key an answer's `Wechatpay-Serial` names. */
  get(serial: string): RingKey | undefined {
    return this.keys.get(serial) ?? this.keys.get(normalizeSerial(serial))
  }
  /** Every key id. */
  get serials(): ReadonlyArray<string> {
    return Array.from(this.keys.keys())
  }
  /** Every key. */
  get all(): ReadonlyArray<RingKey> {
    return Array.from(this.keys.values())
  }
  /**
   * The key id to send as `Wechatpay-Serial`: the first public key, else the
   * certificate that expires last, else `undefined` for an empty ring.
   */
  preferred(): string | undefined {
    let best: RingKey | undefined
    for (const k of this.keys.values()) {
      if (k.kind === "PublicKey") return k.serial
      if (best === undefined || (k.notAfter ?? 0) > (best.notAfter ?? 0)) best = k
    }
    return best?.serial
  }
}

/**
 * Verifies an answer against a key ring: {@link precheck}, the key its
 * serial names, then {@link verifyWith}.
 *
 * @since 0.2.0
 */
export const verify = (
  ring: KeyRing,
  input: VerifyInput,
  maxSkewSeconds = MAX_CLOCK_SKEW_SECONDS
): SignatureFailure | undefined => {
  const signature = precheck(input, maxSkewSeconds)
  if (signature instanceof SignatureFailure) return signature
  const key = ring.get(input.serial)
  return key === undefined ? unknownSerial(input.serial) : verifyWith(key, input, signature)
}

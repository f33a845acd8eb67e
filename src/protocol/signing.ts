/**
 * Request signing, `WECHATPAY2-SHA256-RSA2048`: the five-line message, the
 * nonce, the RSA-SHA256 signature and the `Authorization` header.
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"
import { KeyFailure } from "./failures.js"

/**
 * The signing scheme: the prefix of every `Authorization` header and the
 * only `Wechatpay-Signature-Type` this library accepts.
 *
 * @since 0.2.0
 */
export const SCHEME = "WECHATPAY2-SHA256-RSA2048"

const NONCE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const NONCE_LENGTH = 32
const POOL_SIZE = 4096
let pool = Buffer.alloc(0)
let offset = POOL_SIZE

/**
 * 32 characters drawn uniformly from `[0-9A-Za-z]` by a CSPRNG (bytes of
 * 248 and above are skipped, so there is no modulo bias). Random bytes are
 * fetched 4 KiB at a time.
 *
 * @since 0.2.0
 */
export const nonce = (): string => {
  let out = ""
  while (out.length < NONCE_LENGTH) {
    if (offset >= POOL_SIZE) {
      pool = crypto.randomBytes(POOL_SIZE)
      offset = 0
    }
    const byte = pool[offset++]!
    if (byte < 248) out += NONCE_ALPHABET[byte % 62]
  }
  return out
}

/**
 * The message a request signature covers: method, path plus `?query`
 * exactly as sent, Unix timestamp in seconds, nonce and body (empty for a
 * GET), each followed by `\n`.
 *
 * @since 0.2.0
 */
export const signingMessage = (method: string, url: string, timestamp: string, nonce: string, body: string): string =>
  `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`

/**
 * RSASSA-PKCS1-v1_5 with SHA-256 over the UTF-8 message, Base64. Throws what
 * `node:crypto` throws.
 *
 * @since 0.2.0
 */
export const sign = (privateKey: crypto.KeyObject, message: string): string =>
  crypto.sign("sha256", Buffer.from(message, "utf8"), privateKey).toString("base64")

/**
 * The `Authorization` header value, one line.
 *
 * @since 0.2.0
 */
export const authorizationHeader = (parts: {
  readonly mchid: string
  readonly nonce: string
  readonly signature: string
  readonly timestamp: string
  readonly serialNo: string
}): string =>
  `${SCHEME} mchid="${parts.mchid}",nonce_str="${parts.nonce}",signature="${parts.signature}",timestamp="${parts.timestamp}",serial_no="${parts.serialNo}"`

const HEADER_VALUE = /^[\x21-\x7e]+$/

/**
 * Checks that a merchant id and serial number can go into the header
 * (non-empty printable ASCII, no spaces or quotes).
 *
 * @since 0.2.0
 */
export const checkIdentity = (mchid: string, serialNo: string): KeyFailure | undefined =>
  !isHeaderValue(mchid)
    ? new KeyFailure("MerchantId", "mchid must be non-empty printable ASCII without spaces or quotes")
    : !isHeaderValue(serialNo)
    ? new KeyFailure("SerialNo", "serialNo must be non-empty printable ASCII without spaces or quotes")
    : undefined

const isHeaderValue = (value: string): boolean =>
  typeof value === "string" && HEADER_VALUE.test(value) && !value.includes("\"")

/**
 * The parts of an `Authorization` header value.
 *
 * @since 0.2.0
 */
export interface AuthorizationParts {
  readonly mchid: string
  readonly nonce: string
  readonly signature: string
  readonly timestamp: string
  readonly serialNo: string
}

const SCHEME_PREFIX = `${SCHEME} `

/**
 * Reads an `Authorization` header value the way WeChat Pay does (the server
 * side of {@link authorizationHeader}, for sandboxes): its parts, or
 * `"scheme"` for another scheme, `"malformed"` for a value that is not a list
 * of `name="value"` pairs, `"incomplete"` when a part is missing.
 *
 * @since 0.2.0
 */
export const parseAuthorization = (value: string): AuthorizationParts | "scheme" | "malformed" | "incomplete" => {
  if (!value.startsWith(SCHEME_PREFIX)) return "scheme"
  const params: Record<string, string> = {}
  for (const part of value.slice(SCHEME_PREFIX.length).split(",")) {
    const kv = /^\s*([a-z_]+)="([^"]*)"\s*$/.exec(part)
    if (kv === null) return "malformed"
    params[kv[1]!] = kv[2]!
  }
  const { mchid, nonce_str, serial_no, signature, timestamp } = params
  return mchid && nonce_str && signature && timestamp && serial_no
    ? { mchid, nonce: nonce_str, signature, timestamp, serialNo: serial_no }
    : "incomplete"
}

/**
 * Checks a request signature with the merchant public key (the server side
 * of {@link authorize}, for sandboxes).
 *
 * @since 0.2.0
 */
export const verifyRequest = (
  publicKey: crypto.KeyObject,
  request: { readonly method: string; readonly url: string; readonly body: string },
  parts: AuthorizationParts
): boolean => {
  try {
    return crypto.verify(
      "sha256",
      Buffer.from(signingMessage(request.method, request.url, parts.timestamp, parts.nonce, request.body), "utf8"),
      publicKey,
      Buffer.from(parts.signature, "base64")
    )
  } catch {
    return false
  }
}

import * as crypto from "node:crypto"
import { InvalidKeyError, SignatureError } from "../errors/Errors.js"

/** @internal */
export type KeyObject = crypto.KeyObject

const NONCE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const NONCE_LENGTH = 32
const POOL_SIZE = 4096
let pool = Buffer.alloc(0)
let offset = POOL_SIZE

/**
 * 32 characters drawn uniformly from [0-9A-Za-z] by a CSPRNG (rejection
 * sampling on bytes < 248, so there is no modulo bias). Random bytes are
 * fetched in 4 KiB batches.
 *
 * @internal
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

const describe = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  return code !== undefined ? ` (${code})` : ""
}

/**
 * A cause that is safe to keep in an error: the name and code of a crypto
 * failure, never its message (which can quote input).
 *
 * @internal
 */
export const safeCause = (cause: unknown): Error => {
  const error = new Error(`crypto operation failed${describe(cause)}`)
  error.name = cause instanceof Error ? cause.name : "Error"
  return error
}

/**
 * The error for a signing step that failed, keeping only a safe cause.
 *
 * @internal
 */
export const signingFailed = (cause: unknown): SignatureError =>
  new SignatureError({
    reason: "SigningFailed",
    description: "RSA-SHA256 signing with the merchant private key failed",
    cause: safeCause(cause)
  })

/**
 * PEM text pasted into a single-line variable (`.env` files, CI secrets)
 * often has its newlines written as a literal `\n`: restore them.
 *
 * @internal
 */
export const normalizePem = (pem: string): string =>
  typeof pem === "string" && !pem.includes("\n") && pem.includes("\\n") ? pem.replace(/\\n/g, "\n") : pem

/**
 * Parses a merchant private key (PKCS#8 or PKCS#1 PEM) once.
 *
 * @internal
 */
export const parsePrivateKey = (text: string): crypto.KeyObject | InvalidKeyError => {
  const pem = normalizePem(text)
  if (typeof pem !== "string" || !/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) {
    return new InvalidKeyError({
      key: "PrivateKey",
      description: "not a PEM private key (expected a PKCS#8 or PKCS#1 PEM block)"
    })
  }
  let key: crypto.KeyObject
  try {
    key = crypto.createPrivateKey({ key: pem, format: "pem" })
  } catch (cause) {
    return new InvalidKeyError({ key: "PrivateKey", description: `the PEM does not parse as a private key${describe(cause)}` })
  }
  if (key.asymmetricKeyType !== "rsa") {
    return new InvalidKeyError({
      key: "PrivateKey",
      description: `expected an RSA key, got ${key.asymmetricKeyType ?? "an unknown key type"}`
    })
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < 2048) {
    return new InvalidKeyError({ key: "PrivateKey", description: `expected an RSA key of at least 2048 bits, got ${bits}` })
  }
  // A PEM can parse and still be damaged: prove the key signs verifiably once.
  try {
    const probe = Buffer.from("effect-wechatpay key check")
    if (!crypto.verify("sha256", probe, crypto.createPublicKey(key), crypto.sign("sha256", probe, key))) {
      return new InvalidKeyError({ key: "PrivateKey", description: "the key is damaged: its signatures do not verify" })
    }
  } catch (cause) {
    return new InvalidKeyError({ key: "PrivateKey", description: `the key is damaged${describe(cause)}` })
  }
  return key
}

/**
 * Parses a public key (SPKI `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`).
 *
 * @internal
 */
export const parsePublicKey = (text: string, id: string): crypto.KeyObject | InvalidKeyError => {
  const pem = normalizePem(text)
  if (typeof pem !== "string" || !/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    return new InvalidKeyError({
      key: "PublicKey",
      id,
      description: "not a PEM public key (expected an SPKI or PKCS#1 PEM block)"
    })
  }
  try {
    const key = crypto.createPublicKey({ key: pem, format: "pem" })
    if (key.asymmetricKeyType !== "rsa") {
      return new InvalidKeyError({ key: "PublicKey", id, description: "expected an RSA public key" })
    }
    return key
  } catch (cause) {
    return new InvalidKeyError({ key: "PublicKey", id, description: `the PEM does not parse${describe(cause)}` })
  }
}

/** @internal */
export interface ParsedCertificate {
  readonly serial: string
  readonly key: crypto.KeyObject
  readonly notBefore: number
  readonly notAfter: number
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/**
 * Splits PEM text into its certificates.
 *
 * @internal
 */
export const splitCertificates = (text: string): ReadonlyArray<string> =>
  typeof text === "string" ? normalizePem(text).match(PEM_CERTIFICATE) ?? [] : []

/**
 * Parses one X.509 platform certificate: serial in uppercase hex (without
 * leading zeros), its RSA public key and validity.
 *
 * @internal
 */
export const parseCertificate = (pem: string): ParsedCertificate | InvalidKeyError => {
  let cert: crypto.X509Certificate
  try {
    cert = new crypto.X509Certificate(pem)
  } catch (cause) {
    return new InvalidKeyError({
      key: "Certificate",
      description: `the PEM does not parse as an X.509 certificate${describe(cause)}`
    })
  }
  const serial = cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, "")
  if (cert.publicKey.asymmetricKeyType !== "rsa") {
    return new InvalidKeyError({ key: "Certificate", id: serial, description: "expected an RSA certificate" })
  }
  return {
    serial,
    key: cert.publicKey,
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo)
  }
}

/**
 * RSASSA-PKCS1-v1_5 with SHA-256, Base64.
 *
 * @internal
 */
export const sign = (key: crypto.KeyObject, message: string): string =>
  crypto.sign("sha256", Buffer.from(message, "utf8"), key).toString("base64")

/**
 * Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature given as raw bytes, over
 * a UTF-8 string or raw bytes.
 *
 * @internal
 */
export const verify = (key: crypto.KeyObject, message: string | Uint8Array, signature: Buffer): boolean =>
  crypto.verify("sha256", typeof message === "string" ? Buffer.from(message, "utf8") : message, key, signature)

/**
 * Key material: the merchant private key, WeChat Pay public keys and
 * platform certificates, parsed once into `KeyObject`s.
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"
import { codeOf, KeyFailure } from "./failures.js"

/**
 * PEM text pasted into a single-line variable (`.env` files, CI secrets)
 * often has its newlines written as a literal `\n`: restore them.
 *
 * @since 0.2.0
 */
export const normalizePem = (pem: string): string =>
  typeof pem === "string" && !pem.includes("\n") && pem.includes("\\n") ? pem.replace(/\\n/g, "\n") : pem

/**
 * Parses a merchant private key (PKCS#8 or PKCS#1 PEM): RSA, at least 2048
 * bits, and able to make a signature that verifies (a PEM can parse and still
 * be damaged).
 *
 * @since 0.2.0
 */
export const parsePrivateKey = (text: string): crypto.KeyObject | KeyFailure => {
  const pem = normalizePem(text)
  if (typeof pem !== "string" || !/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) {
    return new KeyFailure("PrivateKey", "not a PEM private key (expected a PKCS#8 or PKCS#1 PEM block)")
  }
  let key: crypto.KeyObject
  try {
    key = crypto.createPrivateKey({ key: pem, format: "pem" })
  } catch (cause) {
    return new KeyFailure("PrivateKey", `the PEM does not parse as a private key${codeOf(cause)}`)
  }
  if (key.asymmetricKeyType !== "rsa") {
    return new KeyFailure("PrivateKey", `expected an RSA key, got ${key.asymmetricKeyType ?? "an unknown key type"}`)
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < 2048) return new KeyFailure("PrivateKey", `expected an RSA key of at least 2048 bits, got ${bits}`)
  try {
    const probe = Buffer.from("effect-wechatpay key check")
    if (!crypto.verify("sha256", probe, crypto.createPublicKey(key), crypto.sign("sha256", probe, key))) {
      return new KeyFailure("PrivateKey", "the key is damaged: its signatures do not verify")
    }
  } catch (cause) {
    return new KeyFailure("PrivateKey", `the key is damaged${codeOf(cause)}`)
  }
  return key
}

/**
 * Parses an RSA public key (SPKI `BEGIN PUBLIC KEY` or PKCS#1
 * `BEGIN RSA PUBLIC KEY`), known by `id`.
 *
 * @since 0.2.0
 */
export const parsePublicKey = (text: string, id: string): crypto.KeyObject | KeyFailure => {
  const pem = normalizePem(text)
  if (typeof pem !== "string" || !/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
    return new KeyFailure("PublicKey", "not a PEM public key (expected an SPKI or PKCS#1 PEM block)", id)
  }
  try {
    const key = crypto.createPublicKey({ key: pem, format: "pem" })
    return key.asymmetricKeyType === "rsa" ? key : new KeyFailure("PublicKey", "expected an RSA public key", id)
  } catch (cause) {
    return new KeyFailure("PublicKey", `the PEM does not parse${codeOf(cause)}`, id)
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/**
 * Splits PEM text into its certificates.
 *
 * @since 0.2.0
 */
export const splitCertificates = (text: string): ReadonlyArray<string> =>
  typeof text === "string" ? normalizePem(text).match(PEM_CERTIFICATE) ?? [] : []

/**
 * Certificate serials in canonical form: uppercase hex without leading zeros
 * (as the official SDKs print them), so a header that pads or lowercases a
 * serial still names the same certificate. Public key ids pass unchanged.
 *
 * @since 0.2.0
 */
export const normalizeSerial = (serial: string): string =>
  /^[0-9A-Fa-f]+$/.test(serial) ? serial.toUpperCase().replace(/^0+(?=.)/, "") : serial

/**
 * One key a response may be signed with: a WeChat Pay public key
 * (`PUB_KEY_ID_…`) or a platform certificate (its serial, with its validity
 * in epoch milliseconds).
 *
 * @since 0.2.0
 */
export interface RingKey {
  readonly serial: string
  readonly key: crypto.KeyObject
  readonly kind: "PublicKey" | "Certificate"
  readonly notBefore?: number | undefined
  readonly notAfter?: number | undefined
}

/**
 * Parses one X.509 platform certificate into a ring key.
 *
 * @since 0.2.0
 */
export const parseCertificate = (pem: string): RingKey | KeyFailure => {
  let cert: crypto.X509Certificate
  try {
    cert = new crypto.X509Certificate(pem)
  } catch (cause) {
    return new KeyFailure("Certificate", `the PEM does not parse as an X.509 certificate${codeOf(cause)}`)
  }
  const serial = normalizeSerial(cert.serialNumber)
  if (cert.publicKey.asymmetricKeyType !== "rsa") return new KeyFailure("Certificate", "expected an RSA certificate", serial)
  return {
    serial,
    key: cert.publicKey,
    kind: "Certificate",
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo)
  }
}

const KEY_ID = /^[\x21-\x7e]+$/

/**
 * Parses WeChat Pay public keys (by id) and platform certificates (PEM
 * text, one or several per entry) into ring keys. Fails on an empty ring or
 * on any key or certificate that does not parse.
 *
 * @since 0.2.0
 */
export const parseRingKeys = (options: {
  readonly publicKeys?: Readonly<Record<string, string>> | undefined
  readonly certificates?: ReadonlyArray<string> | undefined
}): ReadonlyArray<RingKey> | KeyFailure => {
  const keys: Array<RingKey> = []
  for (const [id, pem] of Object.entries(options.publicKeys ?? {})) {
    if (!KEY_ID.test(id)) return new KeyFailure("PublicKey", "public key id must be non-empty printable ASCII")
    const key = parsePublicKey(pem, id)
    if (key instanceof KeyFailure) return key
    keys.push({ serial: id, key, kind: "PublicKey" })
  }
  for (const text of options.certificates ?? []) {
    const pems = splitCertificates(text)
    if (pems.length === 0) return new KeyFailure("Certificate", "no PEM certificate block found")
    for (const pem of pems) {
      const cert = parseCertificate(pem)
      if (cert instanceof KeyFailure) return cert
      keys.push(cert)
    }
  }
  return keys.length > 0
    ? keys
    : new KeyFailure("KeyRing", "no WeChat Pay public key or platform certificate was given")
}

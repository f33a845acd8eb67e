/**
 * Platform certificates from `GET /v3/certificates`: each one decrypted with
 * the APIv3 key, and the download accepted only when its own signature
 * verifies with a delivered certificate or an already trusted key.
 *
 * @since 0.2.0
 */
import type * as crypto from "node:crypto"
import { decrypt, type EncryptedResource } from "./aead.js"
import { parseErrorBody } from "./errorBody.js"
import { CertificateFailure, DecryptFailure, KeyFailure, SignatureFailure } from "./failures.js"
import { normalizeSerial, parseCertificate, type RingKey } from "./keys.js"
import { KeyRing, signatureHeaders, verify } from "./verification.js"

/**
 * The path the certificates are downloaded from.
 *
 * @since 0.2.0
 */
export const CERTIFICATES_PATH = "/v3/certificates"

/**
 * A download as received.
 *
 * @since 0.2.0
 */
export interface Download {
  readonly status: number
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly bytes: Uint8Array
  readonly text: string
  readonly receivedAt: number
}

interface Item {
  readonly serial_no: string
  readonly encrypt_certificate: EncryptedResource
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const isItem = (u: unknown): u is Item => {
  if (!isRecord(u) || typeof u.serial_no !== "string" || !isRecord(u.encrypt_certificate)) return false
  const e = u.encrypt_certificate
  return typeof e.algorithm === "string" && typeof e.nonce === "string" && typeof e.ciphertext === "string" &&
    (e.associated_data === undefined || typeof e.associated_data === "string")
}

/** The documented body, `{ "data": [{ serial_no, encrypt_certificate }, …] }`, or `undefined`. */
const items = (text: string): ReadonlyArray<Item> | undefined => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return undefined
  }
  return isRecord(json) && Array.isArray(json.data) && json.data.every(isItem) ? json.data : undefined
}

/**
 * Reads a download: the delivered certificates, or why they are not
 * accepted. `trusted` holds the keys already trusted (a certificate may be
 * signed by its predecessor during a rotation).
 *
 * @since 0.2.0
 */
export const acceptDownload = (
  apiV3Key: crypto.KeyObject,
  trusted: Iterable<RingKey>,
  download: Download,
  maxSkewSeconds?: number
): ReadonlyArray<RingKey> | CertificateFailure => {
  if (download.status < 200 || download.status >= 300) {
    const { code } = parseErrorBody(download.text)
    return download.status === 404 && code === "RESOURCE_NOT_EXISTS"
      ? new CertificateFailure(
        "NotAvailable",
        "this merchant has no platform certificates (404 RESOURCE_NOT_EXISTS): verify with the WeChat Pay public key instead (Verifier.layer({ publicKeys }))"
      )
      : new CertificateFailure("Download", `GET ${CERTIFICATES_PATH} answered HTTP ${download.status}${code !== undefined ? ` ${code}` : ""}`)
  }
  const list = items(download.text)
  if (list === undefined) return new CertificateFailure("Download", "the body is not the documented certificate list")
  const delivered: Array<RingKey> = []
  for (const item of list) {
    const name = `certificate ${item.serial_no.slice(0, 64)}`
    const pem = decrypt(apiV3Key, item.encrypt_certificate)
    if (pem instanceof DecryptFailure) return new CertificateFailure("Decrypt", `${name}: ${pem.description}`)
    const cert = parseCertificate(pem)
    if (cert instanceof KeyFailure) return new CertificateFailure("Decrypt", `${name} does not parse`)
    if (cert.serial !== normalizeSerial(item.serial_no)) {
      return new CertificateFailure("Decrypt", `${name} has serial ${cert.serial}`)
    }
    delivered.push(cert)
  }
  if (delivered.length === 0) return new CertificateFailure("Download", "the certificate list is empty")
  const signature = signatureHeaders(download.headers)
  if ("missing" in signature) return new CertificateFailure("Unverified", "the download carries no signature headers")
  const failure = verify(
    new KeyRing([...trusted, ...delivered]),
    { ...signature, body: download.bytes, receivedAt: download.receivedAt },
    maxSkewSeconds
  )
  if (failure instanceof SignatureFailure) {
    return new CertificateFailure(
      "Unverified",
      failure.reason === "UnknownSerial"
        ? "signed by a key that is neither delivered nor trusted"
        : `the download's signature does not verify: ${failure.description}`,
      failure
    )
  }
  return delivered
}

/**
 * `AEAD_AES_256_GCM`, which protects platform certificates and callback
 * payloads: AES-256-GCM with the 32-byte APIv3 key, the resource's 12-byte
 * nonce and its associated data; the Base64 ciphertext ends with the 16-byte
 * tag.
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"
import { DecryptFailure, KeyFailure } from "./failures.js"

/**
 * The algorithm name of every encrypted resource.
 *
 * @since 0.2.0
 */
export const ALGORITHM = "AEAD_AES_256_GCM"

/**
 * An encrypted resource as WeChat Pay sends it.
 *
 * @since 0.2.0
 */
export interface EncryptedResource {
  readonly algorithm: string
  readonly nonce: string
  readonly associated_data?: string | undefined
  readonly ciphertext: string
}

const TAG_LENGTH = 16
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Checks and parses an APIv3 key: exactly 32 bytes of UTF-8.
 *
 * @since 0.2.0
 */
export const parseApiV3Key = (text: string): crypto.KeyObject | KeyFailure => {
  const bytes = Buffer.from(typeof text === "string" ? text : "", "utf8")
  return bytes.length === 32
    ? crypto.createSecretKey(bytes)
    : new KeyFailure("ApiV3Key", `the APIv3 key must be 32 bytes, got ${bytes.length}`)
}

/**
 * Decrypts a resource to its UTF-8 plaintext.
 *
 * @since 0.2.0
 */
export const decrypt = (key: crypto.KeyObject, resource: EncryptedResource): string | DecryptFailure => {
  if (resource.algorithm !== ALGORITHM) return new DecryptFailure("UnsupportedAlgorithm", `expected ${ALGORITHM}`)
  const nonce = Buffer.from(String(resource.nonce), "utf8")
  if (nonce.length !== 12) return new DecryptFailure("Malformed", "the nonce must be 12 bytes")
  if (typeof resource.ciphertext !== "string" || !BASE64.test(resource.ciphertext)) {
    return new DecryptFailure("Malformed", "the ciphertext is not Base64")
  }
  const data = Buffer.from(resource.ciphertext, "base64")
  if (data.length < TAG_LENGTH) return new DecryptFailure("Malformed", "the ciphertext is shorter than its tag")
  try {
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_LENGTH })
    decipher.setAuthTag(data.subarray(data.length - TAG_LENGTH))
    decipher.setAAD(Buffer.from(resource.associated_data ?? "", "utf8"))
    return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_LENGTH)), decipher.final()]).toString("utf8")
  } catch {
    return new DecryptFailure(
      "AuthenticationFailed",
      "the tag does not match: wrong APIv3 key, or altered ciphertext, nonce or associated data"
    )
  }
}

/**
 * Encrypts a plaintext the way WeChat Pay does (for sandboxes and tests).
 * The nonce defaults to 12 random hex characters.
 *
 * @since 0.2.0
 */
export const encrypt = (
  key: crypto.KeyObject,
  plaintext: string,
  options: { readonly nonce?: string | undefined; readonly associatedData?: string | undefined } = {}
): EncryptedResource => {
  const nonce = options.nonce ?? crypto.randomBytes(6).toString("hex")
  const associatedData = options.associatedData ?? ""
  const cipher = crypto.createCipheriv("aes-256-gcm", key, Buffer.from(nonce, "utf8"), { authTagLength: TAG_LENGTH })
  cipher.setAAD(Buffer.from(associatedData, "utf8"))
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
  return { algorithm: ALGORITHM, nonce, associated_data: associatedData, ciphertext: data.toString("base64") }
}

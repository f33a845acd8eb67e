/**
 * `AEAD_AES_256_GCM`, the scheme WeChat Pay uses for platform certificates
 * and callback payloads: AES-256-GCM with the 32-byte APIv3 key, a 12-byte
 * nonce and the resource's associated data; the ciphertext is Base64 with the
 * 16-byte tag at its end.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { DecryptError, InvalidKeyError } from "../errors/Errors.js"

/**
 * An encrypted resource as WeChat Pay sends it.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncryptedResource {
  readonly algorithm: string
  readonly nonce: string
  readonly associated_data?: string | undefined
  readonly ciphertext: string
}

/**
 * The algorithm name of every resource this module handles.
 *
 * @since 0.1.0
 * @category constants
 */
export const ALGORITHM = "AEAD_AES_256_GCM"

const TAG_LENGTH = 16
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * A parsed APIv3 key: exactly 32 bytes of UTF-8.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiV3Key {
  readonly _tag: "ApiV3Key"
  readonly key: crypto.KeyObject
}

/**
 * Checks and parses an APIv3 key (32 bytes, UTF-8). Fails with an
 * `InvalidKeyError` that never echoes the key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const apiV3Key = (key: Redacted.Redacted<string> | string): Either.Either<ApiV3Key, InvalidKeyError> => {
  const text = Redacted.isRedacted(key) ? Redacted.value(key) : key
  const bytes = Buffer.from(typeof text === "string" ? text : "", "utf8")
  return bytes.length === 32
    ? Either.right({ _tag: "ApiV3Key", key: crypto.createSecretKey(bytes) })
    : Either.left(
      new InvalidKeyError({ key: "ApiV3Key", description: `the APIv3 key must be 32 bytes, got ${bytes.length}` })
    )
}

const isApiV3Key = (u: unknown): u is ApiV3Key =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "ApiV3Key"

const toKey = (key: ApiV3Key | Redacted.Redacted<string> | string): Either.Either<ApiV3Key, InvalidKeyError> =>
  isApiV3Key(key) ? Either.right(key) : apiV3Key(key)

/**
 * Decrypts a resource synchronously, returning the UTF-8 plaintext or the
 * failure.
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptResourceEither = (
  key: ApiV3Key,
  resource: EncryptedResource
): Either.Either<string, DecryptError> => {
  if (resource.algorithm !== ALGORITHM) {
    return Either.left(
      new DecryptError({ reason: "UnsupportedAlgorithm", description: `expected ${ALGORITHM}` })
    )
  }
  const nonce = Buffer.from(String(resource.nonce), "utf8")
  if (nonce.length !== 12) {
    return Either.left(new DecryptError({ reason: "Malformed", description: "the nonce must be 12 bytes" }))
  }
  if (typeof resource.ciphertext !== "string" || !BASE64.test(resource.ciphertext)) {
    return Either.left(new DecryptError({ reason: "Malformed", description: "the ciphertext is not Base64" }))
  }
  const data = Buffer.from(resource.ciphertext, "base64")
  if (data.length < TAG_LENGTH) {
    return Either.left(new DecryptError({ reason: "Malformed", description: "the ciphertext is shorter than its tag" }))
  }
  try {
    const decipher = crypto.createDecipheriv("aes-256-gcm", key.key, nonce, { authTagLength: TAG_LENGTH })
    decipher.setAuthTag(data.subarray(data.length - TAG_LENGTH))
    decipher.setAAD(Buffer.from(resource.associated_data ?? "", "utf8"))
    return Either.right(
      Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_LENGTH)), decipher.final()]).toString("utf8")
    )
  } catch {
    return Either.left(
      new DecryptError({
        reason: "AuthenticationFailed",
        description: "the tag does not match: wrong APIv3 key, or altered ciphertext, nonce or associated data"
      })
    )
  }
}

/**
 * Decrypts an `AEAD_AES_256_GCM` resource (a platform certificate or a
 * callback's `resource`) with the APIv3 key.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Aead } from "effect-wechatpay"
 *
 * const plaintext = Aead.decryptResource(Redacted.make(process.env.WECHATPAY_APIV3_KEY ?? ""), {
 *   algorithm: "AEAD_AES_256_GCM",
 *   nonce: "9ac6f6d1c3b2",
 *   associated_data: "transaction",
 *   ciphertext: "..."
 * })
 * ```
 *
 * @since 0.1.0
 * @category decryption
 */
export const decryptResource = (
  key: ApiV3Key | Redacted.Redacted<string> | string,
  resource: EncryptedResource
): Effect.Effect<string, DecryptError | InvalidKeyError> =>
  Effect.suspend(() => Either.flatMap(toKey(key), (k) => decryptResourceEither(k, resource)))

/**
 * Encrypts a plaintext the way WeChat Pay does (for sandboxes and tests). The
 * nonce defaults to 12 random alphanumeric characters.
 *
 * @since 0.1.0
 * @category encryption
 */
export const encryptResource = (
  key: ApiV3Key,
  plaintext: string,
  options: { readonly nonce?: string | undefined; readonly associatedData?: string | undefined } = {}
): EncryptedResource => {
  const nonce = options.nonce ?? crypto.randomBytes(6).toString("hex")
  const associatedData = options.associatedData ?? ""
  const cipher = crypto.createCipheriv("aes-256-gcm", key.key, Buffer.from(nonce, "utf8"), { authTagLength: TAG_LENGTH })
  cipher.setAAD(Buffer.from(associatedData, "utf8"))
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
  return { algorithm: ALGORITHM, nonce, associated_data: associatedData, ciphertext: data.toString("base64") }
}

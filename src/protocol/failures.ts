/**
 * What can go wrong in the protocol, as plain data: the protocol functions
 * return one of these instead of throwing, and the Effect services turn them
 * into the library's tagged errors (`SignatureError.fromFailure`, …).
 *
 * @since 0.2.0
 */

/**
 * Why a signature could not be made or a response did not verify.
 *
 * @since 0.2.0
 */
export type SignatureReason =
  | "SigningFailed"
  | "MissingHeaders"
  | "MalformedHeaders"
  | "UnsupportedSignatureType"
  | "UnknownSerial"
  | "CertificateExpired"
  | "TimestampSkew"
  | "MalformedSignature"
  | "InvalidSignature"

/**
 * A signature that could not be made or checked.
 *
 * @since 0.2.0
 */
export class SignatureFailure {
  readonly _tag = "SignatureFailure"
  constructor(
    readonly reason: SignatureReason,
    readonly description: string,
    /** The `Wechatpay-Serial` of the answer, cut to 64 characters. */
    readonly serial?: string | undefined,
    /** A cause that is safe to keep (no key material, no input). */
    readonly cause?: Error | undefined
  ) {}
}

/**
 * Which piece of key material a {@link KeyFailure} is about.
 *
 * @since 0.2.0
 */
export type KeyKind = "PrivateKey" | "PublicKey" | "Certificate" | "KeyRing" | "ApiV3Key" | "MerchantId" | "SerialNo"

/**
 * Key material that cannot be used. Names the key, never its content.
 *
 * @since 0.2.0
 */
export class KeyFailure {
  readonly _tag = "KeyFailure"
  constructor(
    readonly key: KeyKind,
    readonly description: string,
    readonly id?: string | undefined
  ) {}
}

/**
 * Why an `AEAD_AES_256_GCM` resource did not decrypt.
 *
 * @since 0.2.0
 */
export type DecryptReason = "UnsupportedAlgorithm" | "Malformed" | "AuthenticationFailed"

/**
 * A resource that did not decrypt. Never holds the key or the plaintext.
 *
 * @since 0.2.0
 */
export class DecryptFailure {
  readonly _tag = "DecryptFailure"
  constructor(readonly reason: DecryptReason, readonly description: string) {}
}

/**
 * The name and code of a `node:crypto` failure, never its message (which can
 * quote input): a cause that is safe to keep in an error.
 *
 * @since 0.2.0
 */
export const safeCause = (cause: unknown): Error => {
  const error = new Error(`crypto operation failed${codeOf(cause)}`)
  error.name = cause instanceof Error ? cause.name : "Error"
  return error
}

/**
 * ` (CODE)` for an error with a `code` (such as `ENOENT` or
 * `ERR_OSSL_…`), otherwise `""`.
 *
 * @since 0.2.0
 */
export const codeOf = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "code" in cause ? ` (${String(cause.code)})` : ""

/**
 * Why a platform certificate download was not accepted.
 *
 * @since 0.2.0
 */
export type CertificateReason = "NotAvailable" | "Download" | "Decrypt" | "Unverified"

/**
 * A platform certificate download that was not accepted.
 *
 * @since 0.2.0
 */
export class CertificateFailure {
  readonly _tag = "CertificateFailure"
  constructor(readonly reason: CertificateReason, readonly description: string, readonly cause?: unknown) {}
}

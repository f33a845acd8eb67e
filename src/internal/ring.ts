/**
 * The key ring behind every Verifier: parsing key material, and the checks
 * of a response signature as plain synchronous functions.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { InvalidKeyError, SignatureError } from "../errors/Errors.js"
import { SCHEME } from "../services/Signer.js"
import * as Crypto from "./crypto.js"
import { syncVerify } from "./fastPaths.js"

/**
 * What a response (or a callback) brings to be verified: the four
 * `Wechatpay-*` headers, the optional `Wechatpay-Signature-Type`, the body
 * exactly as received (raw bytes, or text when only text is at hand), and
 * when it was received (epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
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
 * The shape of the `Verifier` service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * The key id sent as the `Wechatpay-Serial` request header: it asks WeChat
   * Pay to sign the response with this key (public key or certificate).
   */
  readonly preferredSerial: string
  /** Every key id in the ring. */
  readonly serials: () => ReadonlyArray<string>
  /**
   * Checks the signature type, the timestamp window, the signature's form,
   * the key for the serial and finally RSA-SHA256 over
   * `${timestamp}\n${nonce}\n${body}\n`. Fails with a `SignatureError` whose
   * `reason` says which check failed.
   */
  readonly verify: (input: VerifyInput) => Effect.Effect<void, SignatureError>
}

/**
 * Options of `Verifier.make` and `Verifier.layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * WeChat Pay public keys by id: `{ "PUB_KEY_ID_0114232134912410000000000000": "-----BEGIN PUBLIC KEY-----…" }`.
   */
  readonly publicKeys?: Readonly<Record<string, string>> | undefined
  /**
   * Platform certificates, PEM text (one or several certificates per entry);
   * each is known by its serial number in uppercase hex.
   */
  readonly certificates?: ReadonlyArray<string> | undefined
  /**
   * The key id to send as `Wechatpay-Serial`. Defaults to the first public
   * key, else the certificate that expires last.
   */
  readonly preferredSerial?: string | undefined
  /** The accepted distance between `Wechatpay-Timestamp` and the local clock. Default 300 s. */
  readonly maxClockSkewSeconds?: number | undefined
}

/**
 * One key of the ring.
 *
 * @since 0.1.0
 * @category models
 */
export interface RingKey {
  readonly serial: string
  readonly key: Crypto.KeyObject
  readonly kind: "PublicKey" | "Certificate"
  readonly notBefore?: number | undefined
  readonly notAfter?: number | undefined
}

/**
 * Prefix of the deliberately invalid signatures WeChat Pay sends to check that
 * merchants verify responses.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROBE_PREFIX = "WECHATPAY/SIGNTEST/"

// strict Base64: the alphabet, padding only at the end, a length that is a multiple of 4
// (the same language as the grouped pattern, checked in a fraction of the time)
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64.test(s)
const DIGITS = /^\d{1,12}$/

/**
 * Parses the key material of {@link Options} into ring keys. Fails on an
 * empty ring or on any key or certificate that does not parse.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseKeys = (options: Options): Effect.Effect<ReadonlyArray<RingKey>, InvalidKeyError> =>
  Effect.suspend(() => {
    const keys: Array<RingKey> = []
    for (const [id, pem] of Object.entries(options.publicKeys ?? {})) {
      if (id.length === 0 || !/^[\x21-\x7e]+$/.test(id)) {
        return Effect.fail(
          new InvalidKeyError({ key: "PublicKey", description: "public key id must be non-empty printable ASCII" })
        )
      }
      const key = Crypto.parsePublicKey(pem, id)
      if (key instanceof InvalidKeyError) return Effect.fail(key)
      keys.push({ serial: id, key, kind: "PublicKey" })
    }
    for (const text of options.certificates ?? []) {
      const pems = Crypto.splitCertificates(text)
      if (pems.length === 0) {
        return Effect.fail(
          new InvalidKeyError({ key: "Certificate", description: "no PEM certificate block found" })
        )
      }
      for (const pem of pems) {
        const cert = Crypto.parseCertificate(pem)
        if (cert instanceof InvalidKeyError) return Effect.fail(cert)
        keys.push({ ...cert, kind: "Certificate" })
      }
    }
    if (keys.length === 0) {
      return Effect.fail(
        new InvalidKeyError({
          key: "KeyRing",
          description: "no WeChat Pay public key or platform certificate was given"
        })
      )
    }
    return Effect.succeed(keys)
  })

const choosePreferred = (keys: ReadonlyArray<RingKey>): string => {
  const publicKey = keys.find((k) => k.kind === "PublicKey")
  if (publicKey !== undefined) return publicKey.serial
  return keys.reduce((a, b) => ((b.notAfter ?? 0) > (a.notAfter ?? 0) ? b : a)).serial
}

/**
 * Checks everything but the key lookup: signature type, timestamp window and
 * signature form. Returns the decoded signature bytes or the failure.
 *
 * @since 0.1.0
 * @category verification
 */
export const precheck = (input: VerifyInput, maxClockSkewSeconds = 300): Buffer | SignatureError => {
  if (input.signatureType !== undefined && input.signatureType !== SCHEME) {
    return new SignatureError({
      reason: "UnsupportedSignatureType",
      description: `Wechatpay-Signature-Type ${JSON.stringify(input.signatureType.slice(0, 64))} is not ${SCHEME}`,
      serial: input.serial
    })
  }
  if (!DIGITS.test(input.timestamp)) {
    return new SignatureError({
      reason: "MalformedHeaders",
      description: "Wechatpay-Timestamp is not a Unix time in seconds",
      serial: input.serial
    })
  }
  const skew = Number(input.timestamp) - Math.floor(input.receivedAt / 1000)
  if (Math.abs(skew) > maxClockSkewSeconds) {
    return new SignatureError({
      reason: "TimestampSkew",
      description: `Wechatpay-Timestamp is ${Math.abs(skew)} s ${
        skew < 0 ? "behind" : "ahead of"
      } the local clock (limit ${maxClockSkewSeconds} s)`,
      serial: input.serial
    })
  }
  if (input.signature.startsWith(PROBE_PREFIX) || input.signature.length === 0 || !isBase64(input.signature)) {
    return new SignatureError({
      reason: "MalformedSignature",
      description: input.signature.startsWith(PROBE_PREFIX)
        ? "Wechatpay-Signature is a WeChat Pay verification probe, not a signature"
        : "Wechatpay-Signature is not Base64",
      serial: input.serial
    })
  }
  return Buffer.from(input.signature, "base64")
}

const NEWLINE = Buffer.from("\n")

/** `${timestamp}\n${nonce}\n${body}\n`, over the raw body bytes when given. */
const signedMessage = (input: VerifyInput): string | Uint8Array =>
  typeof input.body === "string"
    ? `${input.timestamp}\n${input.nonce}\n${input.body}\n`
    : Buffer.concat([Buffer.from(`${input.timestamp}\n${input.nonce}\n`, "utf8"), input.body, NEWLINE])

/**
 * Verifies `input` with one ring key, synchronously.
 *
 * @since 0.1.0
 * @category verification
 */
export const verifyWith = (ringKey: RingKey, input: VerifyInput, signature: Buffer): SignatureError | undefined => {
  if (
    ringKey.notAfter !== undefined && ringKey.notBefore !== undefined &&
    (input.receivedAt > ringKey.notAfter || input.receivedAt < ringKey.notBefore)
  ) {
    return new SignatureError({
      reason: "CertificateExpired",
      description: `platform certificate ${ringKey.serial} is not valid at the response time`,
      serial: input.serial
    })
  }
  let ok: boolean
  try {
    ok = Crypto.verify(ringKey.key, signedMessage(input), signature)
  } catch (cause) {
    return new SignatureError({
      reason: "InvalidSignature",
      description: "the signature could not be checked",
      serial: input.serial,
      cause: Crypto.safeCause(cause)
    })
  }
  return ok
    ? undefined
    : new SignatureError({
      reason: "InvalidSignature",
      description: "the signature does not match the response",
      serial: input.serial
    })
}

/**
 * Certificate serials are kept as uppercase hex without leading zeros (as the
 * official SDKs print them); a header that pads or lowercases them still
 * matches.
 *
 * @since 0.1.0
 * @category verification
 */
export const normalizeSerial = (serial: string): string =>
  /^[0-9A-Fa-f]+$/.test(serial) ? serial.toUpperCase().replace(/^0+(?=.)/, "") : serial

/**
 * The error for a serial the ring does not hold.
 *
 * @since 0.1.0
 * @category verification
 */
export const unknownSerial = (serial: string): SignatureError =>
  new SignatureError({
    reason: "UnknownSerial",
    description: `no WeChat Pay public key or platform certificate with id ${JSON.stringify(serial.slice(0, 64))}`,
    serial: serial.slice(0, 64)
  })

/**
 * Builds a verifier over a fixed set of ring keys. Verification is
 * synchronous inside: the returned effect is already complete.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeys = (
  keys: ReadonlyArray<RingKey>,
  options?: { readonly preferredSerial?: string | undefined; readonly maxClockSkewSeconds?: number | undefined }
): Service => {
  const ring = new Map(keys.map((k) => [k.serial, k] as const))
  const serials = Array.from(ring.keys())
  const maxSkew = options?.maxClockSkewSeconds ?? 300
  const unsafeVerify = (input: VerifyInput): SignatureError | undefined => {
    const signature = precheck(input, maxSkew)
    if (!Buffer.isBuffer(signature)) return signature
    const ringKey = ring.get(input.serial) ?? ring.get(normalizeSerial(input.serial))
    return ringKey === undefined ? unknownSerial(input.serial) : verifyWith(ringKey, input, signature)
  }
  const service: Service = {
    preferredSerial: options?.preferredSerial ?? choosePreferred(keys),
    serials: () => serials,
    verify: (input) => {
      const error = unsafeVerify(input)
      return error === undefined ? Effect.void : Effect.fail(error)
    }
  }
  // the pipeline verifies synchronously with this exact service
  syncVerify.set(service, unsafeVerify)
  return service
}


import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { CertificateError, type InvalidKeyError, type SignatureError } from "../errors/Errors.js"
import * as Aead from "../services/Aead.js"
import type { Signer } from "../services/Signer.js"
import * as Crypto from "./crypto.js"
import { exchange, type Exchange } from "./pipeline.js"
import { normalizeSerial, parseKeys, precheck, type RingKey, type Service, unknownSerial, verifyWith } from "./ring.js"

/**
 * Options of `Verifier.layerAutoCertificates`.
 *
 * @since 0.1.0
 */
export interface AutoCertificatesOptions {
  /** The APIv3 key (32 bytes) that decrypts the downloaded certificates. */
  readonly apiV3Key: Redacted.Redacted<string>
  /** WeChat Pay public keys to trust as well (merchants migrating to public-key mode). */
  readonly publicKeys?: Readonly<Record<string, string>> | undefined
  /** How often the certificates are downloaded again. Default 12 hours. */
  readonly refreshInterval?: Duration.DurationInput | undefined
  /**
   * The least time between two downloads caused by unknown serials: a flood
   * of unknown serials causes at most one download per interval. Default 60 s.
   */
  readonly minRefreshInterval?: Duration.DurationInput | undefined
  readonly maxClockSkewSeconds?: number | undefined
}

const CertificatesBody = Schema.Struct({
  data: Schema.Array(Schema.Struct({
    serial_no: Schema.String,
    effective_time: Schema.String,
    expire_time: Schema.String,
    encrypt_certificate: Schema.Struct({
      algorithm: Schema.String,
      nonce: Schema.String,
      associated_data: Schema.optional(Schema.String),
      ciphertext: Schema.String
    })
  }))
})

const decodeBody = Schema.decodeUnknownEither(CertificatesBody)

const PATH = "/v3/certificates"

const fail = (reason: CertificateError["reason"], description: string, requestId?: string, cause?: unknown) =>
  Effect.fail(
    new CertificateError({
      reason,
      description,
      ...(requestId !== undefined ? { requestId } : {}),
      ...(cause !== undefined ? { cause } : {})
    })
  )

/**
 * Reads a `GET /v3/certificates` exchange: decrypts every certificate and
 * accepts the download only when its own signature verifies with one of the
 * delivered certificates or an already trusted key.
 */
const accept = (
  key: Aead.ApiV3Key,
  trusted: ReadonlyMap<string, RingKey>,
  ex: Exchange,
  maxSkew: number
): Effect.Effect<ReadonlyArray<RingKey>, CertificateError> => {
  const requestId = ex.headers["request-id"]
  if (ex.status < 200 || ex.status >= 300) {
    let code: string | undefined
    try {
      const body = JSON.parse(ex.text) as { code?: unknown }
      code = typeof body.code === "string" ? body.code : undefined
    } catch {
      code = undefined
    }
    return ex.status === 404 && code === "RESOURCE_NOT_EXISTS"
      ? fail(
        "NotAvailable",
        "this merchant has no platform certificates (404 RESOURCE_NOT_EXISTS): verify with the WeChat Pay public key instead (Verifier.layer({ publicKeys }))",
        requestId
      )
      : fail("Download", `GET ${PATH} answered HTTP ${ex.status}${code !== undefined ? ` ${code}` : ""}`, requestId)
  }
  let json: unknown
  try {
    json = JSON.parse(ex.text)
  } catch {
    return fail("Download", "the body is not JSON", requestId)
  }
  const body = decodeBody(json)
  if (Either.isLeft(body)) return fail("Download", "the body is not the documented certificate list", requestId)
  const delivered: Array<RingKey> = []
  for (const item of body.right.data) {
    const pem = Aead.decryptResourceEither(key, item.encrypt_certificate)
    if (Either.isLeft(pem)) {
      return fail("Decrypt", `certificate ${item.serial_no.slice(0, 64)}: ${pem.left.description}`, requestId)
    }
    const cert = Crypto.parseCertificate(pem.right)
    if (!("serial" in cert)) {
      return fail("Decrypt", `certificate ${item.serial_no.slice(0, 64)} does not parse`, requestId)
    }
    if (cert.serial !== normalizeSerial(item.serial_no)) {
      return fail("Decrypt", `certificate ${item.serial_no.slice(0, 64)} has serial ${cert.serial}`, requestId)
    }
    delivered.push({ ...cert, kind: "Certificate" })
  }
  if (delivered.length === 0) return fail("Download", "the certificate list is empty", requestId)
  const serial = ex.headers["wechatpay-serial"]
  const timestamp = ex.headers["wechatpay-timestamp"]
  const nonce = ex.headers["wechatpay-nonce"]
  const signature = ex.headers["wechatpay-signature"]
  if (serial === undefined || timestamp === undefined || nonce === undefined || signature === undefined) {
    return fail("Unverified", "the download carries no signature headers", requestId)
  }
  const input = {
    serial,
    timestamp,
    nonce,
    signature,
    signatureType: ex.headers["wechatpay-signature-type"],
    body: ex.bytes,
    receivedAt: ex.receivedAt
  }
  const bytes = precheck(input, maxSkew)
  if (!Buffer.isBuffer(bytes)) return fail("Unverified", bytes.description, requestId, bytes)
  const candidates = new Map(trusted)
  for (const k of delivered) candidates.set(k.serial, k)
  const signer = candidates.get(serial) ?? candidates.get(normalizeSerial(serial))
  if (signer === undefined) {
    return fail("Unverified", "signed by a key that is neither delivered nor trusted", requestId)
  }
  const error = verifyWith(signer, input, bytes)
  return error === undefined
    ? Effect.succeed(delivered)
    : fail("Unverified", `the download's signature does not verify: ${error.description}`, requestId, error)
}

/**
 * A verifier whose platform certificates are downloaded, decrypted, checked
 * and kept fresh: at start, every `refreshInterval`, and once (single-flight,
 * rate-limited) when a response names a serial the ring does not hold.
 *
 * @internal
 */
export const makeAutoCertificates = (
  options: AutoCertificatesOptions
): Effect.Effect<Service, CertificateError | InvalidKeyError, Signer | HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const key = yield* Aead.apiV3Key(options.apiV3Key)
    const pinned = options.publicKeys !== undefined && Object.keys(options.publicKeys).length > 0
      ? yield* parseKeys({ publicKeys: options.publicKeys })
      : []
    const maxSkew = options.maxClockSkewSeconds ?? 300
    const refreshEvery = Duration.decode(options.refreshInterval ?? Duration.hours(12))
    const minInterval = Duration.toMillis(Duration.decode(options.minRefreshInterval ?? Duration.seconds(60)))
    const context = yield* Effect.context<Signer | HttpClient.HttpClient>()
    const semaphore = yield* Effect.makeSemaphore(1)

    let ring: ReadonlyMap<string, RingKey> = new Map(pinned.map((k) => [k.serial, k]))
    let certificates: ReadonlyArray<RingKey> = []
    let generation = 0
    let lastDownload = Number.NEGATIVE_INFINITY

    const preferred = (): string | undefined =>
      pinned[0]?.serial ??
        (certificates.length === 0
          ? undefined
          : certificates.reduce((a, b) => ((b.notAfter ?? 0) > (a.notAfter ?? 0) ? b : a)).serial)

    const download = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lastDownload = now
      return exchange(PATH, preferred(), (ex) => accept(key, ring, ex, maxSkew)).pipe(
        Effect.catchTags({
          NetworkError: (e) => fail("Download", e.message, e.requestId, e),
          SignatureError: (e: SignatureError) => fail("Download", e.message, e.requestId, e)
        }),
        Effect.tap((delivered) =>
          Effect.sync(() => {
            certificates = delivered
            ring = new Map([...pinned, ...delivered].map((k) => [k.serial, k]))
            generation++
          })
        ),
        Effect.provide(context)
      )
    })

    /** Downloads unless another fiber did since `seen`, or (unless forced) one ran too recently. */
    const refresh = (seen: number, force: boolean) =>
      semaphore.withPermits(1)(Effect.suspend(() => {
        if (generation !== seen) return Effect.void
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          !force && now - lastDownload < minInterval ? Effect.void : Effect.asVoid(download))
      }))

    yield* download
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(
      Effect.sleep(refreshEvery),
      Effect.suspend(() => refresh(generation, true)).pipe(
        Effect.catchAll((e) => Effect.logWarning(`effect-wechatpay: platform certificate refresh failed: ${e.message}`))
      )
    )))

    const lookup = (serial: string) => ring.get(serial) ?? ring.get(normalizeSerial(serial))

    const service: Service = {
      get preferredSerial() {
        return preferred() ?? ""
      },
      serials: () => Array.from(ring.keys()),
      verify: (input) => {
        const bytes = precheck(input, maxSkew)
        if (!Buffer.isBuffer(bytes)) return Effect.fail(bytes)
        const found = lookup(input.serial)
        if (found !== undefined) {
          const error = verifyWith(found, input, bytes)
          return error === undefined ? Effect.void : Effect.fail(error)
        }
        const seen = generation
        return refresh(seen, false).pipe(
          Effect.catchAll((e) =>
            Effect.logDebug(`effect-wechatpay: certificate download for an unknown serial failed: ${e.message}`)
          ),
          Effect.flatMap(() => {
            const again = lookup(input.serial)
            if (again === undefined) return Effect.fail(unknownSerial(input.serial))
            const error = verifyWith(again, input, bytes)
            return error === undefined ? Effect.void : Effect.fail(error)
          })
        )
      }
    }
    return service
  })

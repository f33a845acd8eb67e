/**
 * `Verifier.layerAutoCertificates`: platform certificates downloaded through
 * the signed pipeline, accepted by the protocol's checks, and kept fresh.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { BusinessError, CertificateError, InvalidKeyError, SignatureError } from "../errors/Errors.js"
import { parseErrorBody } from "../protocol/errorBody.js"
import { acceptDownload, CERTIFICATES_PATH } from "../protocol/certificates.js"
import { CertificateFailure, KeyFailure, SignatureFailure } from "../protocol/failures.js"
import { parseRingKeys, type RingKey } from "../protocol/keys.js"
import * as Verification from "../protocol/verification.js"
import * as Aead from "../services/Aead.js"
import type { Signer } from "../services/Signer.js"
import type { Service } from "../services/Verifier.js"
import { exchange } from "./pipeline.js"
import { BaseUrl, FailoverHosts, MaxResponseBytes, RequestTimeout, Retry, TracePropagation } from "./references.js"

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

const certificateError = (failure: CertificateFailure, requestId: string | undefined) =>
  CertificateError.fromFailure(
    failure,
    requestId,
    failure.cause instanceof SignatureFailure ? SignatureError.fromFailure(failure.cause) : undefined
  )

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
    const apiV3Key = yield* Aead.apiV3Key(options.apiV3Key)
    const pinned = options.publicKeys !== undefined && Object.keys(options.publicKeys).length > 0
      ? parseRingKeys({ publicKeys: options.publicKeys })
      : []
    if (pinned instanceof KeyFailure) return yield* Effect.fail(InvalidKeyError.fromFailure(pinned))
    const maxSkew = options.maxClockSkewSeconds
    const refreshEvery = Duration.decode(options.refreshInterval ?? Duration.hours(12))
    const minInterval = Duration.toMillis(Duration.decode(options.minRefreshInterval ?? Duration.seconds(60)))
    // downloads go where the layer was built to send them, whoever's lookup causes one
    const context = (yield* Effect.context<Signer | HttpClient.HttpClient>()).pipe(
      Context.add(BaseUrl, yield* BaseUrl),
      Context.add(FailoverHosts, yield* FailoverHosts),
      Context.add(Retry, yield* Retry),
      Context.add(RequestTimeout, yield* RequestTimeout),
      Context.add(MaxResponseBytes, yield* MaxResponseBytes),
      Context.add(TracePropagation, yield* TracePropagation)
    )
    const semaphore = yield* Effect.makeSemaphore(1)

    let ring = new Verification.KeyRing(pinned)
    let generation = 0
    let lastDownload = Number.NEGATIVE_INFINITY

    const download = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      lastDownload = now
      const outgoing = { method: "GET", canonical: CERTIFICATES_PATH, preferredSerial: ring.preferred() } as const
      return exchange(outgoing, (answer): Effect.Effect<ReadonlyArray<RingKey>, BusinessError | CertificateError> => {
        const requestId = answer.headers["request-id"]
        // a transient answer is retried like any other
        if (answer.status === 429 || answer.status >= 500) {
          return Effect.fail(BusinessError.fromAnswer({
            method: answer.method,
            path: answer.canonical,
            status: answer.status,
            requestId,
            body: parseErrorBody(answer.text),
            verified: false
          }))
        }
        const delivered = acceptDownload(apiV3Key.key, ring.all, answer, maxSkew)
        return delivered instanceof CertificateFailure
          ? Effect.fail(certificateError(delivered, requestId))
          : Effect.succeed(delivered)
      }).pipe(
        Effect.catchTags({
          BusinessError: (e) => Effect.fail(certificateError(new CertificateFailure("Download", e.message), e.requestId)),
          NetworkError: (e) => Effect.fail(certificateError(new CertificateFailure("Download", e.message), e.requestId)),
          RateLimitError: (e) => Effect.fail(certificateError(new CertificateFailure("Download", e.message), undefined)),
          SignatureError: (e) => Effect.fail(certificateError(new CertificateFailure("Download", e.message), e.requestId))
        }),
        Effect.tap((delivered: ReadonlyArray<RingKey>) =>
          Effect.sync(() => {
            ring = new Verification.KeyRing([...pinned, ...delivered])
            generation++
          })
        ),
        Effect.withSpan("Verifier.downloadCertificates", { captureStackTrace: false, attributes: { "wechatpay.path": CERTIFICATES_PATH } }),
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
    yield* Effect.suspend(() => refresh(generation, true)).pipe(
      Effect.catchAll((e) => Effect.logWarning(`effect-wechatpay: platform certificate refresh failed: ${e.message}`)),
      Effect.schedule(Schedule.spaced(refreshEvery)),
      Effect.forkScoped
    )

    const check = (input: Verification.VerifyInput) => {
      const failure = Verification.verify(ring, input, maxSkew)
      return failure === undefined ? Effect.void : Effect.fail(SignatureError.fromFailure(failure))
    }

    return {
      get preferredSerial() {
        return ring.preferred() ?? ""
      },
      serials: () => ring.serials,
      verify: (input) => {
        const known = ring.get(input.serial) !== undefined
        if (known) return check(input)
        // an unknown serial: a new certificate may have been issued; refresh once, then check again
        const precheck = Verification.precheck(input, maxSkew)
        if (precheck instanceof SignatureFailure) return Effect.fail(SignatureError.fromFailure(precheck))
        return refresh(generation, false).pipe(
          Effect.catchAll((e) =>
            Effect.logDebug(`effect-wechatpay: certificate download for an unknown serial failed: ${e.message}`)
          ),
          Effect.zipRight(Effect.suspend(() => check(input)))
        )
      }
    } satisfies Service
  })

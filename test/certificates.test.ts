import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import { Aead, BusinessCircle, Payscore, Signer, Verifier, Wechatpay } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { recordingTracer } from "./helpers/tracer.js"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import { NoRetry } from "./helpers/world.js"

const APPID = "wxd678efh567hg6787"
const seed: Sandbox.SeedData = {
  payscore: [{ service_id: "500001", appid: APPID, openid: "oUser1", authorization_code: "CODE1" }],
  businessCircle: [{ appid: APPID, openid: "oUser1", authorize_state: "AUTHORIZED" }]
}
const queryA = Payscore.getPermissionsByOpenid({ openid: "oUser1", params: { service_id: "500001", appid: APPID } })
const queryB = BusinessCircle.getUserAuthorization({ openid: "oUser1", params: { appid: APPID } })

describe("Aead.decryptResource (AEAD_AES_256_GCM)", () => {
  const keyText = crypto.randomBytes(16).toString("hex") // 32 ASCII characters
  const key = Either.getOrThrow(Aead.apiV3Key(Redacted.make(keyText)))
  const plaintext = "{\"mchid\":\"1900000001\",\"state\":\"支付成功\"}"

  /** Encrypted with node:crypto directly, independent of Aead.encryptResource. */
  const reference = (nonce: string, aad: string) => {
    const cipher = crypto.createCipheriv("aes-256-gcm", Buffer.from(keyText), Buffer.from(nonce))
    cipher.setAAD(Buffer.from(aad))
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
    return { algorithm: "AEAD_AES_256_GCM", nonce, associated_data: aad, ciphertext: body.toString("base64") }
  }

  it.effect("decrypts what node:crypto encrypted, and node:crypto decrypts what it encrypts", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Aead.decryptResource(Redacted.make(keyText), reference("a1b2c3d4e5f6", "transaction")), plaintext)
      assert.strictEqual(yield* Aead.decryptResource(key, reference("a1b2c3d4e5f6", "")), plaintext)
      const ours = Aead.encryptResource(key, plaintext, { nonce: "0123456789ab", associatedData: "certificate" })
      const data = Buffer.from(ours.ciphertext, "base64")
      const decipher = crypto.createDecipheriv("aes-256-gcm", Buffer.from(keyText), Buffer.from("0123456789ab"))
      decipher.setAuthTag(data.subarray(data.length - 16))
      decipher.setAAD(Buffer.from("certificate"))
      assert.strictEqual(Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString(), plaintext)
      // the same inputs give the same bytes: a deterministic known answer
      assert.deepStrictEqual(reference("0123456789ab", "certificate").ciphertext, ours.ciphertext)
    }))

  it.effect("fails typed, never with the plaintext or key: wrong key, altered data, bad fields", () =>
    Effect.gen(function*() {
      const good = reference("a1b2c3d4e5f6", "transaction")
      const wrongKey = yield* Effect.flip(Aead.decryptResource(Redacted.make(crypto.randomBytes(16).toString("hex")), good))
      assert.strictEqual(wrongKey._tag === "DecryptError" && wrongKey.reason, "AuthenticationFailed")
      const aad = yield* Effect.flip(Aead.decryptResource(key, { ...good, associated_data: "certificate" }))
      assert.strictEqual(aad._tag === "DecryptError" && aad.reason, "AuthenticationFailed")
      const flipped = Buffer.from(good.ciphertext, "base64")
      flipped[0] = flipped[0]! ^ 1
      const altered = yield* Effect.flip(Aead.decryptResource(key, { ...good, ciphertext: flipped.toString("base64") }))
      assert.strictEqual(altered._tag === "DecryptError" && altered.reason, "AuthenticationFailed")
      const nonce = yield* Effect.flip(Aead.decryptResource(key, { ...good, nonce: "short" }))
      assert.strictEqual(nonce._tag === "DecryptError" && nonce.reason, "Malformed")
      const notBase64 = yield* Effect.flip(Aead.decryptResource(key, { ...good, ciphertext: "***" }))
      assert.strictEqual(notBase64._tag === "DecryptError" && notBase64.reason, "Malformed")
      const algorithm = yield* Effect.flip(Aead.decryptResource(key, { ...good, algorithm: "AEAD_SM4_GCM" }))
      assert.strictEqual(algorithm._tag === "DecryptError" && algorithm.reason, "UnsupportedAlgorithm")
      const shortKey = yield* Effect.flip(Aead.decryptResource(Redacted.make("too-short"), good))
      assert.strictEqual(shortKey._tag === "InvalidKeyError" && shortKey.key, "ApiV3Key")
      for (const e of [wrongKey, aad, altered, nonce, shortKey]) {
        const text = `${String(e)} ${JSON.stringify(e)}`
        assert.notInclude(text, keyText)
        assert.notInclude(text, "支付成功")
      }
    }))
})

/** What the auto-certificate verifier needs to download: a signer, the sandbox's URL, a transport. */
const downloadDeps = (sandbox: Sandbox.Service) =>
  Layer.mergeAll(
    Signer.layer({
      mchid: sandbox.credentials.mchid,
      serialNo: sandbox.credentials.merchantSerialNo,
      privateKey: sandbox.credentials.merchantPrivateKey!
    }),
    Layer.succeed(Wechatpay.BaseUrl, sandbox.baseUrl),
    Transport,
    NoRetry
  )

/** A sandbox, and a client whose Verifier downloads the sandbox's certificates. */
const autoWorld = (
  sandboxOptions: Sandbox.Options = {},
  auto: (credentials: Sandbox.Credentials) => Partial<Verifier.AutoCertificatesOptions> = () => ({})
) =>
  Layer.unwrapEffect(Effect.map(Sandbox.Sandbox, (sandbox) => {
    const c = sandbox.credentials
    return Layer.provideMerge(Verifier.layerAutoCertificates({ apiV3Key: c.apiV3Key, ...auto(c) }), downloadDeps(sandbox))
  })).pipe(Layer.provideMerge(Sandbox.layer({ seed, ...sandboxOptions })))

const downloads = Effect.map(
  Effect.flatMap(Sandbox.Sandbox, (s) => s.requests),
  (requests) => requests.filter((r) => r.route === "certificates").length
)

describe("Verifier.layerAutoCertificates against the sandbox", () => {
  it.live("a download answered 503 is retried like any request, as the layer's own retry setting says", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "SystemError", route: "certificates", times: 1 })
      const retried = Layer.succeed(Wechatpay.Retry, { maxAttempts: 2, baseDelay: 0, maxDelay: 0, jitter: false })
      const verifier = yield* Effect.provide(
        Verifier.Verifier,
        Verifier.layerAutoCertificates({ apiV3Key: sandbox.credentials.apiV3Key }).pipe(
          Layer.provide(Layer.merge(downloadDeps(sandbox), retried))
        )
      )
      assert.strictEqual(verifier.preferredSerial, sandbox.credentials.platformCertificateSerial)
      const statuses = (yield* sandbox.requests).filter((r) => r.route === "certificates").map((r) => r.status)
      assert.deepStrictEqual(statuses, [500, 200])
    }).pipe(Effect.provide(Sandbox.layer({ seed }))))

  it.effect("downloads, decrypts and trusts the platform certificate; queries verify with it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const verifier = yield* Verifier.Verifier
      assert.strictEqual(verifier.preferredSerial, sandbox.credentials.platformCertificateSerial)
      yield* queryA
      yield* queryB
      assert.strictEqual(yield* downloads, 1)
      const requests = yield* sandbox.requests
      assert.isTrue(requests.every((r) => r.wechatpaySerial === sandbox.credentials.platformCertificateSerial || r.route === "certificates"))
    }).pipe(Effect.provide(autoWorld())))

  it.effect("after a rotation an unknown serial triggers one refresh, then verifies", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const next = yield* sandbox.rotateCertificate({ retireOld: true })
      yield* TestClock.adjust("61 seconds")
      yield* queryA
      assert.strictEqual(yield* downloads, 2)
      assert.strictEqual((yield* Verifier.Verifier).preferredSerial, next)
    }).pipe(Effect.provide(autoWorld())))

  it.effect("single-flight: 20 concurrent lookups hitting the new serial cause one download", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.rotateCertificate({ retireOld: true })
      yield* TestClock.adjust("61 seconds")
      yield* Effect.all(Array.from({ length: 20 }, () => queryB), { concurrency: 20 })
      assert.strictEqual(yield* downloads, 2)
    }).pipe(Effect.provide(autoWorld())))

  it.effect("rate-limited: a flood of unknown serials causes at most one download per minRefreshInterval", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "WrongSerial", route: "payscore.openid" })
      yield* TestClock.adjust("61 seconds")
      for (let i = 0; i < 10; i++) {
        const error = yield* Effect.flip(queryA)
        assert.strictEqual(error._tag === "SignatureError" && error.reason, "UnknownSerial")
      }
      assert.strictEqual(yield* downloads, 2)
      yield* TestClock.adjust("61 seconds")
      yield* Effect.flip(queryA)
      assert.strictEqual(yield* downloads, 3)
    }).pipe(Effect.provide(autoWorld())))

  it.effect("refreshes every 12 hours by default", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* downloads, 1)
      yield* TestClock.adjust("12 hours")
      assert.strictEqual(yield* downloads, 2)
      yield* TestClock.adjust("12 hours")
      assert.strictEqual(yield* downloads, 3)
    }).pipe(Effect.provide(autoWorld())))

  it.effect("combines with WeChat Pay public keys (migration): the public key is preferred", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const verifier = yield* Verifier.Verifier
      assert.strictEqual(verifier.preferredSerial, sandbox.credentials.platformPublicKeyId)
      assert.includeMembers([...verifier.serials()], [sandbox.credentials.platformPublicKeyId, sandbox.credentials.platformCertificateSerial!])
      yield* queryA
    }).pipe(Effect.provide(autoWorld({}, (c) => ({ publicKeys: { [c.platformPublicKeyId]: c.platformPublicKeyPem } })))))

  const buildFailure = (sandboxOptions: Sandbox.Options, setup: (s: Sandbox.Service) => Effect.Effect<void>, auto: (c: Sandbox.Credentials) => Partial<Verifier.AutoCertificatesOptions> = () => ({})) =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.make({ seed, ...sandboxOptions })
      yield* setup(sandbox)
      const c = sandbox.credentials
      const build = Layer.build(Verifier.layerAutoCertificates({ apiV3Key: c.apiV3Key, ...auto(c) }).pipe(Layer.provide(downloadDeps(sandbox))))
      const exit = yield* Effect.exit(build)
      assert.isTrue(Exit.isFailure(exit))
      return yield* Effect.flip(build)
    }).pipe(Effect.scoped)

  it.effect("a merchant without platform certificates is told to use the public key", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure({ platformCertificates: false }, () => Effect.void)
      assert.strictEqual(error._tag === "CertificateError" && error.reason, "NotAvailable")
      assert.include(error.message, "public key")
      assert.isDefined(error._tag === "CertificateError" ? error.requestId : undefined)
    }))

  it.effect("a tampered download is refused (Unverified)", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure({}, (s) => s.injectFault({ fault: "TamperBody", route: "certificates" }))
      assert.strictEqual(error._tag === "CertificateError" && error.reason, "Unverified")
    }))

  it.effect("a download signed by an unknown key is refused (Unverified)", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure({}, (s) => s.injectFault({ fault: "WrongSerial", route: "certificates" }))
      assert.strictEqual(error._tag === "CertificateError" && error.reason, "Unverified")
    }))

  it.effect("a wrong APIv3 key cannot decrypt (Decrypt), and the key never appears in the error", () =>
    Effect.gen(function*() {
      const wrong = crypto.randomBytes(16).toString("hex")
      const error = yield* buildFailure({}, () => Effect.void, () => ({ apiV3Key: Redacted.make(wrong) }))
      assert.strictEqual(error._tag === "CertificateError" && error.reason, "Decrypt")
      assert.notInclude(`${String(error)} ${JSON.stringify(error)}`, wrong)
    }))

  it.effect("an APIv3 key that is not 32 bytes fails the layer with InvalidKeyError", () =>
    Effect.gen(function*() {
      const error = yield* buildFailure({}, () => Effect.void, () => ({ apiV3Key: Redacted.make("short") }))
      assert.strictEqual(error._tag === "InvalidKeyError" && error.key, "ApiV3Key")
    }))

  it.effect("the sandbox's certificate list decrypts to the certificates it signs with", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const listed = yield* sandbox.certificates
      assert.strictEqual(listed.length, 1)
      assert.strictEqual(listed[0]!.serial, sandbox.credentials.platformCertificateSerial)
      assert.strictEqual(new crypto.X509Certificate(listed[0]!.pem).serialNumber.toUpperCase().replace(/^0+/, ""), listed[0]!.serial)
    }).pipe(Effect.provide(Sandbox.layer({ seed }))))
})

describe("span attributes with auto certificates", () => {
  it.effect("a certificate download during a lookup does not overwrite the lookup's span attributes", () => {
    const { spans, tracer } = recordingTracer()
    return Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.rotateCertificate({ retireOld: true })
      yield* TestClock.adjust("61 seconds")
      yield* queryA.pipe(Effect.withTracer(tracer))
      assert.strictEqual(yield* downloads, 2)
      const span = spans.find((s) => s.name === "Payscore.getPermissionsByOpenid")!
      assert.strictEqual(span.attributes.get("wechatpay.path"), "/v3/payscore/permissions/openid/oUser1?service_id=500001&appid=wxd678efh567hg6787")
    }).pipe(Effect.provide(autoWorld()))
  })
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { Verifier } from "../src/index.js"
import { generateRsa, rsaSign, selfSignedCertificate } from "./helpers/keys.js"

const PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
const CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
const publicKeyPlatform = generateRsa()
const certificatePlatform = generateRsa()
const certificate = selfSignedCertificate(certificatePlatform, CERT_SERIAL)
const now = Date.now()

const signed = (
  key: typeof publicKeyPlatform,
  serial: string,
  body: string,
  overrides: Partial<Verifier.VerifyInput> = {}
): Verifier.VerifyInput => {
  const timestamp = overrides.timestamp ?? String(Math.floor(now / 1000))
  const nonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
  return {
    serial,
    timestamp,
    nonce,
    signature: rsaSign(key.privateKey, `${timestamp}\n${nonce}\n${body}\n`),
    signatureType: "WECHATPAY2-SHA256-RSA2048",
    body,
    receivedAt: now,
    ...overrides
  }
}

const ring = Verifier.make({ publicKeys: { [PUB_KEY_ID]: publicKeyPlatform.publicKeyPem }, certificates: [certificate] })

const reasonOf = (input: Verifier.VerifyInput) =>
  Effect.flatMap(ring, (v) => Effect.flip(v.verify(input))).pipe(Effect.map((e) => e.reason))

describe("Verifier", () => {
  it.effect("verifies with a WeChat Pay public key and with a platform certificate held at once", () =>
    Effect.gen(function*() {
      const verifier = yield* ring
      yield* verifier.verify(signed(publicKeyPlatform, PUB_KEY_ID, "{\"a\":1}"))
      yield* verifier.verify(signed(certificatePlatform, CERT_SERIAL, "{\"a\":1}"))
      yield* verifier.verify(signed(certificatePlatform, CERT_SERIAL, "")) // an empty body gives an empty line
      // a zero-padded or lower-case certificate serial names the same certificate
      yield* verifier.verify(signed(certificatePlatform, "00" + CERT_SERIAL.toLowerCase(), "{}"))
      assert.deepStrictEqual([...verifier.serials()].sort(), [CERT_SERIAL, PUB_KEY_ID].sort())
    }))

  it.effect("prefers the public key id, else the certificate that expires last, else the configured one", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* ring).preferredSerial, PUB_KEY_ID)
      const later = selfSignedCertificate(certificatePlatform, "0A1B", 730)
      const certsOnly = yield* Verifier.make({ certificates: [certificate + "\n" + later] })
      assert.strictEqual(certsOnly.preferredSerial, "A1B")
      const chosen = yield* Verifier.make({
        publicKeys: { [PUB_KEY_ID]: publicKeyPlatform.publicKeyPem },
        certificates: [certificate],
        preferredSerial: CERT_SERIAL
      })
      assert.strictEqual(chosen.preferredSerial, CERT_SERIAL)
    }))

  it.effect("a tampered body is InvalidSignature", () =>
    Effect.gen(function*() {
      const input = signed(publicKeyPlatform, PUB_KEY_ID, "{\"authorize_state\":\"UNAUTHORIZED\"}")
      assert.strictEqual(yield* reasonOf({ ...input, body: "{\"authorize_state\":\"AUTHORIZED\"}" }), "InvalidSignature")
    }))

  it.effect("a signature by the other key of the ring is InvalidSignature (swapped serial)", () =>
    Effect.gen(function*() {
      const input = signed(certificatePlatform, PUB_KEY_ID, "{}")
      assert.strictEqual(yield* reasonOf(input), "InvalidSignature")
    }))

  it.effect("an unknown serial is UnknownSerial", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flatMap(ring, (v) => Effect.flip(v.verify(signed(publicKeyPlatform, "PUB_KEY_ID_NOPE", "{}"))))
      assert.strictEqual(error.reason, "UnknownSerial")
      assert.strictEqual(error.serial, "PUB_KEY_ID_NOPE")
    }))

  it.effect("timestamps more than 300 s off either way are TimestampSkew; 300 s is accepted", () =>
    Effect.gen(function*() {
      const at = (offset: number) => signed(publicKeyPlatform, PUB_KEY_ID, "{}", { timestamp: String(Math.floor(now / 1000) + offset) })
      assert.strictEqual(yield* reasonOf(at(-301)), "TimestampSkew")
      assert.strictEqual(yield* reasonOf(at(301)), "TimestampSkew")
      const verifier = yield* ring
      yield* verifier.verify(at(-300))
      yield* verifier.verify(at(300))
    }))

  it.effect("the WECHATPAY/SIGNTEST/ probe and non-Base64 signatures are MalformedSignature, not a crash", () =>
    Effect.gen(function*() {
      const base = signed(publicKeyPlatform, PUB_KEY_ID, "{}")
      const probe = yield* Effect.flatMap(ring, (v) =>
        Effect.flip(v.verify({ ...base, signature: "WECHATPAY/SIGNTEST/" + base.signature.slice(0, 40) })))
      assert.strictEqual(probe.reason, "MalformedSignature")
      assert.include(probe.message, "probe")
      for (const signature of ["", "***", "abc", base.signature + "!", base.signature.slice(1)]) {
        assert.strictEqual(yield* reasonOf({ ...base, signature }), "MalformedSignature")
      }
      // well-formed Base64 of the wrong length still fails cleanly
      assert.strictEqual(yield* reasonOf({ ...base, signature: "AAAA" }), "InvalidSignature")
    }))

  it.effect("another signature type is UnsupportedSignatureType; a non-numeric timestamp is MalformedHeaders", () =>
    Effect.gen(function*() {
      const base = signed(publicKeyPlatform, PUB_KEY_ID, "{}")
      assert.strictEqual(yield* reasonOf({ ...base, signatureType: "WECHATPAY2-SM2-WITH-SM3" }), "UnsupportedSignatureType")
      assert.strictEqual(yield* reasonOf({ ...base, timestamp: "12a" }), "MalformedHeaders")
    }))

  it.effect("a certificate outside its validity is CertificateExpired", () =>
    Effect.gen(function*() {
      const twoYears = 2 * 366 * 86400_000
      const input = signed(certificatePlatform, CERT_SERIAL, "{}", { timestamp: String(Math.floor((now + twoYears) / 1000)), receivedAt: now + twoYears })
      assert.strictEqual(yield* reasonOf({ ...input, signature: rsaSign(certificatePlatform.privateKey, `${input.timestamp}\n${input.nonce}\n{}\n`) }), "CertificateExpired")
    }))

  it.effect("an empty ring or unparseable key material fails the layer with InvalidKeyError", () =>
    Effect.gen(function*() {
      const build = (options: Verifier.Options) => Effect.scoped(Layer.build(Verifier.layer(options)))
      const cases: Array<[Verifier.Options, string]> = [
        [{}, "KeyRing"],
        [{ publicKeys: {}, certificates: [] }, "KeyRing"],
        [{ publicKeys: { [PUB_KEY_ID]: "garbage" } }, "PublicKey"],
        [{ publicKeys: { [PUB_KEY_ID]: publicKeyPlatform.publicKeyPem.replace(/\n[^\n-]+\n/, "\n@@@@\n") } }, "PublicKey"],
        [{ certificates: ["not a certificate"] }, "Certificate"],
        [{ certificates: [certificate.replace(/\n[^\n-]+\n/, "\nAAAA\n")] }, "Certificate"],
        [{ publicKeys: { [PUB_KEY_ID]: publicKeyPlatform.publicKeyPem }, preferredSerial: "ELSE" }, "KeyRing"]
      ]
      for (const [options, key] of cases) {
        const exit = yield* Effect.exit(build(options))
        assert.isTrue(Exit.isFailure(exit), key)
        const error = yield* Effect.flip(build(options))
        assert.strictEqual(error._tag, "InvalidKeyError")
        assert.strictEqual(error.key, key)
        assert.notInclude(error.message, "BEGIN")
      }
    }))
})

import { assert, describe, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import { Effect, Exit, Layer, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import { Signer } from "../src/index.js"
import { goTestMchid, goTestMessage, goTestPrivateKey, goTestSerial, goTestSignature } from "./helpers/goVector.js"
import { generateRsa, parseAuthorization, verifyAuthorization } from "./helpers/keys.js"

const merchant = generateRsa()
const options = { mchid: "1900000001", serialNo: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", privateKey: Redacted.make(merchant.privateKeyPem) }

describe("Signer", () => {
  it.effect("reproduces the official Go SDK known-answer signature", () =>
    Effect.gen(function*() {
      const signer = yield* Signer.make({ mchid: goTestMchid, serialNo: goTestSerial, privateKey: Redacted.make(goTestPrivateKey) })
      assert.strictEqual(yield* signer.sign(goTestMessage), goTestSignature)
    }))

  it.effect("builds the Authorization header over the five-line message, timestamp from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1554208460_000)
      const signer = yield* Signer.make(options)
      const url = "/v3/payscore/permissions/openid/oUpF8uMuAJO_M2pxb1Q9zNjWeS6o?service_id=500001&appid=wxd678efh567hg6787"
      const header = yield* signer.authorize("GET", url, "")
      const parts = parseAuthorization(header)
      assert.isDefined(parts)
      assert.strictEqual(parts!.mchid, "1900000001")
      assert.strictEqual(parts!.serialNo, options.serialNo)
      assert.strictEqual(parts!.timestamp, "1554208460")
      assert.match(parts!.nonce, /^[0-9A-Za-z]{32}$/)
      assert.isTrue(verifyAuthorization(merchant.publicKey, header, "GET", url))
      // the exact message: method, url, timestamp, nonce, empty body, each \n-terminated
      const message = `GET\n${url}\n1554208460\n${parts!.nonce}\n\n`
      assert.isTrue(crypto.verify("sha256", Buffer.from(message), merchant.publicKey, Buffer.from(parts!.signature, "base64")))
      assert.isFalse(verifyAuthorization(merchant.publicKey, header, "GET", url + "&x=1"))
    }))

  it.effect("draws a fresh nonce each time", () =>
    Effect.gen(function*() {
      const signer = yield* Signer.make(options)
      const nonces = new Set<string>()
      for (let i = 0; i < 200; i++) nonces.add(parseAuthorization(yield* signer.authorize("GET", "/v3/x", ""))!.nonce)
      assert.strictEqual(nonces.size, 200)
    }))

  it.effect("re-running the same authorize effect signs afresh", () =>
    Effect.gen(function*() {
      const signer = yield* Signer.make(options)
      const effect = signer.authorize("GET", "/v3/x", "")
      const a = yield* effect
      yield* TestClock.adjust("2 seconds")
      const b = yield* effect
      assert.notStrictEqual(parseAuthorization(a)!.nonce, parseAuthorization(b)!.nonce)
      assert.strictEqual(Number(parseAuthorization(b)!.timestamp) - Number(parseAuthorization(a)!.timestamp), 2)
    }))

  it.effect("accepts a PKCS#1 private key", () =>
    Effect.gen(function*() {
      const signer = yield* Signer.make({ ...options, privateKey: Redacted.make(merchant.privateKeyPkcs1Pem) })
      const signature = yield* signer.sign("hello")
      assert.isTrue(crypto.verify("sha256", Buffer.from("hello"), merchant.publicKey, Buffer.from(signature, "base64")))
    }))

  it.effect("an unreadable key fails the layer with InvalidKeyError that never echoes the key", () =>
    Effect.gen(function*() {
      // a key that still parses but is damaged: one byte of the modulus flipped
      const der = Buffer.from(merchant.privateKey.export({ type: "pkcs8", format: "der" }))
      der[100] = der[100]! ^ 0xff
      const corrupt = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" }).export({ type: "pkcs8", format: "pem" }).toString()
      const cases = [
        "not a key at all",
        corrupt,
        merchant.publicKeyPem,
        crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" })
          .toString()
      ]
      for (const privateKey of cases) {
        const exit = yield* Effect.exit(Layer.build(Signer.layer({ ...options, privateKey: Redacted.make(privateKey) })).pipe(Effect.scoped))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
          const error = exit.cause.error
          assert.strictEqual(error._tag, "InvalidKeyError")
          assert.strictEqual(error.key, "PrivateKey")
          const rendered = `${String(error)} ${JSON.stringify(error)} ${error.message}`
          assert.notInclude(rendered, "BEGIN")
          if (privateKey.length > 80) assert.notInclude(rendered, privateKey.slice(40, 80))
        } else {
          assert.fail("expected a typed failure")
        }
      }
    }))

  it.effect("rejects an mchid or serial that cannot go into the header, naming which", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Signer.make({ ...options, mchid: "19\"00" }))
      assert.strictEqual(error._tag, "InvalidKeyError")
      assert.strictEqual(error.key, "MerchantId")
      assert.include(error.message, "mchid")
      const error2 = yield* Effect.flip(Signer.make({ ...options, serialNo: "" }))
      assert.strictEqual(error2.key, "SerialNo")
      assert.include(error2.message, "serialNo")
    }))

  it.effect("refuses a private key that is not Redacted (from JavaScript, where types do not stop it)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Signer.make({ ...options, privateKey: merchant.privateKeyPem as never }))
      assert.strictEqual(error.key, "PrivateKey")
      assert.include(error.message, "Redacted")
      assert.notInclude(error.message, "BEGIN")
    }))
})

import { assert, describe, it, layer } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Payscore, Signer, Verifier, Wechatpay } from "../src/index.js"
import { makeFakeWechat } from "./helpers/fakeWechat.js"
import { generateRsa, selfSignedCertificate, verifyAuthorization } from "./helpers/keys.js"
import { APPID, MCHID, MERCHANT_SERIAL, OPENID, PUB_KEY_ID, SERVICE_ID } from "./helpers/world.js"

const merchant = generateRsa()
const platform = generateRsa()
const certificatePlatform = generateRsa()
const certificate = selfSignedCertificate(certificatePlatform, "7B1C")

const base: Record<string, string> = {
  WECHATPAY_MCHID: MCHID,
  WECHATPAY_SERIAL_NO: MERCHANT_SERIAL,
  WECHATPAY_PRIVATE_KEY: merchant.privateKeyPem,
  WECHATPAY_PUBLIC_KEY_ID: PUB_KEY_ID,
  WECHATPAY_PUBLIC_KEY: platform.publicKeyPem
}

const withEnv = (env: Record<string, string>) =>
  Wechatpay.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

const buildError = (env: Record<string, string>) =>
  Effect.flip(Effect.scoped(Layer.build(withEnv(env))))

describe("Wechatpay.layerConfig", () => {
  layer(withEnv({ ...base, WECHATPAY_BASE_URL: "http://127.0.0.1:8443/" }))("from inline PEM text", (it) => {
    it.effect("builds a Signer and Verifier and points BaseUrl at WECHATPAY_BASE_URL", () =>
      Effect.gen(function*() {
        const signer = yield* Signer.Signer
        const verifier = yield* Verifier.Verifier
        assert.strictEqual(signer.mchid, MCHID)
        assert.strictEqual(signer.serialNo, MERCHANT_SERIAL)
        assert.strictEqual(verifier.preferredSerial, PUB_KEY_ID)
        assert.strictEqual(yield* Wechatpay.BaseUrl, "http://127.0.0.1:8443")
        const wechat = makeFakeWechat({ serial: PUB_KEY_ID, privateKey: platform.privateKey }, () => ({
          body: { service_id: SERVICE_ID, appid: APPID, mchid: MCHID, authorization_state: "AVAILABLE" }
        }))
        yield* Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }).pipe(
          Effect.provide(wechat.layer)
        )
        const sent = wechat.requests[0]!
        assert.isTrue(sent.url.startsWith("http://127.0.0.1:8443/v3/payscore/"))
        assert.isTrue(verifyAuthorization(merchant.publicKey, sent.headers["authorization"]!, "GET", sent.pathAndQuery))
      }))
  })

  it.effect("reads the private key, public key and certificates from files", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-config-"))
      try {
        fs.writeFileSync(path.join(dir, "apiclient_key.pem"), merchant.privateKeyPem)
        fs.writeFileSync(path.join(dir, "pub_key.pem"), platform.publicKeyPem)
        fs.mkdirSync(path.join(dir, "certs"))
        fs.writeFileSync(path.join(dir, "certs", "wechatpay_7B1C.pem"), certificate)
        fs.writeFileSync(path.join(dir, "certs", "README.txt"), "ignored")
        const env = {
          WECHATPAY_MCHID: MCHID,
          WECHATPAY_SERIAL_NO: MERCHANT_SERIAL,
          WECHATPAY_PRIVATE_KEY_FILE: path.join(dir, "apiclient_key.pem"),
          WECHATPAY_PUBLIC_KEY_ID: PUB_KEY_ID,
          WECHATPAY_PUBLIC_KEY_FILE: path.join(dir, "pub_key.pem"),
          WECHATPAY_PLATFORM_CERTIFICATES_DIR: path.join(dir, "certs")
        }
        const verifier = yield* Effect.provide(Verifier.Verifier, withEnv(env))
        assert.deepStrictEqual([...verifier.serials()].sort(), ["7B1C", PUB_KEY_ID].sort())
        const signer = yield* Effect.provide(Signer.Signer, withEnv(env))
        assert.strictEqual(signer.mchid, MCHID)
        // missing file → a ConfigError naming the variable and path, not content
        const error = yield* buildError({ ...env, WECHATPAY_PRIVATE_KEY_FILE: path.join(dir, "missing.pem") })
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(String(error), "WECHATPAY_PRIVATE_KEY_FILE")
        assert.include(String(error), "ENOENT")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("certificates only (no public key) is a valid configuration", () =>
    Effect.gen(function*() {
      const { WECHATPAY_PUBLIC_KEY_ID: _, WECHATPAY_PUBLIC_KEY: __, ...rest } = base
      const verifier = yield* Effect.provide(Verifier.Verifier, withEnv({ ...rest, WECHATPAY_PLATFORM_CERTIFICATES: certificate }))
      assert.strictEqual(verifier.preferredSerial, "7B1C")
    }))

  it.effect("missing, conflicting or unusable settings are ConfigErrors naming the variable, never quoting a key", () =>
    Effect.gen(function*() {
      const { WECHATPAY_MCHID: _m, ...noMchid } = base
      const missingMchid = yield* buildError(noMchid)
      assert.strictEqual(missingMchid._tag, "ConfigError")
      assert.include(String(missingMchid), "WECHATPAY_MCHID")
      const { WECHATPAY_PRIVATE_KEY: _k, ...noKey } = base
      const missingKey = yield* buildError(noKey)
      assert.include(String(missingKey), "WECHATPAY_PRIVATE_KEY")
      const both = yield* buildError({ ...base, WECHATPAY_PRIVATE_KEY_FILE: "/tmp/x.pem" })
      assert.include(String(both), "not both")
      const { WECHATPAY_PUBLIC_KEY: _p, ...idOnly } = base
      assert.include(String(yield* buildError(idOnly)), "go together")
      const { WECHATPAY_PUBLIC_KEY: _q, WECHATPAY_PUBLIC_KEY_ID: _r, ...noVerifier } = base
      assert.include(String(yield* buildError(noVerifier)), "WECHATPAY_PLATFORM_CERTIFICATES")
      const badKey = yield* buildError({ ...base, WECHATPAY_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" })
      assert.strictEqual(badKey._tag, "ConfigError")
      assert.include(String(badKey), "WECHATPAY_PRIVATE_KEY")
      assert.notInclude(JSON.stringify(badKey) + String(badKey), "AAAA")
      // a bad serial is reported as the serial, not as the private key
      const badSerial = yield* buildError({ ...base, WECHATPAY_SERIAL_NO: "5157 F09E" })
      assert.include(String(badSerial), "WECHATPAY_SERIAL_NO")
      assert.notInclude(String(badSerial), "PRIVATE_KEY")
      const badPublicKey = yield* buildError({ ...base, WECHATPAY_PUBLIC_KEY: "not a key" })
      assert.include(String(badPublicKey), "WECHATPAY_PUBLIC_KEY")
      const badUrl = yield* buildError({ ...base, WECHATPAY_BASE_URL: "not a url" })
      assert.include(String(badUrl), "WECHATPAY_BASE_URL")
    }))

  it.effect("single-line PEM with literal \\n (as .env files and CI secrets hold it) is accepted", () =>
    Effect.gen(function*() {
      const oneLine = (pem: string) => pem.trim().split("\n").join("\\n")
      assert.notInclude(oneLine(merchant.privateKeyPem), "\n")
      const env = { ...base, WECHATPAY_PRIVATE_KEY: oneLine(merchant.privateKeyPem), WECHATPAY_PUBLIC_KEY: oneLine(platform.publicKeyPem) }
      const signer = yield* Effect.provide(Signer.Signer, withEnv(env))
      const signature = yield* signer.sign("x")
      assert.isTrue(crypto.verify("sha256", Buffer.from("x"), merchant.publicKey, Buffer.from(signature, "base64")))
    }))

  it.effect("an empty WECHATPAY_PRIVATE_KEY counts as unset next to WECHATPAY_PRIVATE_KEY_FILE", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-config-"))
      try {
        const file = path.join(dir, "key.pem")
        fs.writeFileSync(file, merchant.privateKeyPem)
        const signer = yield* Effect.provide(Signer.Signer, withEnv({ ...base, WECHATPAY_PRIVATE_KEY: "", WECHATPAY_PRIVATE_KEY_FILE: file }))
        assert.strictEqual(signer.mchid, MCHID)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("WECHATPAY_BASE_URL must be http(s) without query or fragment; trailing slashes are dropped", () =>
    Effect.gen(function*() {
      for (const url of ["ftp://h/", "http://h/?x=1", "https://h/#f", "https://user:pw@h"]) {
        const error = yield* buildError({ ...base, WECHATPAY_BASE_URL: url })
        assert.strictEqual(error._tag, "ConfigError", url)
        assert.include(String(error), "WECHATPAY_BASE_URL")
      }
      const url = yield* Effect.provide(Wechatpay.BaseUrl, withEnv({ ...base, WECHATPAY_BASE_URL: "https://proxy.example.com/wechat//" }))
      assert.strictEqual(url, "https://proxy.example.com/wechat")
    }))

  it.effect("under Config.nested every error names the key actually read, prefix included", () =>
    Effect.gen(function*() {
      const nestedEnv = (env: Record<string, string>) =>
        new Map(Object.entries(env).map(([k, v]) => [`SHOP_A.${k}`, v] as const))
      const build = (env: Record<string, string>) =>
        Effect.flip(Effect.scoped(Layer.build(
          Wechatpay.layerConfig(Config.nested(Wechatpay.WechatpayConfig, "SHOP_A")).pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(nestedEnv(env))))
          )
        )))
      const { WECHATPAY_PRIVATE_KEY: _k, ...noKey } = base
      assert.include(String(yield* build(noKey)), "SHOP_A.WECHATPAY_PRIVATE_KEY")
      assert.include(String(yield* build({ ...base, WECHATPAY_PRIVATE_KEY: "garbage" })), "SHOP_A.WECHATPAY_PRIVATE_KEY")
      assert.include(String(yield* build({ ...base, WECHATPAY_PRIVATE_KEY_FILE: "/x.pem" })), "SHOP_A.WECHATPAY_PRIVATE_KEY")
      const { WECHATPAY_PRIVATE_KEY: _p, ...fileOnly } = base
      const unreadable = String(yield* build({ ...fileOnly, WECHATPAY_PRIVATE_KEY_FILE: "/nonexistent/key.pem" }))
      assert.include(unreadable, "SHOP_A.WECHATPAY_PRIVATE_KEY_FILE")
      assert.include(unreadable, "ENOENT")
      const { WECHATPAY_PUBLIC_KEY: _q, ...idOnly } = base
      assert.include(String(yield* build(idOnly)), "SHOP_A.WECHATPAY_PUBLIC_KEY")
      const { WECHATPAY_MCHID: _m, ...noMchid } = base
      assert.include(String(yield* build(noMchid)), "SHOP_A.WECHATPAY_MCHID")
      // and a complete nested configuration builds
      const signer = yield* Effect.provide(
        Signer.Signer,
        Wechatpay.layerConfig(Config.nested(Wechatpay.WechatpayConfig, "SHOP_A")).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(nestedEnv(base))))
        )
      )
      assert.strictEqual(signer.mchid, MCHID)
    }))

  it.effect("takes a Config.Wrap of its options: names of the application's own", () =>
    Effect.gen(function*() {
      const env = new Map([
        ["MCHID", MCHID],
        ["MERCHANT_SERIAL", MERCHANT_SERIAL],
        ["MERCHANT_KEY", merchant.privateKeyPem],
        ["PLATFORM_KEY", platform.publicKeyPem]
      ])
      const layer = Wechatpay.layerConfig({
        mchid: Config.string("MCHID"),
        serialNo: Config.string("MERCHANT_SERIAL"),
        privateKey: Config.redacted("MERCHANT_KEY"),
        publicKeys: Config.all({ [PUB_KEY_ID]: Config.string("PLATFORM_KEY") })
      }).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))))
      const [signer, verifier] = yield* Effect.provide(Effect.all([Signer.Signer, Verifier.Verifier]), layer)
      assert.strictEqual(signer.serialNo, MERCHANT_SERIAL)
      assert.deepStrictEqual(verifier.serials(), [PUB_KEY_ID])
      const missing = yield* Effect.flip(Effect.scoped(Layer.build(
        Wechatpay.layerConfig({
          mchid: Config.string("MCHID"),
          serialNo: Config.string("MERCHANT_SERIAL"),
          privateKey: Config.redacted("NO_SUCH_KEY"),
          certificates: Config.succeed([certificate])
        }).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))))
      )))
      assert.include(String(missing), "NO_SUCH_KEY")
    }))
})

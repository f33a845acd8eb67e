import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { InvalidKeyError } from "../errors/Errors.js"
import * as Signer from "../services/Signer.js"
import * as Verifier from "../services/Verifier.js"
import { BaseUrl } from "./references.js"

/**
 * The environment configuration of a merchant.
 *
 * @since 0.1.0
 */
export interface WechatpayConfigValue {
  readonly mchid: string
  readonly serialNo: string
  readonly privateKey: Option.Option<Redacted.Redacted<string>>
  readonly privateKeyFile: Option.Option<string>
  readonly publicKeyId: Option.Option<string>
  readonly publicKey: Option.Option<string>
  readonly publicKeyFile: Option.Option<string>
  readonly platformCertificates: Option.Option<string>
  readonly platformCertificatesDir: Option.Option<string>
  readonly baseUrl: Option.Option<string>
}

/**
 * Reads, from the current `ConfigProvider` (the environment by default):
 *
 * | variable | meaning |
 * |---|---|
 * | `WECHATPAY_MCHID` | merchant id (required) |
 * | `WECHATPAY_SERIAL_NO` | merchant API certificate serial (required) |
 * | `WECHATPAY_PRIVATE_KEY` / `WECHATPAY_PRIVATE_KEY_FILE` | merchant private key PEM, inline or a file (one is required) |
 * | `WECHATPAY_PUBLIC_KEY_ID` + `WECHATPAY_PUBLIC_KEY` / `WECHATPAY_PUBLIC_KEY_FILE` | WeChat Pay public key |
 * | `WECHATPAY_PLATFORM_CERTIFICATES` / `WECHATPAY_PLATFORM_CERTIFICATES_DIR` | platform certificates: PEM text, or a directory of `*.pem` |
 * | `WECHATPAY_BASE_URL` | overrides the API host |
 *
 * @since 0.1.0
 */
export const WechatpayConfig: Config.Config<WechatpayConfigValue> = Config.all({
  mchid: Config.nonEmptyString("WECHATPAY_MCHID"),
  serialNo: Config.nonEmptyString("WECHATPAY_SERIAL_NO"),
  privateKey: Config.option(Config.redacted("WECHATPAY_PRIVATE_KEY")).pipe(
    // an empty variable counts as unset
    Config.map(Option.filter((key) => Redacted.value(key).trim().length > 0))
  ),
  privateKeyFile: Config.option(Config.nonEmptyString("WECHATPAY_PRIVATE_KEY_FILE")),
  publicKeyId: Config.option(Config.nonEmptyString("WECHATPAY_PUBLIC_KEY_ID")),
  publicKey: Config.option(Config.nonEmptyString("WECHATPAY_PUBLIC_KEY")),
  publicKeyFile: Config.option(Config.nonEmptyString("WECHATPAY_PUBLIC_KEY_FILE")),
  platformCertificates: Config.option(Config.nonEmptyString("WECHATPAY_PLATFORM_CERTIFICATES")),
  platformCertificatesDir: Config.option(Config.nonEmptyString("WECHATPAY_PLATFORM_CERTIFICATES_DIR")),
  baseUrl: Config.option(
    Config.url("WECHATPAY_BASE_URL").pipe(
      Config.validate({
        message: "must be an http(s) URL without query, fragment or credentials, e.g. https://api.mch.weixin.qq.com",
        validation: (url) =>
          (url.protocol === "https:" || url.protocol === "http:") && url.search === "" && url.hash === "" &&
          url.username === "" && url.password === ""
      }),
      Config.map((url) => url.toString().replace(/\/+$/, ""))
    )
  )
})

const readText = (file: string, key: InvalidKeyError["key"], variable: string) =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) =>
      new InvalidKeyError({
        key,
        description: `cannot read ${variable} (${file})${
          typeof cause === "object" && cause !== null && "code" in cause ? `: ${String(cause.code)}` : ""
        }`
      })
  })

const oneOf = <A>(
  inline: Option.Option<A>,
  file: Option.Option<string>,
  names: readonly [string, string],
  read: (file: string) => Effect.Effect<A, InvalidKeyError>
): Effect.Effect<Option.Option<A>, ConfigError.ConfigError | InvalidKeyError> => {
  if (Option.isSome(inline) && Option.isSome(file)) {
    return Effect.fail(ConfigError.InvalidData([names[0]], `set either ${names[0]} or ${names[1]}, not both`))
  }
  if (Option.isSome(file)) return Effect.asSome(read(file.value))
  return Effect.succeed(inline)
}

const readCertificatesDir = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      const names = (await fs.readdir(dir)).filter((n) => n.endsWith(".pem")).sort()
      return Promise.all(names.map((n) => fs.readFile(nodePath.join(dir, n), "utf8")))
    },
    catch: (cause) =>
      new InvalidKeyError({
        key: "Certificate",
        description: `cannot read WECHATPAY_PLATFORM_CERTIFICATES_DIR (${dir})${
          typeof cause === "object" && cause !== null && "code" in cause ? `: ${String(cause.code)}` : ""
        }`
      })
  })

/**
 * Signer and Verifier (and BaseUrl when set) from `config`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config<WechatpayConfigValue> = WechatpayConfig
): Layer.Layer<Signer.Signer | Verifier.Verifier, ConfigError.ConfigError | InvalidKeyError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const c = yield* config
    const privateKey = yield* oneOf(
      c.privateKey,
      c.privateKeyFile,
      ["WECHATPAY_PRIVATE_KEY", "WECHATPAY_PRIVATE_KEY_FILE"],
      (file) => Effect.map(readText(file, "PrivateKey", "WECHATPAY_PRIVATE_KEY_FILE"), Redacted.make)
    )
    if (Option.isNone(privateKey)) {
      return yield* Effect.fail(
        ConfigError.MissingData(["WECHATPAY_PRIVATE_KEY"], "set WECHATPAY_PRIVATE_KEY or WECHATPAY_PRIVATE_KEY_FILE")
      )
    }
    const publicKey = yield* oneOf(
      c.publicKey,
      c.publicKeyFile,
      ["WECHATPAY_PUBLIC_KEY", "WECHATPAY_PUBLIC_KEY_FILE"],
      (file) => readText(file, "PublicKey", "WECHATPAY_PUBLIC_KEY_FILE")
    )
    if (Option.isSome(publicKey) !== Option.isSome(c.publicKeyId)) {
      return yield* Effect.fail(
        ConfigError.MissingData(
          [Option.isSome(publicKey) ? "WECHATPAY_PUBLIC_KEY_ID" : "WECHATPAY_PUBLIC_KEY"],
          "WECHATPAY_PUBLIC_KEY_ID and WECHATPAY_PUBLIC_KEY (or _FILE) go together"
        )
      )
    }
    const certificates = [
      ...Option.toArray(c.platformCertificates),
      ...(Option.isSome(c.platformCertificatesDir) ? yield* readCertificatesDir(c.platformCertificatesDir.value) : [])
    ]
    if (Option.isNone(publicKey) && certificates.length === 0) {
      return yield* Effect.fail(
        ConfigError.MissingData(
          ["WECHATPAY_PUBLIC_KEY"],
          "set WECHATPAY_PUBLIC_KEY_ID with WECHATPAY_PUBLIC_KEY (or _FILE), or WECHATPAY_PLATFORM_CERTIFICATES (or _DIR)"
        )
      )
    }
    const signer = yield* Signer.make({ mchid: c.mchid, serialNo: c.serialNo, privateKey: privateKey.value })
    const verifier = yield* Verifier.make({
      ...(Option.isSome(publicKey) && Option.isSome(c.publicKeyId)
        ? { publicKeys: { [c.publicKeyId.value]: publicKey.value } }
        : {}),
      certificates
    })
    const services = Layer.merge(Layer.succeed(Signer.Signer, signer), Layer.succeed(Verifier.Verifier, verifier))
    return Option.isSome(c.baseUrl)
      ? Layer.merge(services, Layer.succeed(BaseUrl, c.baseUrl.value))
      : services
  }))

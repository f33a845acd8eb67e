/**
 * `Wechatpay.layerConfig`: the merchant's settings from Effect `Config`,
 * checked where they are read, so every error names the key it came from
 * (with the prefix of `Config.nested`).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import type { InvalidKeyError } from "../errors/Errors.js"
import { codeOf, KeyFailure } from "../protocol/failures.js"
import { parsePrivateKey, parsePublicKey, parseRingKeys } from "../protocol/keys.js"
import { checkIdentity } from "../protocol/signing.js"
import * as Signer from "../services/Signer.js"
import * as Verifier from "../services/Verifier.js"
import { BaseUrl } from "./references.js"

/**
 * What `Wechatpay.layerConfig` builds its layers from.
 *
 * @since 0.2.0
 */
export interface ConfigOptions {
  /** The merchant id. */
  readonly mchid: string
  /** The merchant API certificate serial number. */
  readonly serialNo: string
  /** The merchant API private key, PEM. */
  readonly privateKey: Redacted.Redacted<string>
  /** WeChat Pay public keys by id (`PUB_KEY_ID_…`), PEM. */
  readonly publicKeys?: Readonly<Record<string, string>> | undefined
  /** Platform certificates, PEM. */
  readonly certificates?: ReadonlyArray<string> | undefined
  /** Another API host (a proxy, a sandbox). */
  readonly baseUrl?: string | undefined
}

const invalid = (key: string, message: string) => ConfigError.InvalidData([key], message)

/** A file's text, read as the configuration is; a failure names `key`, which gave the path. */
const readFile = (key: string, file: string): Either.Either<string, ConfigError.ConfigError> => {
  try {
    return Either.right(fs.readFileSync(file, "utf8"))
  } catch (cause) {
    return Either.left(invalid(key, `cannot read ${file}${codeOf(cause)}`))
  }
}

/** `KEY` inline or `KEY_FILE` as a path (not both), with the key the value came from. */
const inlineOrFile = (
  key: string,
  inline: Config.Config<Option.Option<Redacted.Redacted<string>>>
): Config.Config<Option.Option<{ readonly key: string; readonly text: Redacted.Redacted<string> }>> =>
  Config.all([inline, Config.option(Config.nonEmptyString(`${key}_FILE`))]).pipe(
    Config.mapOrFail(([text, file]) =>
      Option.isSome(text) && Option.isSome(file)
        ? Either.left(invalid(key, `set either ${key} or ${key}_FILE, not both`))
        : Option.isSome(text)
        ? Either.right(Option.some({ key, text: text.value }))
        : Option.isSome(file)
        ? Either.map(readFile(`${key}_FILE`, file.value), (t) => Option.some({ key: `${key}_FILE`, text: Redacted.make(t) }))
        : Either.right(Option.none())
    )
  )

/** An environment variable that is set but empty counts as unset. */
const nonEmpty = (key: string) =>
  Config.option(Config.redacted(key)).pipe(Config.map(Option.filter((text) => Redacted.value(text).trim().length > 0)))

const privateKey = inlineOrFile("WECHATPAY_PRIVATE_KEY", nonEmpty("WECHATPAY_PRIVATE_KEY")).pipe(
  Config.mapOrFail(Option.match({
    onNone: () =>
      Either.left(ConfigError.MissingData(["WECHATPAY_PRIVATE_KEY"], "set WECHATPAY_PRIVATE_KEY or WECHATPAY_PRIVATE_KEY_FILE")),
    onSome: ({ key, text }) => {
      const parsed = parsePrivateKey(Redacted.value(text))
      return parsed instanceof KeyFailure ? Either.left(invalid(key, parsed.description)) : Either.right(text)
    }
  }))
)

const publicKeys = Config.all([
  Config.option(Config.nonEmptyString("WECHATPAY_PUBLIC_KEY_ID")),
  inlineOrFile("WECHATPAY_PUBLIC_KEY", nonEmpty("WECHATPAY_PUBLIC_KEY"))
]).pipe(
  Config.mapOrFail(([id, pem]) => {
    if (Option.isNone(id) && Option.isNone(pem)) return Either.right(undefined)
    if (Option.isNone(id) || Option.isNone(pem)) {
      return Either.left(
        ConfigError.MissingData(
          [Option.isNone(id) ? "WECHATPAY_PUBLIC_KEY_ID" : "WECHATPAY_PUBLIC_KEY"],
          "WECHATPAY_PUBLIC_KEY_ID and WECHATPAY_PUBLIC_KEY (or _FILE) go together"
        )
      )
    }
    const text = Redacted.value(pem.value.text)
    const parsed = parsePublicKey(text, id.value)
    return parsed instanceof KeyFailure
      ? Either.left(invalid(pem.value.key, parsed.description))
      : Either.right({ [id.value]: text })
  })
)

/** Every `*.pem` file of a directory, in name order. */
const certificatesDir = Config.nonEmptyString("WECHATPAY_PLATFORM_CERTIFICATES_DIR").pipe(
  Config.mapOrFail((dir) => {
    try {
      const names = fs.readdirSync(dir).filter((name) => name.endsWith(".pem")).sort()
      return Either.right(names.map((name) => fs.readFileSync(nodePath.join(dir, name), "utf8")))
    } catch (cause) {
      return Either.left(ConfigError.InvalidData([], `cannot read ${dir}${codeOf(cause)}`))
    }
  })
)

const certificates = Config.all([
  Config.option(Config.nonEmptyString("WECHATPAY_PLATFORM_CERTIFICATES")),
  Config.option(certificatesDir)
]).pipe(
  Config.mapOrFail(([inline, dir]) => {
    const found = [...Option.toArray(inline), ...Option.getOrElse(dir, () => [])]
    const parsed = found.length === 0 ? [] : parseRingKeys({ certificates: found })
    return parsed instanceof KeyFailure
      ? Either.left(
        invalid(Option.isSome(inline) ? "WECHATPAY_PLATFORM_CERTIFICATES" : "WECHATPAY_PLATFORM_CERTIFICATES_DIR", parsed.description)
      )
      : Either.right(found.length === 0 ? undefined : found)
  })
)

const identity = (key: "WECHATPAY_MCHID" | "WECHATPAY_SERIAL_NO") =>
  Config.nonEmptyString(key).pipe(
    Config.mapOrFail((value) => {
      const failure = key === "WECHATPAY_MCHID" ? checkIdentity(value, "-") : checkIdentity("-", value)
      return failure === undefined ? Either.right(value) : Either.left(ConfigError.InvalidData([], failure.description))
    })
  )

const baseUrl = Config.option(
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

/**
 * The APIv3 key, `WECHATPAY_APIV3_KEY` inline or `WECHATPAY_APIV3_KEY_FILE`
 * as a path; one line break at the end (as editors leave in a file) is not
 * part of it. It is 32 bytes: checked here, so the error names the variable.
 *
 * @since 0.2.0
 */
export const ApiV3KeyConfig: Config.Config<Redacted.Redacted<string>> = inlineOrFile(
  "WECHATPAY_APIV3_KEY",
  nonEmpty("WECHATPAY_APIV3_KEY")
).pipe(
  Config.mapOrFail(Option.match({
    onNone: () =>
      Either.left(ConfigError.MissingData(["WECHATPAY_APIV3_KEY"], "set WECHATPAY_APIV3_KEY or WECHATPAY_APIV3_KEY_FILE")),
    onSome: ({ key, text }) => {
      const value = Redacted.value(text).replace(/\r?\n$/, "")
      return Buffer.byteLength(value, "utf8") === 32
        ? Either.right(Redacted.make(value))
        : Either.left(invalid(key, "an APIv3 key is 32 bytes (the key set in the merchant platform)"))
    }
  }))
)

/**
 * The merchant's settings from the current `ConfigProvider` (the environment
 * by default):
 *
 * | variable | meaning |
 * |---|---|
 * | `WECHATPAY_MCHID` | merchant id (required) |
 * | `WECHATPAY_SERIAL_NO` | merchant API certificate serial (required) |
 * | `WECHATPAY_PRIVATE_KEY` / `WECHATPAY_PRIVATE_KEY_FILE` | merchant private key PEM, inline or a file (one is required) |
 * | `WECHATPAY_PUBLIC_KEY_ID` + `WECHATPAY_PUBLIC_KEY` / `WECHATPAY_PUBLIC_KEY_FILE` | WeChat Pay public key |
 * | `WECHATPAY_PLATFORM_CERTIFICATES` / `WECHATPAY_PLATFORM_CERTIFICATES_DIR` | platform certificates: PEM text, or a directory of `*.pem` |
 * | `WECHATPAY_BASE_URL` | another API host |
 *
 * Key material is checked as it is read. `Config.nested(WechatpayConfig,
 * "SHOP_A")` reads `SHOP_A.WECHATPAY_MCHID` (`SHOP_A_WECHATPAY_MCHID` with
 * `ConfigProvider.constantCase`) and so on.
 *
 * @since 0.1.0
 */
export const WechatpayConfig: Config.Config<ConfigOptions> = Config.all({
  mchid: identity("WECHATPAY_MCHID"),
  serialNo: identity("WECHATPAY_SERIAL_NO"),
  privateKey,
  publicKeys,
  certificates,
  baseUrl: Config.map(baseUrl, Option.getOrUndefined)
}).pipe(
  Config.mapOrFail((options) =>
    options.publicKeys === undefined && options.certificates === undefined
      ? Either.left(
        ConfigError.MissingData(
          ["WECHATPAY_PUBLIC_KEY"],
          "set WECHATPAY_PUBLIC_KEY_ID with WECHATPAY_PUBLIC_KEY (or _FILE), or WECHATPAY_PLATFORM_CERTIFICATES (or _DIR)"
        )
      )
      : Either.right(options)
  )
)

/**
 * A `Signer` and a `Verifier` (and `BaseUrl` when one is set) from
 * configuration: {@link WechatpayConfig} by default, or any `Config.Wrap` of
 * {@link ConfigOptions}.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<ConfigOptions> = WechatpayConfig
): Layer.Layer<Signer.Signer | Verifier.Verifier, ConfigError.ConfigError | InvalidKeyError> =>
  Layer.unwrapEffect(
    Effect.map(Config.unwrap(config), (options) => {
      const services = Layer.merge(
        Signer.layer({ mchid: options.mchid, serialNo: options.serialNo, privateKey: options.privateKey }),
        Verifier.layer({ publicKeys: options.publicKeys, certificates: options.certificates })
      )
      return options.baseUrl === undefined ? services : Layer.merge(services, Layer.succeed(BaseUrl, options.baseUrl))
    })
  )

import * as Context from "effect/Context"

/**
 * The primary APIv3 host.
 *
 * @since 0.1.0
 * @category constants
 */
export const PRIMARY_BASE_URL = "https://api.mch.weixin.qq.com"

/**
 * The backup APIv3 host (another city).
 *
 * @since 0.1.0
 * @category constants
 */
export const BACKUP_BASE_URL = "https://api2.mch.weixin.qq.com"

/**
 * The base URL requests are sent to. Defaults to the primary host; override
 * it with a layer, e.g. to point at a sandbox or a proxy:
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Wechatpay } from "effect-wechatpay"
 *
 * const Local = Layer.succeed(Wechatpay.BaseUrl, "http://127.0.0.1:8080")
 * ```
 *
 * The signature covers the path from `/v3/` on: a base URL with a path prefix
 * (a reverse proxy that strips it) still signs what WeChat Pay sees.
 *
 * @since 0.1.0
 * @category references
 */
export class BaseUrl extends Context.Reference<BaseUrl>()("effect-wechatpay/Wechatpay/BaseUrl", {
  defaultValue: (): string => PRIMARY_BASE_URL
}) {}


/** @internal */
export const VERSION = "0.1.0"

/** @internal */
export const USER_AGENT = `effect-wechatpay/${VERSION} (${process.platform}; ${process.arch}) Node.js/${process.versions.node}`

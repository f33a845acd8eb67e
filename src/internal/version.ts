/** The package version, written from package.json by scripts/version.mjs. @internal */
export const VERSION = "0.2.0"

/** @internal */
export const USER_AGENT = `effect-wechatpay/${VERSION} (${process.platform}; ${process.arch}) Node.js/${process.versions.node}`

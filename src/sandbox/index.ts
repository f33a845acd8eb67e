/**
 * `effect-wechatpay/sandbox`: a local WeChat Pay over real HTTP.
 *
 * @since 0.1.0
 */

/**
 * The sandbox server, its store, faults and test layers.
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"

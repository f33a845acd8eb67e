/**
 * Pay Score (微信支付分) authorization queries.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { WechatpayError } from "../errors/Errors.js"
import {
  GetPermissionsByAuthorizationCodeRequest,
  GetPermissionsByOpenidRequest,
  PermissionsByAuthorizationCode,
  PermissionsByOpenid
} from "../schemas/Payscore.js"
import * as Wechatpay from "./Wechatpay.js"

export {
  /**
   * @since 0.1.0
   * @category schemas
   */
  AuthorizationState,
  /**
   * @since 0.1.0
   * @category schemas
   */
  GetPermissionsByAuthorizationCodeRequest,
  /**
   * @since 0.1.0
   * @category schemas
   */
  GetPermissionsByOpenidRequest,
  /**
   * @since 0.1.0
   * @category schemas
   */
  PermissionsByAuthorizationCode,
  /**
   * @since 0.1.0
   * @category schemas
   */
  PermissionsByOpenid
} from "../schemas/Payscore.js"

/**
 * `GET /v3/payscore/permissions/openid/{openid}?service_id&appid` with the
 * full response (`data`, `status`, `headers`, `requestId`).
 *
 * @since 0.1.0
 * @category requests
 */
export const getPermissionsByOpenidResponse: Wechatpay.Endpoint<
  typeof GetPermissionsByOpenidRequest.Encoded,
  PermissionsByOpenid
> = Wechatpay.endpoint({
    name: "Payscore.getPermissionsByOpenid",
    request: GetPermissionsByOpenidRequest,
    url: ({ openid, params }) =>
      Wechatpay.path`/v3/payscore/permissions/openid/${openid}` +
      Wechatpay.query([["service_id", params.service_id], ["appid", params.appid]]),
    response: PermissionsByOpenid
  })

/**
 * `GET /v3/payscore/permissions/authorization-code/{authorization_code}?service_id`
 * with the full response.
 *
 * @since 0.1.0
 * @category requests
 */
export const getPermissionsByAuthorizationCodeResponse: Wechatpay.Endpoint<
  typeof GetPermissionsByAuthorizationCodeRequest.Encoded,
  PermissionsByAuthorizationCode
> = Wechatpay.endpoint({
  name: "Payscore.getPermissionsByAuthorizationCode",
  request: GetPermissionsByAuthorizationCodeRequest,
  url: ({ authorization_code, params }) =>
    Wechatpay.path`/v3/payscore/permissions/authorization-code/${authorization_code}` +
    Wechatpay.query([["service_id", params.service_id]]),
  response: PermissionsByAuthorizationCode
})

/**
 * Looks up a user's Pay Score authorization record by `openid`
 * (查询与用户授权记录（openid）). A user with no record answers
 * `BusinessError` with code `ORDER_NOT_EXIST`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Payscore } from "effect-wechatpay"
 *
 * const isAuthorized = Payscore.getPermissionsByOpenid({
 *   openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
 *   params: { service_id: "500001", appid: "wxd678efh567hg6787" }
 * }).pipe(Effect.map((record) => record.authorization_state === "AVAILABLE"))
 * ```
 *
 * @since 0.1.0
 * @category requests
 */
export const getPermissionsByOpenid = (
  input: typeof GetPermissionsByOpenidRequest.Encoded
): Effect.Effect<PermissionsByOpenid, WechatpayError, Wechatpay.Requirements> =>
  getPermissionsByOpenidResponse.data(input)

/**
 * Looks up a Pay Score authorization record by its `authorization_code`
 * (查询与用户授权记录（授权协议号）).
 *
 * @example
 * ```ts
 * import { Payscore } from "effect-wechatpay"
 *
 * const record = Payscore.getPermissionsByAuthorizationCode({
 *   authorization_code: "1234323JKHDFE1243252",
 *   params: { service_id: "500001" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category requests
 */
export const getPermissionsByAuthorizationCode = (
  input: typeof GetPermissionsByAuthorizationCodeRequest.Encoded
): Effect.Effect<PermissionsByAuthorizationCode, WechatpayError, Wechatpay.Requirements> =>
  getPermissionsByAuthorizationCodeResponse.data(input)

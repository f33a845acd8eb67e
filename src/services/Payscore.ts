/**
 * Pay Score (微信支付分) authorizations: the queries, pre-authorization and
 * termination (merchant mode).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { WechatpayError } from "../errors/Errors.js"
import {
  ApplyPermissionsRequest,
  ApplyPermissionsResult,
  GetPermissionsByAuthorizationCodeRequest,
  GetPermissionsByOpenidRequest,
  PermissionsByAuthorizationCode,
  PermissionsByOpenid,
  TerminatePermissionsByAuthorizationCodeRequest,
  TerminatePermissionsByOpenidRequest
} from "../schemas/Payscore.js"
import * as Wechatpay from "./Wechatpay.js"
import * as LookupCache from "./LookupCache.js"

export {
  /**
   * @since 0.2.0
   * @category schemas
   */
  ApplyPermissionsRequest,
  /**
   * @since 0.2.0
   * @category schemas
   */
  ApplyPermissionsResult,
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
  PermissionsByOpenid,
  /**
   * @since 0.2.0
   * @category schemas
   */
  TerminatePermissionsByAuthorizationCodeRequest,
  /**
   * @since 0.2.0
   * @category schemas
   */
  TerminatePermissionsByOpenidRequest
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
    subject: ({ openid, params }) => LookupCache.subjects.payscoreByOpenid(params.service_id, openid),
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
  subject: ({ authorization_code, params }) =>
    LookupCache.subjects.payscoreByAuthorizationCode(params.service_id, authorization_code),
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

/**
 * `POST /v3/payscore/permissions` with the full response.
 *
 * @since 0.2.0
 * @category requests
 */
export const applyPermissionsResponse: Wechatpay.Endpoint<
  typeof ApplyPermissionsRequest.Encoded,
  ApplyPermissionsResult
> = Wechatpay.endpoint({
  name: "Payscore.applyPermissions",
  method: "POST",
  request: ApplyPermissionsRequest,
  url: () => "/v3/payscore/permissions",
  body: ({ data }) => data,
  response: ApplyPermissionsResult
})

/**
 * Pre-authorizes a user for a Pay Score service (商户预授权): answers the
 * `apply_permissions_token` the mini program opens the authorization page
 * with. When the user authorizes, WeChat Pay sends `PAYSCORE.USER_OPEN_SERVICE`
 * to `notify_url` (or the service's configured URL).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Payscore } from "effect-wechatpay"
 *
 * const token = Payscore.applyPermissions({
 *   data: {
 *     service_id: "500001",
 *     appid: "wxd678efh567hg6787",
 *     authorization_code: "4554ZJ09WV5F4A03G9U8",
 *     notify_url: "https://merchant.example.com/wechatpay/notify"
 *   }
 * }).pipe(Effect.map((r) => r.apply_permissions_token))
 * ```
 *
 * @since 0.2.0
 * @category requests
 */
export const applyPermissions = (
  input: typeof ApplyPermissionsRequest.Encoded
): Effect.Effect<ApplyPermissionsResult, WechatpayError, Wechatpay.Requirements> => applyPermissionsResponse.data(input)

/**
 * `POST /v3/payscore/permissions/authorization-code/{authorization_code}/terminate`
 * with the full response (`data` is `undefined`: WeChat Pay answers 204).
 *
 * @since 0.2.0
 * @category requests
 */
export const terminatePermissionsByAuthorizationCodeResponse: Wechatpay.Endpoint<
  typeof TerminatePermissionsByAuthorizationCodeRequest.Encoded,
  void
> = Wechatpay.endpoint({
  name: "Payscore.terminatePermissionsByAuthorizationCode",
  method: "POST",
  request: TerminatePermissionsByAuthorizationCodeRequest,
  url: ({ authorization_code }) =>
    Wechatpay.path`/v3/payscore/permissions/authorization-code/${authorization_code}/terminate`,
  body: ({ data }) => data,
  invalidates: ({ authorization_code, data }) => [
    LookupCache.subjects.payscoreByAuthorizationCode(data.service_id, authorization_code)
  ],
  response: Schema.Void
})

/**
 * Ends a user's Pay Score authorization by its authorization code
 * (解除用户授权关系（授权协议号）). The record reads `UNAVAILABLE` afterwards,
 * and WeChat Pay sends `PAYSCORE.USER_CLOSE_SERVICE`. An unknown record is
 * `BusinessError` `ORDER_NOT_EXIST`.
 *
 * @example
 * ```ts
 * import { Payscore } from "effect-wechatpay"
 *
 * const ended = Payscore.terminatePermissionsByAuthorizationCode({
 *   authorization_code: "4554ZJ09WV5F4A03G9U8",
 *   data: { service_id: "500001", reason: "the user closed the account" }
 * })
 * ```
 *
 * @since 0.2.0
 * @category requests
 */
export const terminatePermissionsByAuthorizationCode = (
  input: typeof TerminatePermissionsByAuthorizationCodeRequest.Encoded
): Effect.Effect<void, WechatpayError, Wechatpay.Requirements> => terminatePermissionsByAuthorizationCodeResponse.data(input)

/**
 * `POST /v3/payscore/permissions/openid/{openid}/terminate` with the full
 * response (`data` is `undefined`: WeChat Pay answers 204).
 *
 * @since 0.2.0
 * @category requests
 */
export const terminatePermissionsByOpenidResponse: Wechatpay.Endpoint<
  typeof TerminatePermissionsByOpenidRequest.Encoded,
  void
> = Wechatpay.endpoint({
  name: "Payscore.terminatePermissionsByOpenid",
  method: "POST",
  request: TerminatePermissionsByOpenidRequest,
  url: ({ openid }) => Wechatpay.path`/v3/payscore/permissions/openid/${openid}/terminate`,
  body: ({ data }) => data,
  invalidates: ({ data, openid }) => [LookupCache.subjects.payscoreByOpenid(data.service_id, openid)],
  response: Schema.Void
})

/**
 * Ends a user's Pay Score authorization by `openid` (解除用户授权关系（openid）).
 *
 * @example
 * ```ts
 * import { Payscore } from "effect-wechatpay"
 *
 * const ended = Payscore.terminatePermissionsByOpenid({
 *   openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
 *   data: { service_id: "500001", appid: "wxd678efh567hg6787", reason: "the user asked" }
 * })
 * ```
 *
 * @since 0.2.0
 * @category requests
 */
export const terminatePermissionsByOpenid = (
  input: typeof TerminatePermissionsByOpenidRequest.Encoded
): Effect.Effect<void, WechatpayError, Wechatpay.Requirements> => terminatePermissionsByOpenidResponse.data(input)

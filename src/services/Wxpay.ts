/**
 * The seed SDK's call form, for code written against its documentation:
 * `wxpay.v3.payscore.permissions.openid._openid_.get({ openid, params })`.
 * Each call is an Effect of `{ data, status, headers, requestId }`, so the
 * seed's `.then(({ data: { … } }) => …)` becomes
 * `Effect.map(({ data: { … } }) => …)`.
 *
 * @since 0.1.0
 */
import * as BusinessCircle from "./BusinessCircle.js"
import * as Payscore from "./Payscore.js"

/**
 * The seed-style endpoint tree.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { wxpay } from "effect-wechatpay"
 *
 * const program = wxpay.v3.payscore.permissions.openid._openid_.get({
 *   openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
 *   params: { service_id: "500001", appid: "wxd678efh567hg6787" }
 * }).pipe(
 *   Effect.map(({ data: { service_id, appid, mchid, openid, authorization_state } }) => ({
 *     service_id, appid, mchid, openid, authorization_state
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category seed form
 */
export const wxpay = {
  v3: {
    payscore: {
      permissions: {
        post: Payscore.applyPermissionsResponse,
        openid: {
          _openid_: {
            get: Payscore.getPermissionsByOpenidResponse,
            terminate: { post: Payscore.terminatePermissionsByOpenidResponse }
          }
        },
        authorizationCode: {
          _authorization_code_: {
            get: Payscore.getPermissionsByAuthorizationCodeResponse,
            terminate: { post: Payscore.terminatePermissionsByAuthorizationCodeResponse }
          }
        }
      }
    },
    businesscircle: {
      userAuthorizations: {
        _openid_: { get: BusinessCircle.getUserAuthorizationResponse }
      }
    }
  }
} as const

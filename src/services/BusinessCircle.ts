/**
 * Business Circle (智慧商圈) member-points authorization query.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { WechatpayError } from "../errors/Errors.js"
import { GetUserAuthorizationRequest, UserAuthorization } from "../schemas/BusinessCircle.js"
import * as Wechatpay from "./Wechatpay.js"
import * as LookupCache from "./LookupCache.js"

export {
  /**
   * @since 0.1.0
   * @category schemas
   */
  AuthorizeState,
  /**
   * @since 0.1.0
   * @category schemas
   */
  GetUserAuthorizationRequest,
  /**
   * @since 0.1.0
   * @category schemas
   */
  UserAuthorization
} from "../schemas/BusinessCircle.js"

/**
 * `GET /v3/businesscircle/user-authorizations/{openid}?appid&sub_mchid` with
 * the full response (`data`, `status`, `headers`, `requestId`).
 *
 * @since 0.1.0
 * @category requests
 */
export const getUserAuthorizationResponse: Wechatpay.Endpoint<
  typeof GetUserAuthorizationRequest.Encoded,
  UserAuthorization
> = Wechatpay.endpoint({
    name: "BusinessCircle.getUserAuthorization",
    request: GetUserAuthorizationRequest,
    url: ({ openid, params }) =>
      Wechatpay.path`/v3/businesscircle/user-authorizations/${openid}` +
      Wechatpay.query([["appid", params.appid], ["sub_mchid", params.sub_mchid]]),
    subject: ({ openid }) => LookupCache.subjects.businessCircle(openid),
    response: UserAuthorization
  })

/**
 * Queries whether a user has authorized Business Circle member points
 * (商圈会员积分服务授权状态查询). `sub_mchid` is for partner (service provider)
 * mode and is left out of the request when undefined. A user who never
 * authorized answers `authorize_state: "UNAUTHORIZED"`, not an error.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { BusinessCircle } from "effect-wechatpay"
 *
 * const state = BusinessCircle.getUserAuthorization({
 *   openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
 *   params: { appid: "wxd678efh567hg6787" }
 * }).pipe(Effect.map((a) => a.authorize_state))
 * ```
 *
 * @since 0.1.0
 * @category requests
 */
export const getUserAuthorization = (
  input: typeof GetUserAuthorizationRequest.Encoded
): Effect.Effect<UserAuthorization, WechatpayError, Wechatpay.Requirements> =>
  getUserAuthorizationResponse.data(input)

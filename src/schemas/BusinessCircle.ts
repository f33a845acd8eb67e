/**
 * Request and response schemas of the Business Circle member-points
 * authorization query.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { AppId, BusinessCircleOpenid, DateTimeRfc3339, optional, SubMchid } from "./Common.js"

/**
 * Whether a user has authorized member points: `UNAUTHORIZED`, `AUTHORIZED`
 * or `DEAUTHORIZED`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AuthorizeState = Schema.Literal("UNAUTHORIZED", "AUTHORIZED", "DEAUTHORIZED")

/**
 * The type of `AuthorizeState`.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizeState = typeof AuthorizeState.Type

/**
 * Arguments of `GET /v3/businesscircle/user-authorizations/{openid}`;
 * `sub_mchid` only in partner (service provider) mode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetUserAuthorizationRequest = Schema.Struct({
  openid: BusinessCircleOpenid,
  params: Schema.Struct({
    appid: AppId,
    sub_mchid: Schema.optional(SubMchid)
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetUserAuthorizationRequest extends Schema.Schema.Type<typeof GetUserAuthorizationRequest> {}

/**
 * A user's member-points authorization state. The times may be present even
 * when the state is `UNAUTHORIZED`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class UserAuthorization extends Schema.Class<UserAuthorization>("UserAuthorization")({
  openid: Schema.String,
  authorize_state: AuthorizeState,
  authorize_time: optional(DateTimeRfc3339),
  deauthorize_time: optional(DateTimeRfc3339)
}) {}

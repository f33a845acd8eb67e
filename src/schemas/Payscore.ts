/**
 * Request and response schemas of the Pay Score authorization queries.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import {
  AppId,
  AuthorizationCode,
  DateTimeRfc3339,
  NotifyUrl,
  optional,
  PayscoreOpenid,
  ServiceId,
  TerminationReason
} from "./Common.js"

/**
 * The state of a user's Pay Score authorization: `AVAILABLE` (authorized),
 * `UNAVAILABLE` (revoked), `UNBINDUSER` (never authorized or unbound).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AuthorizationState = Schema.Literal("AVAILABLE", "UNAVAILABLE", "UNBINDUSER")

/**
 * The type of `AuthorizationState`.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizationState = typeof AuthorizationState.Type

/**
 * Arguments of `GET /v3/payscore/permissions/openid/{openid}`, shaped like
 * the seed SDK's `RequestConfig` (extra keys are ignored).
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetPermissionsByOpenidRequest = Schema.Struct({
  openid: PayscoreOpenid,
  params: Schema.Struct({
    service_id: ServiceId,
    appid: AppId
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetPermissionsByOpenidRequest extends Schema.Schema.Type<typeof GetPermissionsByOpenidRequest> {}

/**
 * Arguments of `GET /v3/payscore/permissions/authorization-code/{authorization_code}`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GetPermissionsByAuthorizationCodeRequest = Schema.Struct({
  authorization_code: AuthorizationCode,
  params: Schema.Struct({
    service_id: ServiceId
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetPermissionsByAuthorizationCodeRequest
  extends Schema.Schema.Type<typeof GetPermissionsByAuthorizationCodeRequest>
{}

/**
 * A user's Pay Score authorization record, looked up by `openid`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class PermissionsByOpenid extends Schema.Class<PermissionsByOpenid>("PermissionsByOpenid")({
  service_id: Schema.String,
  appid: Schema.String,
  mchid: Schema.String,
  authorization_state: AuthorizationState,
  openid: optional(Schema.String),
  authorization_code: optional(Schema.String),
  cancel_authorization_time: optional(DateTimeRfc3339),
  authorization_success_time: optional(DateTimeRfc3339),
  user_risk_level: optional(Schema.Int),
  risk_level_version: optional(Schema.Int)
}) {}

/**
 * A user's Pay Score authorization record, looked up by `authorization_code`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class PermissionsByAuthorizationCode
  extends Schema.Class<PermissionsByAuthorizationCode>("PermissionsByAuthorizationCode")({
    service_id: Schema.String,
    appid: Schema.String,
    mchid: Schema.String,
    authorization_code: Schema.String,
    authorization_state: AuthorizationState,
    openid: optional(Schema.String),
    notify_url: optional(Schema.String),
    cancel_authorization_time: optional(DateTimeRfc3339),
    authorization_success_time: optional(DateTimeRfc3339),
    user_risk_level: optional(Schema.Int),
    risk_level_version: optional(Schema.Int)
  })
{}

/**
 * Arguments of `POST /v3/payscore/permissions` (pre-authorization): the JSON
 * body in `data`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ApplyPermissionsRequest = Schema.Struct({
  data: Schema.Struct({
    service_id: ServiceId,
    appid: AppId,
    authorization_code: AuthorizationCode,
    notify_url: Schema.optional(NotifyUrl)
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.2.0
 * @category models
 */
export interface ApplyPermissionsRequest extends Schema.Schema.Type<typeof ApplyPermissionsRequest> {}

/**
 * What a pre-authorization answers: the token the mini program passes to
 * `wx.openBusinessView({ businessType: "wxpayScoreEnable", … })` (valid for an
 * hour).
 *
 * @since 0.2.0
 * @category schemas
 */
export class ApplyPermissionsResult extends Schema.Class<ApplyPermissionsResult>("ApplyPermissionsResult")({
  apply_permissions_token: Schema.String
}) {}

/**
 * Arguments of
 * `POST /v3/payscore/permissions/authorization-code/{authorization_code}/terminate`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const TerminatePermissionsByAuthorizationCodeRequest = Schema.Struct({
  authorization_code: AuthorizationCode,
  data: Schema.Struct({
    service_id: ServiceId,
    reason: TerminationReason
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.2.0
 * @category models
 */
export interface TerminatePermissionsByAuthorizationCodeRequest
  extends Schema.Schema.Type<typeof TerminatePermissionsByAuthorizationCodeRequest>
{}

/**
 * Arguments of `POST /v3/payscore/permissions/openid/{openid}/terminate`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const TerminatePermissionsByOpenidRequest = Schema.Struct({
  openid: PayscoreOpenid,
  data: Schema.Struct({
    service_id: ServiceId,
    appid: AppId,
    reason: TerminationReason
  })
})

/**
 * The validated arguments of the request, as a type.
 *
 * @since 0.2.0
 * @category models
 */
export interface TerminatePermissionsByOpenidRequest
  extends Schema.Schema.Type<typeof TerminatePermissionsByOpenidRequest>
{}

/**
 * Schemas of the notifications WeChat Pay POSTs to a merchant: the envelope,
 * and the decrypted resources of the events this library models.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"
import { ChinaCompactTime, DateTimeRfc3339, optional } from "./Common.js"

/**
 * The encrypted `resource` of a notification (`AEAD_AES_256_GCM`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const EncryptedResource = Schema.Struct({
  algorithm: Schema.String,
  ciphertext: Schema.String,
  nonce: Schema.String,
  associated_data: optional(Schema.String),
  original_type: optional(Schema.String)
})

/**
 * A notification as it arrives, before its `resource` is decrypted.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Envelope = Schema.Struct({
  id: Schema.String,
  create_time: DateTimeRfc3339,
  resource_type: Schema.String,
  event_type: Schema.String,
  summary: optional(Schema.String),
  resource: EncryptedResource
})

/**
 * The type of `Envelope`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Envelope extends Schema.Schema.Type<typeof Envelope> {}

/**
 * The two Pay Score service events: a user opened (authorized) or closed
 * (revoked) the service.
 *
 * @since 0.2.0
 * @category schemas
 */
export const PayscoreServiceEventType = Schema.Literal("PAYSCORE.USER_OPEN_SERVICE", "PAYSCORE.USER_CLOSE_SERVICE")

/**
 * What `PAYSCORE.USER_OPEN_SERVICE` and `PAYSCORE.USER_CLOSE_SERVICE` carry,
 * decrypted: merchant mode (`mchid`, `openid`) or partner mode (`mch_id`,
 * `sub_mch_id`, `sub_appid`, `openid` or `sub_openid`). `openorclose_time`
 * is WeChat's `yyyyMMddHHmmss` China time, decoded to a `Date`.
 *
 * @since 0.2.0
 * @category schemas
 */
export class PayscoreUserService extends Schema.Class<PayscoreUserService>("PayscoreUserService")({
  appid: Schema.String,
  mchid: optional(Schema.String),
  mch_id: optional(Schema.String),
  sub_appid: optional(Schema.String),
  sub_mch_id: optional(Schema.String),
  service_id: Schema.String,
  openid: optional(Schema.String),
  sub_openid: optional(Schema.String),
  out_request_no: optional(Schema.String),
  user_service_status: Schema.Literal("USER_OPEN_SERVICE", "USER_CLOSE_SERVICE"),
  openorclose_time: ChinaCompactTime,
  authorization_code: optional(Schema.String)
}) {}

/**
 * What `MALL_AUTH.ACTIVATE_CARD` carries, decrypted: a user authorized
 * Business Circle member points.
 *
 * @since 0.2.0
 * @category schemas
 */
export class BusinessCircleActivation extends Schema.Class<BusinessCircleActivation>("BusinessCircleActivation")({
  openid: Schema.String,
  code: Schema.String,
  mchid: Schema.String,
  auth_type: Schema.Literal("REGISTERED_MODE", "REGISTERED_AND_AUTHORIZATION_MODE")
}) {}

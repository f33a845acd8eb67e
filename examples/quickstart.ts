// The README's quick start, type-checked by `npm test` (it is not run: it would call WeChat Pay).
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { BusinessCircle, Payscore, Wechatpay } from "effect-wechatpay"

const program = Effect.gen(function*() {
  const record = yield* Payscore.getPermissionsByOpenid({
    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    params: { service_id: "500001", appid: "wxd678efh567hg6787" }
  })
  yield* Console.log(record.authorization_state, record.authorization_success_time)

  const points = yield* BusinessCircle.getUserAuthorization({
    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    params: { appid: "wxd678efh567hg6787" }
  })
  yield* Console.log(points.authorize_state)
}).pipe(
  Effect.catchTags({
    BusinessError: (e) => Console.error(`WeChat Pay said ${e.code}: ${e.serverMessage} (Request-ID ${e.requestId})`),
    SignatureError: (e) => Console.error(`refused a response: ${e.reason}`)
  })
)

// Signer + Verifier from WECHATPAY_* environment variables, undici as the transport.
const MainLive = Layer.merge(Wechatpay.layerConfig(), NodeHttpClient.layerUndici)

NodeRuntime.runMain(program.pipe(Effect.provide(MainLive)))

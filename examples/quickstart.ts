import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { BusinessCircle, Payscore } from "effect-wechatpay"
import { Sandbox } from "effect-wechatpay/sandbox"

const program = Effect.gen(function*() {
  const record = yield* Payscore.getPermissionsByOpenid({
    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    params: { service_id: "500001", appid: "wxd678efh567hg6787" }
  })
  yield* Console.log("Pay Score:", record.authorization_state, record.authorization_success_time)

  const points = yield* BusinessCircle.getUserAuthorization({
    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    params: { appid: "wxd678efh567hg6787" }
  })
  yield* Console.log("Business Circle:", points.authorize_state)

  yield* Payscore.getPermissionsByOpenid({
    openid: "oSomeoneWithoutARecord",
    params: { service_id: "500001", appid: "wxd678efh567hg6787" }
  })
}).pipe(
  Effect.catchTags({
    BusinessError: (e) => Console.log(`WeChat Pay said ${e.code}: ${e.serverMessage} (Request-ID ${e.requestId})`),
    SignatureError: (e) => Console.error(`refused a response: ${e.reason}`)
  })
)

// A WeChat Pay sandbox on 127.0.0.1 with demo users, and a client with keys it trusts.
// For the real API: Effect.provide(Layer.merge(Wechatpay.layerConfig(), NodeHttpClient.layerUndici))
NodeRuntime.runMain(program.pipe(Effect.provide(Sandbox.layerTest({ seed: Sandbox.demoSeed }))))

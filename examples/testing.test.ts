import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Payscore } from "effect-wechatpay"
import { Sandbox } from "effect-wechatpay/sandbox"

layer(Sandbox.layerTest())("Pay Score", (it) => {
  it.effect("a revoked user is UNAVAILABLE", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.addPayscorePermission({ service_id: "500001", appid: "wx1", openid: "o1" })
      yield* sandbox.revokePayscorePermission({ service_id: "500001", openid: "o1" })
      const record = yield* Payscore.getPermissionsByOpenid({ openid: "o1", params: { service_id: "500001", appid: "wx1" } })
      assert.strictEqual(record.authorization_state, "UNAVAILABLE")
    }))

  it.effect("WeChat Pay having a bad day is a typed error", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.injectFault({ fault: "SystemError", times: 1 })
      const error = yield* Effect.flip(Payscore.getPermissionsByOpenid({ openid: "o1", params: { service_id: "500001", appid: "wx1" } }))
      assert.strictEqual(error._tag, "BusinessError")
    }))
})

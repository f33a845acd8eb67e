import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { BusinessCircle, LookupCache, RateLimit, Wechatpay } from "effect-wechatpay"

// a page of users, one of them twice
const users = ["oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oAnotherUser", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"]

const program = Effect.forEach(users, (openid) =>
  BusinessCircle.getUserAuthorization({ openid, params: { appid: "wxd678efh567hg6787" } }).pipe(
    Effect.tap((authorization) => Console.log(openid, authorization.authorize_state))
  ))

// answers kept a minute, and WeChat Pay's 150/s for Business Circle, in this process's memory
const Fleet = Layer.mergeAll(LookupCache.layerMemory(), RateLimit.layerMemory())

program.pipe(
  Effect.provide(Fleet),
  Effect.provide(Wechatpay.layerConfig()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)

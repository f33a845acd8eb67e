import { HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer } from "effect"
import { Notifications, Wechatpay } from "effect-wechatpay"
import { createServer } from "node:http"

// Runs once per notification; if it fails, WeChat Pay is answered 500 and delivers it again later.
const handle = (n: Notifications.Notification) => {
  switch (n._tag) {
    case "PayscoreUserService":
      return Console.log(n.event_type, n.resource.openid, n.resource.openorclose_time.toISOString())
    case "BusinessCircleActivation":
      return Console.log(n.event_type, n.resource.openid, n.resource.auth_type)
    case "Other":
      return Effect.logWarning(`not handled: ${n.event_type}`)
  }
}

const NotifyServer = HttpServer.serve(Notifications.httpApp(handle)).pipe(
  HttpServer.withLogAddress,
  Layer.provide(NodeHttpServer.layerConfig(createServer, {
    port: Config.port("PORT").pipe(Config.withDefault(3000)),
    host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")) // behind your HTTPS proxy
  })),
  // the APIv3 key (WECHATPAY_APIV3_KEY or _FILE), and the Verifier from the WECHATPAY_* variables
  Layer.provide(Layer.merge(Notifications.layerConfig(), Wechatpay.layerConfig()))
)

NodeRuntime.runMain(Layer.launch(NotifyServer))

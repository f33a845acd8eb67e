/**
 * `npm start`: the library end to end against an embedded sandbox, in a few
 * seconds, with no credentials: the authorization lifecycle (pre-authorize,
 * the user authorizes, the notification arrives, terminate, the closing
 * notification arrives), then a typed business error and a forged answer.
 *
 * @internal
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import { createServer } from "node:http"
import type { BusinessError, SignatureError } from "../errors/Errors.js"
import { Sandbox } from "../sandbox/index.js"
import * as Aead from "../services/Aead.js"
import * as BusinessCircle from "../services/BusinessCircle.js"
import * as Notifications from "../services/Notifications.js"
import * as Payscore from "../services/Payscore.js"
import * as Verifier from "../services/Verifier.js"
import { rows, table } from "./render.js"

const OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
const APPID = "wxd678efh567hg6787"
const SERVICE_ID = "500001"
const CODE = "DEMO0000000000000001"
const NEW_USER = "oUpF8uDemoNewUser0000000000"

const section = (title: string, data: object) => Console.log(`\n${title}\n${table(rows(data))}`)

/** A decoded notification, for the demo's output. */
const notificationRows = (n: Notifications.Notification) =>
  table([
    ["id", n.id],
    ["event_type", n.event_type],
    ...rows(n.resource as object).map(([k, v]) => [`resource.${k}`, v] as const)
  ])

/** @internal */
export const demo = (notifications: Queue.Dequeue<Notifications.Notification>) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    // a notification that does not arrive within seconds is a bug of the demo's, not a typed failure
    const next = Queue.take(notifications).pipe(Effect.timeout("5 seconds"), Effect.orDie)
    yield* Console.log(`effect-wechatpay demo: an embedded WeChat Pay sandbox at ${sandbox.baseUrl}`)
    yield* Console.log("Every request is signed and every answer verified; notifications are verified and decrypted.")

    // The lifecycle of one user's Pay Score authorization.
    const { apply_permissions_token } = yield* Payscore.applyPermissions({
      data: { service_id: SERVICE_ID, appid: APPID, authorization_code: CODE }
    })
    yield* Console.log(`\n1. Pre-authorized ${CODE}: apply_permissions_token ${apply_permissions_token.slice(0, 12)}…`)
    yield* Console.log("   (the mini program opens WeChat's authorization page with it; the user agrees)")
    yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: NEW_USER, authorization_code: CODE })
    yield* Console.log(`\n2. The notification that arrived at Notifications.httpApp\n${notificationRows(yield* next)}`)
    const opened = yield* Payscore.getPermissionsByOpenid({ openid: NEW_USER, params: { service_id: SERVICE_ID, appid: APPID } })
    yield* section("3. Pay Score authorization by openid", opened)
    yield* Payscore.terminatePermissionsByAuthorizationCode({
      authorization_code: CODE,
      data: { service_id: SERVICE_ID, reason: "the user closed the account" }
    })
    yield* Console.log(`\n4. Terminated; the notification that arrived\n${notificationRows(yield* next)}`)
    const closed = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: CODE, params: { service_id: SERVICE_ID } })
    yield* section("5. Pay Score authorization by authorization_code", closed)

    const points = yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })
    yield* section("6. Business Circle member-points authorization", points)

    // A business error, caught by its tag.
    yield* Console.log("\n7. An openid with no Pay Score record")
    yield* Payscore.getPermissionsByOpenid({
      openid: "oUnknownUser000000000000000",
      params: { service_id: SERVICE_ID, appid: APPID }
    }).pipe(
      Effect.flatMap(() => Effect.dieMessage("expected ORDER_NOT_EXIST")),
      Effect.catchTag("BusinessError", (e: BusinessError) =>
        Console.log(
          `  caught BusinessError ${e.status} ${e.code}: ${e.serverMessage} (verified: ${e.verified})\n  Request-ID: ${e.requestId}`
        ))
    )

    // A forged response: the sandbox alters the body after signing it.
    yield* Console.log("\n8. A response tampered with in transit")
    yield* sandbox.injectFault({ fault: "TamperBody", times: 1 })
    yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } }).pipe(
      Effect.flatMap(() => Effect.dieMessage("expected a SignatureError")),
      Effect.catchTag("SignatureError", (e: SignatureError) =>
        Console.log(`  caught SignatureError ${e.reason}: ${e.description}\n  Request-ID: ${e.requestId}`))
    )
    yield* Console.log(
      `\nDone ${Math.round(process.uptime() * 1000)} ms after the process started. Run \`npm test\` for the full suite.`
    )
  })

/**
 * The demo with the merchant's side (a notify server on 127.0.0.1 serving
 * `Notifications.httpApp`), the sandbox delivering to it, and the transport.
 * The notify server starts first, so the sandbox knows where to deliver; it
 * verifies with the sandbox's keys, handed to it once the sandbox is up.
 *
 * @internal
 */
export const runDemo = Effect.gen(function*() {
  const notifications = yield* Queue.unbounded<Notifications.Notification>()
  const keys = yield* Deferred.make<Context.Context<Verifier.Verifier | Notifications.ApiV3Key>>()
  const handle = Notifications.httpApp((n) => Queue.offer(notifications, n))
  const app = Effect.flatMap(Deferred.await(keys), (context) => Effect.provide(handle, context))
  const server = yield* Layer.build(
    HttpServer.serve(app).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
  )
  const notifyUrl = yield* HttpServer.addressFormattedWith((url) => Effect.succeed(`${url}/wechatpay/notify`)).pipe(
    Effect.provide(server)
  )
  const client = yield* Layer.build(
    Layer.merge(Sandbox.layerClient({ seed: Sandbox.demoSeed, notifyUrl }), NodeHttpClient.layerUndici)
  )
  const [sandbox, verifier] = yield* Effect.provide(Effect.all([Sandbox.Sandbox, Verifier.Verifier]), client)
  const apiV3Key = yield* Aead.apiV3Key(sandbox.credentials.apiV3Key)
  yield* Deferred.succeed(keys, Context.make(Verifier.Verifier, verifier).pipe(Context.add(Notifications.ApiV3Key, apiV3Key)))
  return yield* demo(notifications).pipe(Effect.provide(client))
}).pipe(Effect.scoped)

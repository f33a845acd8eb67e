/**
 * `npm start`: the library end to end against an embedded sandbox, in a few
 * seconds, with no credentials.
 *
 * @internal
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { BusinessError, SignatureError } from "../errors/Errors.js"
import { Sandbox } from "../sandbox/index.js"
import * as BusinessCircle from "../services/BusinessCircle.js"
import * as Payscore from "../services/Payscore.js"
import { rows, table } from "./render.js"

const OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
const APPID = "wxd678efh567hg6787"
const SERVICE_ID = "500001"

const section = (title: string, data: object) => Console.log(`\n${title}\n${table(rows(data))}`)

/** @internal */
export const demo = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  yield* Console.log(`effect-wechatpay demo: an embedded WeChat Pay sandbox at ${sandbox.baseUrl}`)
  yield* Console.log("Every request below is signed, sent over HTTP, and its response verified and decoded.")

  // Three lookups composed into one pipeline.
  const [byOpenid, byCode, points] = yield* Effect.all([
    Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }),
    Payscore.getPermissionsByAuthorizationCode({
      authorization_code: "8964323JKHDFE1249876",
      params: { service_id: SERVICE_ID }
    }),
    BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } })
  ], { concurrency: 3 })
  yield* section("1. Pay Score authorization by openid", byOpenid)
  yield* section("2. Pay Score authorization by authorization_code", byCode)
  yield* section("3. Business Circle member-points authorization", points)

  // A business error, caught by its tag.
  yield* Console.log("\n4. An openid with no Pay Score record")
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
  yield* Console.log("\n5. A response tampered with in transit")
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

/** The demo with its sandbox and transport. @internal */
export const runDemo = demo.pipe(
  Effect.provide(Layer.merge(Sandbox.layerClient({ seed: Sandbox.demoSeed }), NodeHttpClient.layerUndici))
)

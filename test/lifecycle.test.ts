import * as HttpServer from "@effect/platform/HttpServer"
import { layerUndici as Transport } from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { createServer } from "node:http"
import { Notifications, Payscore } from "../src/index.js"
import { Sandbox } from "../src/sandbox/index.js"
import { eventually, freePort } from "./helpers/loopback.js"

/**
 * The whole authorization lifecycle over real HTTP: the merchant's calls to
 * the sandbox, and the sandbox's signed, encrypted notifications to the
 * merchant's Notifications.httpApp, redelivered on WeChat Pay's schedule
 * (a thousand times faster).
 */

const SERVICE_ID = "500001"
const APPID = "wxd678efh567hg6787"

/** What the merchant's handler saw, and what it should do with the next one. */
const merchant = () => {
  const handled: Array<Notifications.Notification> = []
  let failuresLeft = 0
  const handler = (n: Notifications.Notification) =>
    Effect.suspend(() => {
      if (failuresLeft > 0) {
        failuresLeft--
        return Effect.fail("not now")
      }
      handled.push(n)
      return Effect.void
    })
  return { handled, handler, failNext: (times: number) => void (failuresLeft = times) }
}

/** What `Sandbox.layerTest` provides. */
type Client = Layer.Layer.Success<ReturnType<typeof Sandbox.layerTest>>

/** Starts the merchant's notify server, then a sandbox that delivers to it; runs `use` with both. */
const withMerchant = <A, E>(
  handler: (n: Notifications.Notification) => Effect.Effect<void, string>,
  use: (notifyUrl: string) => Effect.Effect<A, E, Client>
) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const notifyUrl = `http://127.0.0.1:${port}/wechatpay/notify`
    const client = Sandbox.layerTest({ httpClient: Transport, notifyUrl, notifyTimeScale: 0.001 })
    const merchantServer = HttpServer.serve(Notifications.httpApp(handler)).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
      Layer.provide(Layer.unwrapEffect(Effect.map(Sandbox.Sandbox, (s) => Notifications.layer({ apiV3Key: s.credentials.apiV3Key })))),
      Layer.provide(Notifications.layerMemoryDedupe()),
      // the failures these tests provoke are logged by the app; not into the test output
      Layer.provide(Logger.remove(Logger.defaultLogger))
    )
    return yield* use(notifyUrl).pipe(Effect.provide(Layer.provideMerge(merchantServer, client)))
  }).pipe(Effect.scoped)

describe("the authorization lifecycle against the sandbox", () => {
  it.live("apply, the user authorizes (notified), AVAILABLE; terminate (notified), UNAVAILABLE", () => {
    const m = merchant()
    return withMerchant(m.handler, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const { apply_permissions_token } = yield* Payscore.applyPermissions({
          data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "LIFE1", notify_url: "https://merchant.example.com/notify" }
        })
        assert.isString(apply_permissions_token)
        yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: "oLife1", authorization_code: "LIFE1" })
        assert.isTrue(yield* eventually(() => m.handled.length === 1), "the open notification arrived")
        const opened = m.handled[0]!
        assert.strictEqual(opened._tag, "PayscoreUserService")
        if (opened._tag !== "PayscoreUserService") return
        assert.strictEqual(opened.event_type, "PAYSCORE.USER_OPEN_SERVICE")
        assert.strictEqual(opened.resource.openid, "oLife1")
        assert.strictEqual(opened.resource.authorization_code, "LIFE1")
        assert.instanceOf(opened.resource.openorclose_time, Date)
        const record = yield* Payscore.getPermissionsByOpenid({ openid: "oLife1", params: { service_id: SERVICE_ID, appid: APPID } })
        assert.strictEqual(record.authorization_state, "AVAILABLE")

        yield* Payscore.terminatePermissionsByAuthorizationCode({ authorization_code: "LIFE1", data: { service_id: SERVICE_ID, reason: "用户注销" } })
        assert.isTrue(yield* eventually(() => m.handled.length === 2), "the close notification arrived")
        const closed = m.handled[1]!
        assert.isTrue(closed._tag === "PayscoreUserService" && closed.resource.user_service_status === "USER_CLOSE_SERVICE")
        const after = yield* Payscore.getPermissionsByAuthorizationCode({ authorization_code: "LIFE1", params: { service_id: SERVICE_ID } })
        assert.strictEqual(after.authorization_state, "UNAVAILABLE")
        assert.instanceOf(after.cancel_authorization_time, Date)
      }))
  })

  it.live("a failing handler is answered 500; the sandbox delivers again on WeChat Pay's schedule until it is handled", () => {
    const m = merchant()
    m.failNext(2)
    return withMerchant(m.handler, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const id = yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: "oRetry" })
        assert.isTrue(yield* eventually(() => m.handled.length === 1), "handled on the third delivery")
        // the sandbox logs a delivery once the merchant's answer is in
        let deliveries: ReadonlyArray<Sandbox.NotificationDelivery> = []
        for (let i = 0; i < 100 && !deliveries.some((d) => d.status === 204); i++) {
          deliveries = (yield* sandbox.notifications).filter((d) => d.id === id)
          yield* Effect.sleep("10 millis")
        }
        assert.deepStrictEqual(deliveries.map((d) => [d.attempt, d.status]), [[1, 500], [2, 500], [3, 204]])
        // 15 s and 15 s apart at WeChat Pay's pace, here a thousandth of it
        assert.isAtLeast(deliveries[2]!.at - deliveries[0]!.at, 30)
      }))
  })

  it.live("duplicates, at once or later, run the handler once; a probe is refused with 401", () => {
    const m = merchant()
    return withMerchant(m.handler, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const id = yield* sandbox.activateBusinessCircle({ appid: APPID, openid: "oPoints" }, { copies: 3 })
        assert.isTrue(yield* eventually(() => m.handled.length === 1))
        assert.strictEqual(yield* sandbox.redeliver(id!), 204)
        assert.strictEqual(m.handled.length, 1)
        const points = m.handled[0]!
        assert.isTrue(points._tag === "BusinessCircleActivation" && points.resource.openid === "oPoints")
        assert.strictEqual(yield* sandbox.sendProbe(), 401)
        assert.strictEqual(m.handled.length, 1)
      }))
  })

  it.live("the sandbox's own routes do the same for clients that are not Effect programs", () => {
    const m = merchant()
    return withMerchant(m.handler, () =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const post = (path: string, body: unknown) =>
          Effect.promise(() =>
            fetch(`${sandbox.baseUrl}${path}`, { method: "POST", body: JSON.stringify(body) }).then((r) => r.json() as Promise<Record<string, unknown>>)
          )
        const opened = yield* post("/sandbox/payscore/open", { service_id: SERVICE_ID, appid: APPID, openid: "oAdmin" })
        assert.isString(opened.notification_id)
        assert.isTrue(yield* eventually(() => m.handled.length === 1))
        yield* post("/sandbox/payscore/close", { service_id: SERVICE_ID, openid: "oAdmin" })
        assert.isTrue(yield* eventually(() => m.handled.length === 2))
        assert.deepStrictEqual(yield* post("/sandbox/notifications/probe", {}), { status: 401 })
        const log = () =>
          Effect.promise(() => fetch(`${sandbox.baseUrl}/sandbox/notifications`).then((r) => r.json() as Promise<Array<{ status: number; probe: boolean }>>))
        let statuses: Array<string> = []
        for (let i = 0; i < 100 && statuses.length < 3; i++) {
          statuses = (yield* log()).map((d) => `${d.probe ? "probe " : ""}${d.status}`).sort()
          yield* Effect.sleep("10 millis")
        }
        assert.deepStrictEqual(statuses, ["204", "204", "probe 401"])
      }))
  })
})

describe("where the sandbox delivers", () => {
  it.live("only to this machine: a record's notify_url on the internet, or one named to the admin routes, is never reached", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* Payscore.applyPermissions({
        data: { service_id: SERVICE_ID, appid: APPID, authorization_code: "REMOTE1", notify_url: "https://merchant.example.com/notify" }
      })
      const id = yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: "oRemote1", authorization_code: "REMOTE1" })
      assert.isUndefined(id, "nothing sent")
      const viaRoute = yield* Effect.promise(() =>
        fetch(`${sandbox.baseUrl}/sandbox/payscore/open`, {
          method: "POST",
          body: JSON.stringify({ service_id: SERVICE_ID, appid: APPID, openid: "oRemote2", notify_url: "http://10.1.2.3/notify" })
        }).then((r) => r.json() as Promise<Record<string, unknown>>)
      )
      assert.isNull(viaRoute.notification_id)
      assert.isUndefined(yield* sandbox.sendProbe("http://169.254.169.254/latest"))
      assert.deepStrictEqual(yield* sandbox.notifications, [])
    }).pipe(Effect.provide(Sandbox.layerTest({ httpClient: Transport }))))

  it.live("a redirect is the merchant's answer, not followed", () =>
    Effect.gen(function*() {
      let reached = 0
      const target = yield* freePort
      const redirector = yield* freePort
      const servers = [
        createServer((_, res) => void (reached++, res.end())).listen(target, "127.0.0.1"),
        createServer((_, res) => res.writeHead(307, { location: `http://127.0.0.1:${target}/` }).end()).listen(redirector, "127.0.0.1")
      ]
      yield* Effect.addFinalizer(() => Effect.sync(() => servers.forEach((s) => s.close())))
      const sandbox = yield* Sandbox.make({ notifyUrl: `http://127.0.0.1:${redirector}/`, notifyTimeScale: 0 })
      yield* sandbox.openPayscore({ service_id: SERVICE_ID, appid: APPID, openid: "oRedirect" })
      // with no delay between deliveries, several are made at once: none is a 2xx
      let deliveries = yield* sandbox.notifications
      for (let i = 0; i < 200 && deliveries.length < 3; i++) {
        yield* Effect.sleep("10 millis")
        deliveries = yield* sandbox.notifications
      }
      assert.isAtLeast(deliveries.length, 3)
      assert.isTrue(deliveries.every((d) => d.status === 307))
      assert.strictEqual(reached, 0)
    }).pipe(Effect.scoped))

  it.effect("a notifyTimeScale that is not a finite number ≥ 0, or a notifyUrl elsewhere, is refused", () =>
    Effect.gen(function*() {
      for (const notifyTimeScale of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
        const exit = yield* Effect.exit(Effect.scoped(Sandbox.make({ notifyTimeScale })))
        assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes("notifyTimeScale"))
      }
      for (const notifyUrl of ["https://merchant.example.com/notify", "http://127.0.0.1.example.com/", "file:///etc/passwd"]) {
        const exit = yield* Effect.exit(Effect.scoped(Sandbox.make({ notifyUrl })))
        assert.isTrue(exit._tag === "Failure" && String(exit.cause).includes("notifyUrl"), notifyUrl)
      }
    }))
})

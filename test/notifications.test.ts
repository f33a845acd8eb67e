import * as Headers from "@effect/platform/Headers"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpApp from "@effect/platform/HttpApp"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Config, ConfigProvider, Deferred, Effect, Fiber, Layer, Logger, Redacted } from "effect"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { DedupeError, Notifications, Verifier } from "../src/index.js"
import { generateRsa, selfSignedCertificate } from "./helpers/keys.js"
import { eventually } from "./helpers/loopback.js"

/**
 * Notifications built and signed here with node:crypto alone (not with the
 * library's own signing or encryption), then parsed and served.
 */

const PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
const CERT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
const platform = generateRsa()
const certificatePlatform = generateRsa()
const certificate = selfSignedCertificate(certificatePlatform, CERT_SERIAL)
const apiV3KeyText = crypto.randomBytes(16).toString("hex")

const layers = Layer.mergeAll(
  Verifier.layer({ publicKeys: { [PUB_KEY_ID]: platform.publicKeyPem }, certificates: [certificate] }),
  Notifications.layer({ apiV3Key: Redacted.make(apiV3KeyText) })
)

interface Build {
  readonly eventType?: string
  readonly plaintext?: unknown
  readonly associatedData?: string
  /** The associated data the envelope says, when it is not what the resource was encrypted with. */
  readonly associatedDataSent?: string
  readonly keyText?: string
  readonly serial?: string
  readonly signer?: crypto.KeyObject
  readonly timestampOffset?: number
  readonly signature?: (good: string) => string
  /** Changes the body after it was signed (tampering). */
  readonly alter?: (body: string) => string
  /** Replaces the body before it is signed. */
  readonly rewrite?: (body: string) => string
  readonly id?: string
}

/** A notification as WeChat Pay sends it: AES-256-GCM resource, RSA-SHA256 over timestamp, nonce, body. */
const build = (options: Build = {}) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const nonce = crypto.randomBytes(6).toString("hex")
    const associatedData = options.associatedData ?? "payscore"
    const cipher = crypto.createCipheriv("aes-256-gcm", Buffer.from(options.keyText ?? apiV3KeyText), Buffer.from(nonce))
    cipher.setAAD(Buffer.from(associatedData))
    const plaintext = JSON.stringify(options.plaintext ?? payscorePlaintext("USER_OPEN_SERVICE"))
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64")
    const envelope = JSON.stringify({
      id: options.id ?? `EV-${crypto.randomUUID()}`,
      create_time: "2015-05-20T13:29:35+08:00",
      resource_type: "encrypt-resource",
      event_type: options.eventType ?? "PAYSCORE.USER_OPEN_SERVICE",
      summary: "支付分服务开通",
      resource: {
        original_type: "payscore",
        algorithm: "AEAD_AES_256_GCM",
        ciphertext,
        associated_data: options.associatedDataSent ?? associatedData,
        nonce
      }
    })
    const signedBody = options.rewrite?.(envelope) ?? envelope
    const timestamp = String(Math.floor(now / 1000) + (options.timestampOffset ?? 0))
    const wechatNonce = crypto.randomBytes(16).toString("hex")
    const signature = crypto.sign("sha256", Buffer.from(`${timestamp}\n${wechatNonce}\n${signedBody}\n`), options.signer ?? platform.privateKey)
      .toString("base64")
    return {
      headers: {
        "Wechatpay-Serial": options.serial ?? PUB_KEY_ID,
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": wechatNonce,
        "Wechatpay-Signature": options.signature?.(signature) ?? signature,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Content-Type": "application/json"
      } as Record<string, string>,
      body: options.alter?.(signedBody) ?? signedBody
    }
  })

const payscorePlaintext = (status: "USER_OPEN_SERVICE" | "USER_CLOSE_SERVICE") => ({
  appid: "wxd678efh567hg6787",
  mchid: "1230000109",
  out_request_no: "1234323JKHDFE1243252",
  service_id: "500001",
  openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
  user_service_status: status,
  openorclose_time: "20180225112233",
  authorization_code: "1234323JKHDFE1243252"
})

describe("Notifications.parse", () => {
  it.effect("a Pay Score open notification: verified, decrypted, decoded, times as Dates", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const n = yield* Effect.flatMap(build({ id: "EV-2018022511223320873" }), Notifications.parse)
      assert.strictEqual(n._tag, "PayscoreUserService")
      if (n._tag !== "PayscoreUserService") return
      assert.strictEqual(n.event_type, "PAYSCORE.USER_OPEN_SERVICE")
      assert.strictEqual(n.id, "EV-2018022511223320873")
      assert.strictEqual(n.create_time.toISOString(), "2015-05-20T05:29:35.000Z")
      assert.strictEqual(n.resource.openid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
      assert.strictEqual(n.resource.user_service_status, "USER_OPEN_SERVICE")
      // 2018-02-25 11:22:33 in China is 03:22:33 UTC
      assert.strictEqual(n.resource.openorclose_time.toISOString(), "2018-02-25T03:22:33.000Z")
    }).pipe(Effect.provide(layers)))

  it.effect("partner-mode close, Business Circle activation, and an event this library does not model", () =>
    Effect.gen(function*() {
      const partner = yield* Effect.flatMap(build({
        eventType: "PAYSCORE.USER_CLOSE_SERVICE",
        plaintext: {
          appid: "wxd678efh567hg6787",
          mch_id: "1230000109",
          sub_appid: "wxd678efh567hg6999",
          sub_mch_id: "1900000109",
          service_id: "500001",
          sub_openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
          user_service_status: "USER_CLOSE_SERVICE",
          openorclose_time: "20180225112233",
          authorization_code: "1234323JKHDFE1243252"
        }
      }), Notifications.parse)
      assert.isTrue(partner._tag === "PayscoreUserService" && partner.resource.sub_mch_id === "1900000109")
      const points = yield* Effect.flatMap(build({
        eventType: "MALL_AUTH.ACTIVATE_CARD",
        associatedData: "",
        plaintext: { openid: "oUser", code: "MEMBER1", mchid: "1230000109", auth_type: "REGISTERED_MODE" }
      }), Notifications.parse)
      assert.isTrue(points._tag === "BusinessCircleActivation" && points.resource.code === "MEMBER1")
      const other = yield* Effect.flatMap(build({
        eventType: "TRANSACTION.SUCCESS",
        associatedData: "transaction",
        plaintext: { out_trade_no: "1217752501201407033233368018", amount: { total: 100 } }
      }), Notifications.parse)
      assert.strictEqual(other._tag, "Other")
      assert.strictEqual(other.event_type, "TRANSACTION.SUCCESS")
      assert.deepStrictEqual(other.resource, { out_trade_no: "1217752501201407033233368018", amount: { total: 100 } })
    }).pipe(Effect.provide(layers)))

  it.effect("headers in any case, as platform Headers, the body as bytes or text; signed by a platform certificate", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const { body, headers } = yield* build({ serial: CERT_SERIAL.toLowerCase(), signer: certificatePlatform.privateKey })
      const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
      yield* Notifications.parse({ headers: upper, body: Buffer.from(body) })
      yield* Notifications.parse({ headers: Headers.fromInput(headers), body })
    }).pipe(Effect.provide(layers)))

  it.effect("each way a notification can fail verification is a SignatureError naming it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const reasonOf = (options: Build, strip?: string) =>
        build(options).pipe(
          Effect.map(({ body, headers }) => ({
            body,
            headers: strip === undefined ? headers : Object.fromEntries(Object.entries(headers).filter(([k]) => k !== strip))
          })),
          Effect.flatMap(Notifications.parse),
          Effect.flip,
          Effect.map((e) => e._tag === "SignatureError" ? e.reason : e._tag)
        )
      assert.strictEqual(yield* reasonOf({ alter: (b) => b.replace("支付分服务开通", "x") }), "InvalidSignature")
      assert.strictEqual(yield* reasonOf({ timestampOffset: -301 }), "TimestampSkew")
      assert.strictEqual(yield* reasonOf({ timestampOffset: 301 }), "TimestampSkew")
      assert.strictEqual(yield* reasonOf({ signature: (s) => `WECHATPAY/SIGNTEST/${s}` }), "MalformedSignature")
      assert.strictEqual(yield* reasonOf({ serial: "PUB_KEY_ID_0000000000000000000000000000" }), "UnknownSerial")
      assert.strictEqual(yield* reasonOf({ signer: certificatePlatform.privateKey }), "InvalidSignature")
      assert.strictEqual(yield* reasonOf({}, "Wechatpay-Signature"), "MissingHeaders")
    }).pipe(Effect.provide(layers)))

  it.effect("a wrong APIv3 key, altered associated data, or an undocumented body: DecryptError or DecodeError", () =>
    Effect.gen(function*() {
      const tagOf = (options: Build) =>
        Effect.map(Effect.flip(Effect.flatMap(build(options), Notifications.parse)), (e) => `${e._tag}${"reason" in e ? ` ${e.reason}` : ""}`)
      assert.strictEqual(yield* tagOf({ keyText: crypto.randomBytes(16).toString("hex") }), "DecryptError AuthenticationFailed")
      assert.strictEqual(yield* tagOf({ associatedDataSent: "transaction" }), "DecryptError AuthenticationFailed")
      assert.strictEqual(yield* tagOf({ rewrite: () => "{not json" }), "DecodeError")
      assert.strictEqual(yield* tagOf({ rewrite: () => JSON.stringify({ id: "EV-1" }) }), "DecodeError")
      assert.strictEqual(yield* tagOf({ plaintext: { ...payscorePlaintext("USER_OPEN_SERVICE"), openorclose_time: "2018-02-25" } }), "DecodeError")
      assert.strictEqual(yield* tagOf({ plaintext: { ...payscorePlaintext("USER_OPEN_SERVICE"), user_service_status: "MAYBE" } }), "DecodeError")
    }).pipe(Effect.provide(layers)))
})

/** What the server logged: level and message text. */
type Logged = Array<{ readonly level: string; readonly text: string }>

/** `app` served on 127.0.0.1 for the span of `use(url)`, with an in-memory store unless given one. */
const serving = <A, E>(
  app: HttpApp.Default<never, Verifier.Verifier | Notifications.ApiV3Key>,
  use: (url: string) => Effect.Effect<A, E>,
  options: { readonly dedupe?: Notifications.DedupeService | "default"; readonly logged?: Logged } = {}
) =>
  Effect.gen(function*() {
    const url = yield* HttpServer.addressFormattedWith((address) => Effect.succeed(address))
    return yield* use(url)
  }).pipe(
    Effect.provide(HttpServer.serve(app).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Layer.provide(layers),
      Layer.provide(
        options.dedupe === undefined
          ? Notifications.layerMemoryDedupe()
          : options.dedupe === "default"
          ? Layer.empty
          : Layer.succeed(Notifications.Dedupe, options.dedupe)
      ),
      Layer.provide(Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ cause, logLevel, message }) =>
          options.logged?.push({
            level: logLevel.label,
            text: `${Array.isArray(message) ? message.join(" ") : String(message)} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`
          })
        )
      ))
    )),
    Effect.scoped
  )

/** POSTs a notification; answers the status and the JSON body, if any. */
const deliver = (url: string, n: { readonly headers: Record<string, string>; readonly body: string }) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", headers: n.headers, body: n.body })
    const text = await response.text()
    return { status: response.status, body: text.length === 0 ? undefined : JSON.parse(text) as { code: string; message: string } }
  })

describe("Notifications.httpApp over real HTTP", () => {
  it.live("204 when handled; 401 when verification fails (handler not run); 400 for a wrong key or a bad body; 405, 413", () => {
    const handled: Array<Notifications.Notification> = []
    const app = Notifications.httpApp((n) => Effect.sync(() => handled.push(n)))
    return serving(app, (url) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* deliver(url, yield* build())).status, 204)
        assert.strictEqual(handled.length, 1)
        assert.strictEqual(handled[0]!._tag, "PayscoreUserService")
        const tampered = yield* build({ alter: (b) => b.replace("支付分服务开通", "x") })
        const refused = yield* deliver(url, tampered)
        assert.strictEqual(refused.status, 401)
        assert.strictEqual(refused.body?.code, "FAIL")
        assert.notInclude(refused.body!.message, tampered.headers["Wechatpay-Signature"]!)
        assert.strictEqual((yield* deliver(url, yield* build({ signature: (s) => `WECHATPAY/SIGNTEST/${s}` }))).status, 401)
        assert.strictEqual((yield* deliver(url, yield* build({ timestampOffset: -600 }))).status, 401)
        assert.strictEqual((yield* deliver(url, yield* build({ serial: "PUB_KEY_ID_0000000000000000000000000000" }))).status, 401)
        assert.strictEqual((yield* deliver(url, yield* build({ keyText: crypto.randomBytes(16).toString("hex") }))).status, 400)
        assert.strictEqual((yield* deliver(url, yield* build({ associatedDataSent: "transaction" }))).status, 400)
        assert.strictEqual((yield* deliver(url, yield* build({ rewrite: () => "[]" }))).status, 400)
        assert.strictEqual(handled.length, 1, "the handler ran for the good notification only")
        const get = yield* Effect.promise(() => fetch(url))
        assert.strictEqual(get.status, 405)
        const big = yield* Effect.promise(() => fetch(url, { method: "POST", body: "x".repeat(1024 * 1024 + 1) }))
        assert.strictEqual(big.status, 413)
      }))
  })

  it.live("a failing handler answers 500 and runs again on the next delivery; then duplicates are answered 204 without running it", () => {
    let runs = 0
    const app = Notifications.httpApp(() =>
      Effect.suspend(() => ++runs === 1 ? Effect.fail("database down") : Effect.void)
    )
    return serving(app, (url) =>
      Effect.gen(function*() {
        const n = yield* build()
        const first = yield* deliver(url, n)
        assert.strictEqual(first.status, 500)
        assert.strictEqual(first.body?.code, "FAIL")
        assert.strictEqual((yield* deliver(url, n)).status, 204)
        assert.strictEqual((yield* deliver(url, n)).status, 204)
        assert.strictEqual(runs, 2)
      }))
  })

  it.live("a duplicate arriving while the first delivery is being handled does not run the handler again", () => {
    let runs = 0
    const gate = Effect.runSync(Deferred.make<void>())
    const app = Notifications.httpApp(() => Effect.zipRight(Effect.sync(() => runs++), Deferred.await(gate)))
    return serving(app, (url) =>
      Effect.gen(function*() {
        const n = yield* build()
        const first = yield* Effect.fork(deliver(url, n))
        while (runs === 0) yield* Effect.sleep("5 millis")
        const concurrent = yield* deliver(url, n)
        assert.strictEqual(concurrent.status, 500, "busy: WeChat Pay delivers it again later")
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual((yield* Fiber.join(first)).status, 204)
        assert.strictEqual((yield* deliver(url, n)).status, 204)
        assert.strictEqual(runs, 1)
      }))
  })

  it.live("failures are logged, refusals as warnings (never with the signature), a handler's failure as an error with its cause", () => {
    const logged: Logged = []
    const app = Notifications.httpApp(() => Effect.fail("database down"))
    return serving(app, (url) =>
      Effect.gen(function*() {
        const tampered = yield* build({ alter: (b) => b.replace("支付分服务开通", "x") })
        assert.strictEqual((yield* deliver(url, tampered)).status, 401)
        assert.strictEqual((yield* deliver(url, yield* build())).status, 500)
        const warning = logged.find((l) => l.level === "WARN")
        assert.include(warning?.text, "InvalidSignature")
        assert.notInclude(warning?.text, tampered.headers["Wechatpay-Signature"]!)
        const error = logged.find((l) => l.level === "ERROR")
        assert.include(error?.text, "database down")
      }), { logged })
  })

  it.live("a handler that dies, or is interrupted (made interruptible, the client hung up), leaves the notification to the next delivery", () => {
    let runs = 0
    let interrupted = false
    const app = Notifications.httpApp(() =>
      Effect.suspend(() => {
        runs++
        return runs === 1
          ? Effect.die(new Error("bug"))
          : runs === 2
          ? Effect.onInterrupt(Effect.never, () => Effect.sync(() => void (interrupted = true)))
          : Effect.void
      })
    )
    // @effect/platform runs an app uninterruptibly (a handler finishes even when the client hangs up);
    // made interruptible, an aborted Request interrupts it (HttpApp.toWebHandler)
    const handler = HttpApp.toWebHandler(
      Effect.interruptible(app).pipe(
        Effect.provide(Layer.mergeAll(layers, Notifications.layerMemoryDedupe(), Logger.remove(Logger.defaultLogger)))
      )
    )
    return Effect.gen(function*() {
      const n = yield* build()
      const post = (signal?: AbortSignal) =>
        new Request("http://127.0.0.1/notify", { method: "POST", headers: n.headers, body: n.body, ...(signal ? { signal } : {}) })
      assert.strictEqual((yield* Effect.promise(() => handler(post()))).status, 500, "a defect is a failure too")
      const controller = new AbortController()
      void handler(post(controller.signal))
      while (runs < 2) yield* Effect.sleep("5 millis")
      controller.abort()
      assert.isTrue(yield* eventually(() => interrupted), "the handler was interrupted")
      assert.strictEqual((yield* Effect.promise(() => handler(post()))).status, 204, "the claim was released: the next delivery runs it")
      assert.strictEqual(runs, 3)
    })
  })

  it.live("served by HttpServer, a handler runs to its end even when WeChat Pay hangs up, and the notification is then handled", () => {
    let runs = 0
    let finished = false
    const gate = Effect.runSync(Deferred.make<void>())
    const app = Notifications.httpApp(() =>
      Effect.sync(() => runs++).pipe(Effect.zipRight(Deferred.await(gate)), Effect.zipRight(Effect.sync(() => void (finished = true))))
    )
    return serving(app, (url) =>
      Effect.gen(function*() {
        const n = yield* build()
        const request = http.request(url, { method: "POST", headers: n.headers })
        request.on("error", () => {})
        request.end(n.body)
        while (runs === 0) yield* Effect.sleep("5 millis")
        request.destroy()
        yield* Effect.sleep("50 millis")
        yield* Deferred.succeed(gate, undefined)
        assert.isTrue(yield* eventually(() => finished))
        assert.strictEqual((yield* deliver(url, n)).status, 204)
        assert.strictEqual(runs, 1)
      }))
  })

  it.live("without a store provided, the process-wide one in memory dedupes, across apps", () => {
    let runs = 0
    const app = () => Notifications.httpApp(() => Effect.sync(() => runs++))
    return Effect.gen(function*() {
      const n = yield* build()
      yield* serving(app(), (url) => deliver(url, n), { dedupe: "default" })
      const again = yield* serving(app(), (url) => deliver(url, n), { dedupe: "default" })
      assert.strictEqual(again.status, 204)
      assert.strictEqual(runs, 1)
    })
  })

  it.live("a store that dies after the handler succeeded: answered 204, logged; one whose claim dies: 500 and released", () => {
    let runs = 0
    const released: Array<string> = []
    const logged: Logged = []
    const dying = (on: "claim" | "complete"): Notifications.DedupeService => ({
      claim: () => on === "claim" ? Effect.die(new Error("store crashed")) : Effect.succeed("claimed"),
      complete: () => Effect.die(new Error("store crashed")),
      release: (id) => Effect.sync(() => void released.push(id))
    })
    const app = Notifications.httpApp(() => Effect.sync(() => runs++))
    return Effect.gen(function*() {
      const n = yield* build()
      assert.strictEqual((yield* serving(app, (url) => deliver(url, n), { dedupe: dying("complete"), logged })).status, 204)
      assert.strictEqual(runs, 1)
      assert.include(logged.find((l) => l.level === "ERROR")?.text, "store crashed")
      assert.strictEqual((yield* serving(app, (url) => deliver(url, n), { dedupe: dying("claim") })).status, 500)
      assert.strictEqual(runs, 1)
      assert.lengthOf(released, 1, "the claim that may have been recorded was released")
    })
  })

  it.live("a store that fails is answered 500 without running the handler", () => {
    let runs = 0
    const broken: Notifications.DedupeService = {
      claim: () => Effect.fail(new DedupeError({ description: "connection refused" })),
      complete: () => Effect.void,
      release: () => Effect.void
    }
    const app = Notifications.httpApp(() => Effect.sync(() => runs++))
    return serving(app, (url) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* deliver(url, yield* build())).status, 500)
        assert.strictEqual(runs, 0)
      }), { dedupe: broken })
  })
})

describe("Notifications.memoryDedupe", () => {
  it.effect("remembers a handled id for 25 hours, then forgets it", () =>
    Effect.gen(function*() {
      const store = Notifications.memoryDedupe()
      assert.strictEqual(yield* store.claim("EV-1", "a"), "claimed")
      assert.strictEqual(yield* store.claim("EV-1", "b"), "busy")
      yield* store.complete("EV-1", "a")
      yield* TestClock.adjust("24 hours")
      assert.strictEqual(yield* store.claim("EV-1", "c"), "handled")
      yield* TestClock.adjust("61 minutes")
      assert.strictEqual(yield* store.claim("EV-1", "d"), "claimed")
      yield* store.release("EV-1", "d")
      assert.strictEqual(yield* store.claim("EV-1", "e"), "claimed")
    }))

  it.effect("only the holder releases a claim: a late failure of a lapsed claim does not forget a handled id; a late success counts", () =>
    Effect.gen(function*() {
      const store = Notifications.memoryDedupe({ claimMillis: 60_000 })
      assert.strictEqual(yield* store.claim("EV-2", "slow"), "claimed")
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual(yield* store.claim("EV-2", "fast"), "claimed", "the slow claim lapsed")
      yield* store.complete("EV-2", "fast")
      yield* store.release("EV-2", "slow")
      assert.strictEqual(yield* store.claim("EV-2", "third"), "handled")
      // a handler that outlived its claim still succeeded: the id is handled, and stays so when the
      // delivery that claimed it since fails
      assert.strictEqual(yield* store.claim("EV-3", "slow"), "claimed")
      yield* TestClock.adjust("61 seconds")
      assert.strictEqual(yield* store.claim("EV-3", "fast"), "claimed")
      yield* store.complete("EV-3", "slow")
      yield* store.release("EV-3", "fast")
      assert.strictEqual(yield* store.claim("EV-3", "third"), "handled")
    }))

  it.effect("a claim being handled is never forgotten to make room; the options are checked", () =>
    Effect.gen(function*() {
      const store = Notifications.memoryDedupe({ maxEntries: 2 })
      for (const id of ["A", "B", "C"]) assert.strictEqual(yield* store.claim(id, id), "claimed")
      assert.strictEqual(yield* store.claim("A", "again"), "busy", "A is still held")
      for (const options of [{ maxEntries: Number.NaN }, { ttlMillis: -1 }, { claimMillis: 0 }]) {
        assert.throws(() => Notifications.memoryDedupe(options), RangeError)
      }
    }))

  it.effect("holds at most maxEntries ids, forgetting the oldest first", () =>
    Effect.gen(function*() {
      const store = Notifications.memoryDedupe({ maxEntries: 3 })
      for (const id of ["A", "B", "C", "D"]) {
        yield* store.claim(id, id)
        yield* store.complete(id, id)
      }
      assert.strictEqual(yield* store.claim("D", "x"), "handled")
      assert.strictEqual(yield* store.claim("C", "x"), "handled")
      assert.strictEqual(yield* store.claim("A", "x"), "claimed", "the oldest was forgotten")
    }))
})

describe("Notifications.layerConfig", () => {
  const buildKey = (config: Parameters<typeof Notifications.layerConfig>[0], env: Record<string, string>) =>
    Effect.scoped(Layer.build(
      Notifications.layerConfig(config).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))
    ))

  it.effect("WECHATPAY_APIV3_KEY by default; a key that is not 32 bytes is refused naming the variable, not quoting the key", () =>
    Effect.gen(function*() {
      yield* buildKey(undefined, { WECHATPAY_APIV3_KEY: apiV3KeyText })
      const short = yield* Effect.flip(buildKey(undefined, { WECHATPAY_APIV3_KEY: "too short" }))
      assert.include(String(short), "WECHATPAY_APIV3_KEY")
      assert.notInclude(String(short), "too short")
      const missing = yield* Effect.flip(buildKey(undefined, {}))
      assert.include(String(missing), "WECHATPAY_APIV3_KEY_FILE")
    }))

  it.effect("or WECHATPAY_APIV3_KEY_FILE, a file whose one trailing line break is not part of the key (not both variables)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "apiv3-"))
      const file = path.join(dir, "apiv3_key")
      fs.writeFileSync(file, `${apiV3KeyText}\n`)
      const context = yield* buildKey(undefined, { WECHATPAY_APIV3_KEY_FILE: file })
      const notification = yield* build()
      const parsed = yield* Notifications.parse(notification).pipe(Effect.provide(Layer.merge(
        Layer.succeedContext(context),
        Verifier.layer({ publicKeys: { [PUB_KEY_ID]: platform.publicKeyPem }, certificates: [certificate] })
      )))
      assert.strictEqual(parsed._tag, "PayscoreUserService", "the key read from the file decrypts")
      const both = yield* Effect.flip(buildKey(undefined, { WECHATPAY_APIV3_KEY: apiV3KeyText, WECHATPAY_APIV3_KEY_FILE: file }))
      assert.include(String(both), "not both")
      const absent = yield* Effect.flip(buildKey(undefined, { WECHATPAY_APIV3_KEY_FILE: path.join(dir, "nope") }))
      assert.include(String(absent), "WECHATPAY_APIV3_KEY_FILE")
      fs.rmSync(dir, { recursive: true })
    }))

  it.effect("a Config.Wrap under a prefix names the key it read", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(buildKey({ apiV3Key: Config.nested(Notifications.ApiV3KeyConfig, "SHOP_A") }, {}))
      assert.include(String(missing), "SHOP_A.WECHATPAY_APIV3_KEY")
      const short = yield* Effect.flip(buildKey({ apiV3Key: Config.redacted("MY_KEY") }, { MY_KEY: "too short" }))
      assert.strictEqual(short._tag === "InvalidKeyError" && short.key, "ApiV3Key", "a key from a Config of your own is checked as the layer is built")
    }))
})

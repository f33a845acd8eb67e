import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { NodeHttpClient } from "@effect/platform-node"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { createServer, type ServerResponse } from "node:http"
import { BusinessCircle, Wechatpay } from "../src/index.js"
import { BIN, cleanEnv, startCli } from "./helpers/cli.js"
import { generateRsa, rsaSign } from "./helpers/keys.js"

const OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
const APPID = "wxd678efh567hg6787"

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** No output may carry key material, a signature or an Authorization header. */
const assertClean = (text: string, secrets: ReadonlyArray<string> = []) => {
  for (const marker of ["PRIVATE KEY", "BEGIN", "signature=", "WECHATPAY2-SHA256-RSA2048 mchid", ...secrets]) {
    assert.notInclude(text, marker)
  }
}

const run = (args: ReadonlyArray<string>, env: Record<string, string> = cleanEnv()) =>
  Effect.async<Run>((resume) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
  }).pipe(Effect.tap((r) => assertClean(r.stdout + r.stderr)))

describe("the effect-wechatpay CLI (built bin as a child process)", () => {
  it.effect("--help on every command, exit 0", () =>
    Effect.gen(function*() {
      const root = yield* run(["--help"])
      assert.strictEqual(root.code, 0)
      for (const word of ["payscore", "businesscircle", "sandbox", "demo"]) assert.include(root.stdout, word)
      for (const args of [["payscore", "--help"], ["payscore", "permissions", "--help"], ["businesscircle", "authorization", "--help"], ["sandbox", "--help"]]) {
        const r = yield* run(args)
        assert.strictEqual(r.code, 0, args.join(" "))
        assert.include(r.stdout, "USAGE")
      }
    }))

  it.effect("payscore permissions --openid against --sandbox prints JSON and exits 0", () =>
    Effect.gen(function*() {
      const r = yield* run(["payscore", "permissions", "--openid", OPENID, "--service-id", "500001", "--appid", APPID, "--sandbox", "--json"])
      assert.strictEqual(r.code, 0, r.stderr)
      const out = JSON.parse(r.stdout)
      assert.strictEqual(out.status, 200)
      assert.match(out.requestId, /-0$/)
      assert.strictEqual(out.data.authorization_state, "AVAILABLE")
      assert.strictEqual(out.data.authorization_success_time, "2024-05-20T05:29:35.000Z")
    }))

  it.effect("by --authorization-code, and a readable table without --json", () =>
    Effect.gen(function*() {
      const r = yield* run(["payscore", "permissions", "--authorization-code", "1234323JKHDFE1243252", "--service-id", "500001", "--sandbox"])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.match(r.stdout, /authorization_state\s+AVAILABLE/)
      assert.match(r.stdout, /Request-ID [0-9A-F]{40}-0/)
    }))

  it.effect("businesscircle authorization with a --seed file", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-cli-"))
      const file = path.join(dir, "seed.json")
      fs.writeFileSync(file, JSON.stringify({ businessCircle: [{ appid: APPID, openid: "oSeeded", sub_mchid: "1900000109", authorize_state: "DEAUTHORIZED" }] }))
      try {
        const r = yield* run(["businesscircle", "authorization", "--openid", "oSeeded", "--appid", APPID, "--sub-mchid", "1900000109", "--sandbox", "--seed", file, "--json"])
        assert.strictEqual(r.code, 0, r.stderr)
        assert.strictEqual(JSON.parse(r.stdout).data.authorize_state, "DEAUTHORIZED")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.effect("errors map to distinct exit codes and print tag, code, message and Request-ID", () =>
    Effect.gen(function*() {
      const business = yield* run(["payscore", "permissions", "--openid", "oNobody", "--service-id", "500001", "--appid", APPID, "--sandbox", "--json"])
      assert.strictEqual(business.code, 4)
      const e = JSON.parse(business.stdout).error
      assert.strictEqual(e._tag, "BusinessError")
      assert.strictEqual(e.code, "ORDER_NOT_EXIST")
      assert.match(e.requestId, /-0$/)

      const human = yield* run(["payscore", "permissions", "--openid", "oNobody", "--service-id", "500001", "--appid", APPID, "--sandbox"])
      assert.strictEqual(human.code, 4)
      assert.include(human.stderr, "error: BusinessError ORDER_NOT_EXIST")
      assert.include(human.stderr, "Request-ID:")

      const invalid = yield* run(["payscore", "permissions", "--openid", "../x", "--service-id", "500001", "--appid", APPID, "--sandbox"])
      assert.strictEqual(invalid.code, 3)
      assert.include(invalid.stderr, "InvalidRequestError")

      const both = yield* run(["payscore", "permissions", "--openid", OPENID, "--authorization-code", "X", "--service-id", "500001", "--sandbox"])
      assert.strictEqual(both.code, 2)
      assert.include(both.stderr, "exactly one of --openid or --authorization-code")

      const noCredentials = yield* run(["businesscircle", "authorization", "--openid", OPENID, "--appid", APPID])
      assert.strictEqual(noCredentials.code, 8)
      assert.include(noCredentials.stderr, "WECHATPAY_MCHID")

      const usage = yield* run(["payscore", "permissions", "--openid", OPENID])
      assert.strictEqual(usage.code, 2)
    }))

  it.effect("usage mistakes exit 2 and, under --json, print JSON on stdout", () =>
    Effect.gen(function*() {
      const missing = yield* run(["payscore", "permissions", "--openid", OPENID, "--json"])
      assert.strictEqual(missing.code, 2)
      assert.deepStrictEqual(JSON.parse(missing.stdout), { error: { _tag: "UsageError", message: "Expected to find option: '--service-id'" } })
      const noAppid = yield* run(["payscore", "permissions", "--openid", OPENID, "--service-id", "500001", "--sandbox", "--json"])
      assert.strictEqual(noAppid.code, 2)
      assert.strictEqual(JSON.parse(noAppid.stdout).error.message, "--appid is required with --openid")
      const neither = yield* run(["payscore", "permissions", "--service-id", "500001", "--json"])
      assert.strictEqual(neither.code, 2)
      assert.strictEqual(JSON.parse(neither.stdout).error._tag, "UsageError")
    }))

  it.effect("no colour codes into a pipe, with or without NO_COLOR", () =>
    Effect.gen(function*() {
      const { NO_COLOR: _, ...withColourAllowed } = cleanEnv()
      for (const env of [withColourAllowed, cleanEnv()]) {
        const help = yield* run(["--help"], env)
        assert.include(help.stdout, "USAGE")
        assert.notInclude(help.stdout + help.stderr, "\x1b")
        const mistake = yield* run(["payscore", "permissions", "--openid", OPENID], env)
        assert.include(mistake.stderr, "--service-id")
        assert.notInclude(mistake.stdout + mistake.stderr, "\x1b")
      }
    }))

  it.effect("a seed file of the wrong shape is reported in one readable line", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-cli-"))
      const file = path.join(dir, "seed.json")
      fs.writeFileSync(file, JSON.stringify({ payscore: [{ service_id: "500001" }] }))
      try {
        const r = yield* run(["payscore", "permissions", "--openid", OPENID, "--service-id", "500001", "--appid", APPID, "--sandbox", "--seed", file])
        assert.strictEqual(r.code, 8)
        const lines = r.stderr.trim().split("\n")
        assert.strictEqual(lines[0], "error: SeedError")
        assert.strictEqual(lines.length, 2, r.stderr)
        assert.include(lines[1], "payscore.0.appid: is missing")
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.live("`sandbox` serves any client: its printed settings work with Wechatpay.layerConfig; key files go when it stops", () =>
    Effect.gen(function*() {
      const { child, first } = yield* startCli(["sandbox", "--json"])

      const { baseUrl, env } = JSON.parse(first) as { baseUrl: string; env: Record<string, string> }
      assert.match(baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.isTrue(fs.existsSync(env.WECHATPAY_PRIVATE_KEY_FILE!))
      assert.strictEqual(fs.statSync(env.WECHATPAY_PRIVATE_KEY_FILE!).mode & 0o077, 0)
      // the key itself is in the file, never in what the command printed
      const keyLines = fs.readFileSync(env.WECHATPAY_PRIVATE_KEY_FILE!, "utf8").split("\n").filter((l) => l.length > 40)
      assert.isAbove(keyLines.length, 10)
      assertClean(first, keyLines)

      // through the library, configured only from what the command printed
      const result = yield* BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } }).pipe(
        Effect.provide(Layer.merge(
          Wechatpay.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))),
          NodeHttpClient.layerUndici
        ))
      )
      assert.strictEqual(result.authorize_state, "AUTHORIZED")
      // and through the CLI itself
      const viaCli = yield* run(["businesscircle", "authorization", "--openid", OPENID, "--appid", APPID, "--json"], cleanEnv(env))
      assert.strictEqual(viaCli.code, 0, viaCli.stderr)
      assertClean(viaCli.stdout + viaCli.stderr, keyLines)

      // Ctrl-C stops it cleanly (exit 0) and removes the key files
      const code = yield* Effect.async<number | null>((resume) => {
        child.once("exit", (c) => resume(Effect.succeed(c)))
        child.kill("SIGINT")
      })
      assert.strictEqual(code, 0)
      assert.isFalse(fs.existsSync(path.dirname(env.WECHATPAY_PRIVATE_KEY_FILE!)))
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("sandbox --port outside 0-65535 is a usage error; a port in use is a configuration error naming the cause", () =>
    Effect.gen(function*() {
      const bad = yield* run(["sandbox", "--port", "99999"])
      assert.strictEqual(bad.code, 2)
      const server = net.createServer()
      const port = yield* Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      })
      const busy = yield* run(["sandbox", "--port", String(port)]).pipe(Effect.ensuring(Effect.sync(() => server.close())))
      assert.strictEqual(busy.code, 8)
      assert.include(busy.stderr, "EADDRINUSE")
    }))

  it.live("demo (npm start) runs the lifecycle, its two notifications, and catches both typed errors, exit 0", () =>
    Effect.gen(function*() {
      const r = yield* run(["demo"])
      assert.strictEqual(r.code, 0, r.stderr)
      assert.match(r.stdout, /apply_permissions_token \S+/)
      assert.match(r.stdout, /event_type\s+PAYSCORE\.USER_OPEN_SERVICE/)
      assert.match(r.stdout, /authorization_state\s+AVAILABLE/)
      assert.match(r.stdout, /event_type\s+PAYSCORE\.USER_CLOSE_SERVICE/)
      assert.match(r.stdout, /authorization_state\s+UNAVAILABLE/)
      assert.match(r.stdout, /authorize_state\s+AUTHORIZED/)
      assert.include(r.stdout, "caught BusinessError 404 ORDER_NOT_EXIST")
      assert.include(r.stdout, "caught SignatureError InvalidSignature")
    }))

  it.effect("payscore apply and payscore terminate against --sandbox", () =>
    Effect.gen(function*() {
      const [applied, terminated, unknown, usage] = yield* Effect.all([
        run(["payscore", "apply", "--service-id", "500001", "--appid", APPID, "--authorization-code", "CLI1", "--sandbox", "--json"]),
        run(["payscore", "terminate", "--openid", OPENID, "--appid", APPID, "--service-id", "500001", "--reason", "bye", "--sandbox", "--json"]),
        run(["payscore", "terminate", "--authorization-code", "NOBODY", "--service-id", "500001", "--reason", "bye", "--sandbox", "--json"]),
        run(["payscore", "terminate", "--openid", OPENID, "--service-id", "500001", "--reason", "bye", "--sandbox", "--json"])
      ], { concurrency: 2 })
      assert.strictEqual(applied.code, 0, applied.stderr)
      assert.isString(JSON.parse(applied.stdout).data.apply_permissions_token)
      assert.strictEqual(terminated.code, 0, terminated.stderr)
      assert.deepInclude(JSON.parse(terminated.stdout), { status: 204, data: null })
      assert.strictEqual(unknown.code, 4)
      assert.strictEqual(JSON.parse(unknown.stdout).error.code, "ORDER_NOT_EXIST")
      assert.strictEqual(usage.code, 2)
    }))


  it.live("text a server sent is printed with its control characters escaped", () =>
    Effect.gen(function*() {
      const merchant = generateRsa()
      const platform = generateRsa()
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-cli-"))
      fs.writeFileSync(path.join(dir, "key.pem"), merchant.privateKeyPem, { mode: 0o600 })
      const evil = "\u001b[2J\u001b[32mOK: authorization AVAILABLE\r\u202e"
      const answer = (res: ServerResponse, status: number, body: string, signed: boolean) => {
        const timestamp = String(Math.floor(Date.now() / 1000))
        const nonce = "n".repeat(32)
        res.writeHead(status, {
          "content-type": "application/json",
          "request-id": "R\u009b2JID",
          ...(signed
            ? {
              "wechatpay-serial": "PUB_KEY_ID_0000000000000000000000000001",
              "wechatpay-timestamp": timestamp,
              "wechatpay-nonce": nonce,
              "wechatpay-signature": rsaSign(platform.privateKey, `${timestamp}\n${nonce}\n${body}\n`)
            }
            : {})
        })
        res.end(body)
      }
      const server = createServer((req, res) =>
        req.url!.includes("oGood")
          ? answer(res, 200, JSON.stringify({ openid: evil, authorize_state: "AUTHORIZED" }), true)
          : answer(res, 404, JSON.stringify({ code: "ORDER_NOT_EXIST", message: evil }), false)
      )
      const port = yield* Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      })
      const env = cleanEnv({
        WECHATPAY_BASE_URL: `http://127.0.0.1:${port}`,
        WECHATPAY_MCHID: "1900000001",
        WECHATPAY_SERIAL_NO: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        WECHATPAY_PRIVATE_KEY_FILE: path.join(dir, "key.pem"),
        WECHATPAY_PUBLIC_KEY_ID: "PUB_KEY_ID_0000000000000000000000000001",
        WECHATPAY_PUBLIC_KEY: platform.publicKeyPem
      })
      const [ok, notFound, asJson] = yield* Effect.all([
        run(["businesscircle", "authorization", "--openid", "oGood", "--appid", APPID], env),
        run(["businesscircle", "authorization", "--openid", "oNobody", "--appid", APPID], env),
        run(["businesscircle", "authorization", "--openid", "oGood", "--appid", APPID, "--json"], env)
      ], { concurrency: 3 }).pipe(Effect.ensuring(Effect.sync(() => {
        server.close()
        fs.rmSync(dir, { recursive: true, force: true })
      })))
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.include(ok.stdout, "\\u001b[2J\\u001b[32mOK: authorization AVAILABLE\\r\\u202e")
      assert.include(ok.stdout, "Request-ID R\\u009b2JID")
      assert.strictEqual(notFound.code, 4)
      assert.include(notFound.stderr, "\\u001b[2J")
      // --json writes the same characters as JSON escapes
      assert.strictEqual(JSON.parse(asJson.stdout).data.openid, evil)
      for (const text of [ok.stdout, ok.stderr, notFound.stdout, notFound.stderr, asJson.stdout]) {
        assert.isFalse(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(text), JSON.stringify(text))
      }
    }))
})

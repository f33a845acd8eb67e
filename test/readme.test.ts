import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Sandbox } from "../src/sandbox/index.js"
import { freePort } from "./helpers/loopback.js"
import { redisServer } from "./helpers/redis.js"

/** The README's code runs as written: its blocks are these files, and the files run. */

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8")

/** The first ```ts block after a heading. */
const blockAfter = (heading: string, level = "##"): string => {
  const from = readme.indexOf(`\n${level} ${heading}\n`)
  assert.isAbove(from, -1, `README has a "${heading}" section`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(from))
  assert.isNotNull(match, `a ts block under "${heading}"`)
  return match![1]!
}

/** The variables a deployment sets, pointing at a sandbox. */
const sandboxEnv = (sandbox: Sandbox.Service) => {
  const c = sandbox.credentials
  return {
    ...process.env,
    WECHATPAY_MCHID: c.mchid,
    WECHATPAY_SERIAL_NO: c.merchantSerialNo,
    WECHATPAY_PRIVATE_KEY: Redacted.value(c.merchantPrivateKey!),
    WECHATPAY_PUBLIC_KEY_ID: c.platformPublicKeyId,
    WECHATPAY_PUBLIC_KEY: c.platformPublicKeyPem,
    WECHATPAY_APIV3_KEY: Redacted.value(c.apiV3Key),
    WECHATPAY_BASE_URL: sandbox.baseUrl
  }
}

/** Runs an example with tsx; its exit code and output. */
const runExample = (file: string, env: NodeJS.ProcessEnv) =>
  Effect.async<{ code: number; stdout: string }>((resume) => {
    execFile(path.join(ROOT, "node_modules/.bin/tsx"), [file], { cwd: ROOT, env, timeout: 30_000 }, (error, stdout) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout })))
  })

describe("the README", () => {
  it("its quick start is examples/quickstart.ts, and its testing example is examples/testing.test.ts (which the suite runs)", () => {
    assert.strictEqual(blockAfter("Quick start"), fs.readFileSync(path.join(ROOT, "examples/quickstart.ts"), "utf8"))
    assert.strictEqual(blockAfter("Testing your code"), fs.readFileSync(path.join(ROOT, "examples/testing.test.ts"), "utf8"))
    assert.strictEqual(blockAfter("Receiving notifications"), fs.readFileSync(path.join(ROOT, "examples/notify.ts"), "utf8"))
    assert.strictEqual(blockAfter("One process", "###"), fs.readFileSync(path.join(ROOT, "examples/one-process.ts"), "utf8"))
    assert.strictEqual(blockAfter("A fleet", "###"), fs.readFileSync(path.join(ROOT, "examples/fleet.ts"), "utf8"))
  })

  it.live("its quick start runs with tsx as written and prints what the README shows", () =>
    Effect.gen(function*() {
      const { code, stdout } = yield* runExample("examples/quickstart.ts", process.env)
      assert.strictEqual(code, 0)
      const shown = /```\n(Pay Score:[\s\S]*?)```/.exec(readme)![1]!.trim().split("\n")
      const printed = stdout.trim().split("\n")
      assert.strictEqual(printed.length, shown.length)
      assert.deepStrictEqual(printed.slice(0, 2), shown.slice(0, 2))
      assert.match(printed[2]!, /^WeChat Pay said ORDER_NOT_EXIST: 无授权记录 \(Request-ID [0-9A-F]{40}-0\)$/)
    }))

  it.live("its notification server runs with tsx as written, configured by the variables the sandbox prints, and handles what the sandbox delivers", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const sandbox = yield* Sandbox.make({ seed: Sandbox.demoSeed, notifyUrl: `http://127.0.0.1:${port}/` })
      const env = { ...sandboxEnv(sandbox), PORT: String(port) }
      let output = ""
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(path.join(ROOT, "node_modules/.bin/tsx"), ["examples/notify.ts"], { cwd: ROOT, env })),
        (child) => Effect.sync(() => child.kill())
      )
      child.stdout.on("data", (chunk: Buffer) => void (output += chunk.toString("utf8")))
      const waitFor = (text: string) =>
        Effect.gen(function*() {
          for (let i = 0; i < 300 && !output.includes(text); i++) yield* Effect.sleep("100 millis")
          assert.include(output, text)
        })
      yield* waitFor(`Listening on http://127.0.0.1:${port}`)
      const opened = yield* sandbox.openPayscore({ service_id: "500001", appid: "wxd678efh567hg6787", openid: "oReadme1" })
      const activated = yield* sandbox.activateBusinessCircle({ appid: "wxd678efh567hg6787", openid: "oReadme1" })
      yield* waitFor("PAYSCORE.USER_OPEN_SERVICE oReadme1 ")
      yield* waitFor("MALL_AUTH.ACTIVATE_CARD oReadme1 REGISTERED_AND_AUTHORIZATION_MODE")
      assert.strictEqual(yield* sandbox.sendProbe(), 401, "a probe (a bad signature) is refused")
      const answered = () => Effect.map(sandbox.notifications, (ds) => ds.filter((d) => !d.probe).map((d) => [d.id, d.status]))
      for (let i = 0; i < 100 && (yield* answered()).length < 2; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(yield* answered(), [[opened, 204], [activated, 204]])
    }).pipe(Effect.scoped), 40_000)

  it.live("its fleet-scale examples run with tsx as written: one process asks once per user; a second process of the fleet asks nothing", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const sandbox = yield* Sandbox.make({ seed: Sandbox.demoSeed })
      const env = { ...sandboxEnv(sandbox), REDIS_PORT: String(redis.port) }
      const calls = (route: Sandbox.Route) => Effect.map(sandbox.requests, (rs) => rs.filter((r) => r.route === route).length)
      const one = yield* runExample("examples/one-process.ts", env)
      assert.strictEqual(one.code, 0)
      assert.deepStrictEqual(one.stdout.trim().split("\n"), [
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o AUTHORIZED",
        "oAnotherUser UNAUTHORIZED",
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o AUTHORIZED"
      ])
      assert.strictEqual(yield* calls("businesscircle.userAuthorization"), 2)
      for (let run = 0; run < 2; run++) {
        const fleet = yield* runExample("examples/fleet.ts", env)
        assert.strictEqual(fleet.code, 0)
        assert.strictEqual(fleet.stdout.trim(), "Pay Score: AVAILABLE")
      }
      assert.strictEqual(yield* calls("payscore.openid"), 1, "the second process was answered from Redis")
    }).pipe(Effect.scoped), 60_000)
})

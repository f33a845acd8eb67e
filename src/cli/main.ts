/**
 * The `effect-wechatpay` command line.
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import { VERSION } from "../internal/version.js"
import { Sandbox } from "../sandbox/index.js"
import { isLoopbackUrl } from "../sandbox/notify.js"
import * as BusinessCircle from "../services/BusinessCircle.js"
import * as Payscore from "../services/Payscore.js"
import type * as Signer from "../services/Signer.js"
import type * as Verifier from "../services/Verifier.js"
import * as Wechatpay from "../services/Wechatpay.js"
import { runDemo } from "./demo.js"
import { type CliError, ExitCode, exitCodeOf, failure, plainConsole, success, UsageError } from "./render.js"

// ---------------------------------------------------------------------------
// shared options
// ---------------------------------------------------------------------------

const json = Options.boolean("json").pipe(Options.withDescription("Print JSON on stdout instead of a table."))
const sandbox = Options.boolean("sandbox").pipe(
  Options.withDescription("Run against an embedded WeChat Pay sandbox instead of the real API (no credentials needed).")
)
const seed = Options.file("seed", { exists: "yes" }).pipe(
  Options.withDescription("With --sandbox: a JSON file of records to load (default: built-in demo users)."),
  Options.optional
)
const appid = Options.text("appid").pipe(Options.withDescription("The appid (official account or mini program)."))
const serviceId = Options.text("service-id").pipe(Options.withDescription("The Pay Score service id."))

type Requirements = Signer.Signer | Verifier.Verifier | HttpClient.HttpClient

/** Credentials from WECHATPAY_* variables, or an embedded sandbox. */
const environment = (
  useSandbox: boolean,
  seedFile: Option.Option<string>
): Layer.Layer<Requirements, CliError> =>
  useSandbox
    ? Layer.unwrapEffect(
      Effect.map(
        Option.match(seedFile, { onNone: () => Effect.succeed(Sandbox.demoSeed), onSome: Sandbox.loadSeed }),
        (data) => Sandbox.layerClient({ seed: data })
      )
    ).pipe(Layer.merge(NodeHttpClient.layerUndici))
    : Layer.merge(Wechatpay.layerConfig(), NodeHttpClient.layerUndici)

/** An error for humans (stderr) or machines (stdout); answers its exit code. */
const report = (json: boolean, error: CliError): Effect.Effect<number> =>
  Effect.as(json ? Console.log(failure(true, error)) : Console.error(failure(false, error)), exitCodeOf(error))

/** Runs one lookup and prints it; returns the exit code. */
const lookup = (
  options: { readonly json: boolean; readonly sandbox: boolean; readonly seed: Option.Option<string> },
  query: Effect.Effect<Wechatpay.WechatpayResponse<object | void>, CliError, Requirements>
): Effect.Effect<number> =>
  query.pipe(
    Effect.provide(environment(options.sandbox, options.seed)),
    Effect.scoped,
    Effect.matchEffect({
      onSuccess: (response) => Effect.as(Console.log(success(options.json, response)), ExitCode.Ok),
      onFailure: (error) => report(options.json, error)
    })
  )

// ---------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------

type Query = Effect.Effect<Wechatpay.WechatpayResponse<object | void>, CliError, Requirements>

/** Runs the query by `--openid` (which needs `--appid`) or by `--authorization-code`: exactly one of them. */
const byOpenidOrCode = (
  o: Parameters<typeof lookup>[0] & {
    readonly openid: Option.Option<string>
    readonly authorizationCode: Option.Option<string>
    readonly appid: Option.Option<string>
  },
  byOpenid: (openid: string, appid: string) => Query,
  byCode: (authorizationCode: string) => Query
): Effect.Effect<number> =>
  Option.isSome(o.openid) && Option.isNone(o.authorizationCode)
    ? Option.isSome(o.appid)
      ? lookup(o, byOpenid(o.openid.value, o.appid.value))
      : report(o.json, new UsageError({ description: "--appid is required with --openid" }))
    : Option.isSome(o.authorizationCode) && Option.isNone(o.openid)
    ? lookup(o, byCode(o.authorizationCode.value))
    : report(o.json, new UsageError({ description: "give exactly one of --openid or --authorization-code" }))

const permissions = Command.make("permissions", {
  openid: Options.text("openid").pipe(Options.withDescription("Look up by the user's openid."), Options.optional),
  authorizationCode: Options.text("authorization-code").pipe(
    Options.withDescription("Look up by the authorization code instead."),
    Options.optional
  ),
  serviceId,
  appid: appid.pipe(Options.optional),
  json,
  sandbox,
  seed
}, (o) =>
  byOpenidOrCode(
    o,
    (openid, appid) => Payscore.getPermissionsByOpenidResponse({ openid, params: { service_id: o.serviceId, appid } }),
    (code) => Payscore.getPermissionsByAuthorizationCodeResponse({ authorization_code: code, params: { service_id: o.serviceId } })
  )).pipe(Command.withDescription("Query a user's Pay Score authorization record (by openid or authorization code)."))

const apply = Command.make("apply", {
  serviceId,
  appid,
  authorizationCode: Options.text("authorization-code").pipe(
    Options.withDescription("The merchant's authorization code for this user (1-32 letters, digits, _ - * |).")
  ),
  notifyUrl: Options.text("notify-url").pipe(
    Options.withDescription("Where WeChat Pay notifies the merchant when the user authorizes (https, no query)."),
    Options.optional
  ),
  json,
  sandbox,
  seed
}, (o) =>
  lookup(
    o,
    Payscore.applyPermissionsResponse({
      data: {
        service_id: o.serviceId,
        appid: o.appid,
        authorization_code: o.authorizationCode,
        ...(Option.isSome(o.notifyUrl) ? { notify_url: o.notifyUrl.value } : {})
      }
    })
  )).pipe(Command.withDescription("Pre-authorize a user for a Pay Score service; prints the apply_permissions_token."))

const terminate = Command.make("terminate", {
  openid: Options.text("openid").pipe(Options.withDescription("End the authorization of this openid."), Options.optional),
  authorizationCode: Options.text("authorization-code").pipe(
    Options.withDescription("End the authorization with this code instead."),
    Options.optional
  ),
  serviceId,
  appid: appid.pipe(Options.optional),
  reason: Options.text("reason").pipe(Options.withDescription("Why (1-50 characters).")),
  json,
  sandbox,
  seed
}, (o) =>
  byOpenidOrCode(
    o,
    (openid, appid) =>
      Payscore.terminatePermissionsByOpenidResponse({ openid, data: { service_id: o.serviceId, appid, reason: o.reason } }),
    (code) =>
      Payscore.terminatePermissionsByAuthorizationCodeResponse({
        authorization_code: code,
        data: { service_id: o.serviceId, reason: o.reason }
      })
  )).pipe(
    Command.withDescription("End a user's Pay Score authorization (by openid or authorization code).")
  )

const payscore = Command.make("payscore").pipe(
  Command.withDescription("Pay Score (微信支付分) authorizations: look up, pre-authorize, terminate."),
  Command.withSubcommands([permissions, apply, terminate])
)

const authorization = Command.make("authorization", {
  openid: Options.text("openid").pipe(Options.withDescription("The user's openid.")),
  appid,
  subMchid: Options.text("sub-mchid").pipe(
    Options.withDescription("Partner mode: the sub-merchant id."),
    Options.optional
  ),
  json,
  sandbox,
  seed
}, (o) =>
  lookup(
    o,
    BusinessCircle.getUserAuthorizationResponse({
      openid: o.openid,
      params: { appid: o.appid, sub_mchid: Option.getOrUndefined(o.subMchid) }
    })
  )).pipe(Command.withDescription("Query a user's Business Circle member-points authorization state."))

const businesscircle = Command.make("businesscircle").pipe(
  Command.withDescription("Business Circle (智慧商圈) queries."),
  Command.withSubcommands([authorization])
)

/** The sandbox's own routes, as the `sandbox` command shows them. */
const ADMIN_EXAMPLES: ReadonlyArray<readonly [string, object]> = [
  ["/sandbox/payscore/open", { service_id: "500001", appid: "wxd678efh567hg6787", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }],
  ["/sandbox/payscore/close", { service_id: "500001", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }],
  ["/sandbox/businesscircle/activate", { appid: "wxd678efh567hg6787", openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" }],
  ["/sandbox/notifications/redeliver", { id: "EV-…" }],
  ["/sandbox/notifications/probe", {}]
]

/** Writes the key files a client of the sandbox needs into `dir`; answers their paths. */
const writeCredentials = (dir: string, c: Sandbox.Credentials) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const files = {
      privateKey: path.join(dir, "apiclient_key.pem"),
      publicKey: path.join(dir, "wechatpay_public_key.pem"),
      certificates: path.join(dir, "certificates"),
      apiV3Key: path.join(dir, "apiv3_key")
    }
    yield* fs.makeDirectory(files.certificates, { recursive: true })
    if (c.merchantPrivateKey !== undefined) {
      yield* fs.writeFileString(files.privateKey, Redacted.value(c.merchantPrivateKey), { mode: 0o600 })
    }
    yield* fs.writeFileString(files.publicKey, c.platformPublicKeyPem)
    yield* fs.writeFileString(files.apiV3Key, Redacted.value(c.apiV3Key), { mode: 0o600 })
    if (c.platformCertificateSerial !== undefined && c.platformCertificatePem !== undefined) {
      yield* fs.writeFileString(
        path.join(files.certificates, `wechatpay_${c.platformCertificateSerial}.pem`),
        c.platformCertificatePem
      )
    }
    return files
  })

const sandboxCommand = Command.make("sandbox", {
  port: Options.integer("port").pipe(
    Options.withDescription("Port on 127.0.0.1, 0-65535 (default 0: a free one)."),
    Options.withDefault(0),
    Options.mapEffect((port) =>
      Number.isInteger(port) && port >= 0 && port <= 65535
        ? Effect.succeed(port)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--port must be between 0 and 65535, got ${port}`)))
    )
  ),
  seed: Options.file("seed", { exists: "yes" }).pipe(
    Options.withDescription("A JSON file of records to load (default: built-in demo users)."),
    Options.optional
  ),
  notifyUrl: Options.text("notify-url").pipe(
    Options.withDescription("Where to deliver notifications: a merchant server on this machine (http is fine)."),
    Options.mapEffect((url) =>
      isLoopbackUrl(url)
        ? Effect.succeed(url)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p("--notify-url must be on this machine (127.x.x.x, [::1], localhost)")))
    ),
    Options.optional
  ),
  rateLimit: Options.integer("rate-limit").pipe(
    Options.withDescription(
      "Answer 429 FREQUENCY_LIMITED past this many requests per second from one merchant to one endpoint (a whole number > 0; default: no limit)."
    ),
    Options.mapEffect((limit) =>
      Number.isSafeInteger(limit) && limit > 0
        ? Effect.succeed(limit)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--rate-limit must be a whole number > 0, got ${limit}`)))
    ),
    Options.optional
  ),
  out: Options.directory("out").pipe(
    Options.withDescription("Where to write the key files a client needs (default: a new temporary directory)."),
    Options.optional
  ),
  json
}, (o) =>
  Effect.gen(function*() {
    const data = yield* Option.match(o.seed, { onNone: () => Effect.succeed(Sandbox.demoSeed), onSome: Sandbox.loadSeed })
    const rateLimit = Option.getOrUndefined(o.rateLimit)
    const server = yield* Sandbox.make({ port: o.port, seed: data, notifyUrl: Option.getOrUndefined(o.notifyUrl), rateLimit })
    // a directory of our own is removed again when the sandbox stops
    const dir = Option.isSome(o.out)
      ? o.out.value
      : yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "effect-wechatpay-sandbox-" }))
    const files = yield* writeCredentials(dir, server.credentials)
    const env = {
      WECHATPAY_BASE_URL: server.baseUrl,
      WECHATPAY_MCHID: server.credentials.mchid,
      WECHATPAY_SERIAL_NO: server.credentials.merchantSerialNo,
      WECHATPAY_PRIVATE_KEY_FILE: files.privateKey,
      WECHATPAY_PUBLIC_KEY_ID: server.credentials.platformPublicKeyId,
      WECHATPAY_PUBLIC_KEY_FILE: files.publicKey,
      WECHATPAY_PLATFORM_CERTIFICATES_DIR: files.certificates,
      WECHATPAY_APIV3_KEY_FILE: files.apiV3Key
    }
    if (o.json) {
      yield* Console.log(JSON.stringify({ baseUrl: server.baseUrl, env, rateLimit: rateLimit ?? null }))
    } else {
      yield* Console.log(`WeChat Pay sandbox listening on ${server.baseUrl} (Ctrl-C to stop)`)
      yield* Console.log(
        rateLimit === undefined
          ? "No rate limit (start it with --rate-limit <n> to have one)."
          : `Rate limit: ${rateLimit} requests per second from one merchant to one endpoint; more are answered 429 FREQUENCY_LIMITED.`
      )
      yield* Console.log(`Key files for a client are in ${dir} (sandbox-only keys, generated for this run).`)
      yield* Console.log("Point a client at it with:")
      for (const [k, v] of Object.entries(env)) yield* Console.log(`  export ${k}=${v}`)
      yield* Console.log(
        Option.isSome(o.notifyUrl)
          ? `Notifications go to ${o.notifyUrl.value}; make the user act with, for example:`
          : "Start it with --notify-url to have notifications delivered; make the user act with, for example:"
      )
      for (const [route, body] of ADMIN_EXAMPLES) {
        yield* Console.log(`  curl -X POST ${server.baseUrl}${route} -d '${JSON.stringify(body)}'`)
      }
      yield* Console.log(`  curl ${server.baseUrl}/sandbox/notifications   # what was delivered, and the answers`)
      yield* Console.log(`  curl ${server.baseUrl}/sandbox/request-counts   # requests per second, endpoint and merchant`)
    }
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.catchAll((error: CliError) => report(o.json, error))
  )).pipe(Command.withDescription("Run a standalone WeChat Pay sandbox on 127.0.0.1 for any client."))

const demoCommand = Command.make("demo", {}, () =>
  runDemo.pipe(
    Effect.as(ExitCode.Ok),
    Effect.catchAll((error: CliError) => report(false, error))
  )).pipe(Command.withDescription("Show the library end to end against an embedded sandbox (what `npm start` runs)."))

const root = Command.make("effect-wechatpay").pipe(
  Command.withDescription("WeChat Pay APIv3 authorization lookups from the command line."),
  Command.withSubcommands([payscore, businesscircle, sandboxCommand, demoCommand])
)

const cli = Command.run(root, { name: "effect-wechatpay", version: VERSION })

const wantsJson = process.argv.includes("--json")

const main = Effect.suspend(() => cli(process.argv)).pipe(
  // subcommands return their exit code; a bare parent command (help) returns void
  Effect.map((code: unknown) => (typeof code === "number" ? code : ExitCode.Ok)),
  Effect.catchAll((error) =>
    ValidationError.isValidationError(error)
      ? ValidationError.isHelpRequested(error)
        ? Effect.succeed(ExitCode.Ok)
        // @effect/cli has printed the mistake on stderr; under --json it goes to stdout as JSON too
        : wantsJson
        ? report(true, new UsageError({ description: HelpDoc.toAnsiText(error.error).trim() }))
        : Effect.succeed(ExitCode.Usage)
      : Effect.as(Console.error(`error: ${String(error)}`), ExitCode.Unexpected)
  ),
  Effect.catchAllDefect((defect) =>
    Effect.as(Console.error(`unexpected error: ${Cause.pretty(Cause.die(defect))}`), ExitCode.Unexpected)
  ),
  // no colour codes into a pipe or a file, nor when NO_COLOR is set (https://no-color.org)
  process.stdout.isTTY !== true || (process.env.NO_COLOR ?? "") !== "" ? Effect.withConsole(plainConsole) : identity,
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? typeof exit.value === "number" ? exit.value : ExitCode.Ok
        // Ctrl-C (or SIGTERM) is a normal way to stop the sandbox
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.Ok
        : ExitCode.Unexpected
    )
})

import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Schema } from "effect"
import * as FastCheck from "effect/FastCheck"
import { BusinessCircle, Payscore, Verifier } from "../src/index.js"
import * as crypto from "node:crypto"
import { APPID, makeWorld, OPENID, PUB_KEY_ID, SERVICE_ID } from "./helpers/world.js"

const world = makeWorld()
const verifier = Effect.runSync(Verifier.make({ publicKeys: { [PUB_KEY_ID]: world.platform.publicKeyPem } }))

/** A failure must be a typed failure: never a defect, never an interruption. */
const assertTyped = (exit: Exit.Exit<unknown, { readonly _tag: string }>, allowed: ReadonlyArray<string>) => {
  if (Exit.isSuccess(exit)) return
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(failure._tag === "Some", `not a typed failure: ${Cause.pretty(exit.cause)}`)
  if (failure._tag === "Some") assert.include(allowed, failure.value._tag)
}

const text = FastCheck.oneof(
  FastCheck.string({ unit: "binary", maxLength: 60 }),
  FastCheck.constantFrom("", "WECHATPAY/SIGNTEST/", "WECHATPAY2-SHA256-RSA2048", PUB_KEY_ID, "0", "-1", "1e9", "AAAA")
)

const headerText = FastCheck.oneof(
  FastCheck.stringMatching(/^[\x21-\x7e]{1,60}$/),
  FastCheck.constantFrom("WECHATPAY/SIGNTEST/AAAA", "AAAA", "====")
)

describe("property: random header sets and bodies into the verifier", () => {
  it.prop(
    "never a defect: each input verifies or fails with a SignatureError",
    [
      FastCheck.record({
        serial: FastCheck.oneof(text, FastCheck.constant(PUB_KEY_ID)),
        timestamp: FastCheck.oneof(text, FastCheck.integer({ min: -1e12, max: 1e13 }).map(String)),
        nonce: text,
        signature: FastCheck.oneof(text, FastCheck.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("base64"))),
        signatureType: FastCheck.option(text, { nil: undefined }),
        body: FastCheck.oneof(text, FastCheck.uint8Array({ maxLength: 200 })),
        receivedAt: FastCheck.oneof(FastCheck.integer(), FastCheck.constant(Number.NaN), FastCheck.double())
      })
    ],
    ([input]) => {
      assertTyped(Effect.runSyncExit(verifier.verify(input)), ["SignatureError"])
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "a valid signature over any body verifies, and any change to the body does not",
    [FastCheck.uint8Array({ maxLength: 400 }), FastCheck.nat({ max: 399 })],
    ([bytes, at]) => {
      const body = Buffer.from(bytes)
      const timestamp = String(Math.floor(Date.now() / 1000))
      const nonce = "N".repeat(32)
      const signature = crypto.sign("sha256", Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), body, Buffer.from("\n")]), world.platform.privateKey).toString("base64")
      const input = { serial: PUB_KEY_ID, timestamp, nonce, signature, body, receivedAt: Date.now() }
      assert.isTrue(Exit.isSuccess(Effect.runSyncExit(verifier.verify(input))))
      if (body.length > 0) {
        const altered = Buffer.from(body)
        altered[at % body.length] = altered[at % body.length]! ^ 0x01
        assertTyped(Effect.runSyncExit(verifier.verify({ ...input, body: altered })), ["SignatureError"])
        assert.isTrue(Exit.isFailure(Effect.runSyncExit(verifier.verify({ ...input, body: altered }))))
      }
    },
    { fastCheck: { numRuns: 100 } }
  )
})

describe("property: random JSON into the decoders", () => {
  const decoders = [
    Schema.decodeUnknownEither(Payscore.PermissionsByOpenid),
    Schema.decodeUnknownEither(Payscore.PermissionsByAuthorizationCode),
    Schema.decodeUnknownEither(BusinessCircle.UserAuthorization)
  ]
  it.prop("never throws: an Either for any JSON value", [FastCheck.jsonValue()], ([json]) => {
    for (const decode of decoders) assert.isTrue(Either.isEither(decode(json)))
  }, { fastCheck: { numRuns: 500 } })

  it.prop(
    "objects shaped like the responses but with random field values decode or fail as a ParseError",
    [FastCheck.record({
      openid: FastCheck.jsonValue(),
      authorize_state: FastCheck.oneof(FastCheck.constantFrom("AUTHORIZED", "UNAUTHORIZED", "DEAUTHORIZED"), FastCheck.jsonValue()),
      authorize_time: FastCheck.oneof(FastCheck.date({ noInvalidDate: true }).map((d) => d.toISOString()), FastCheck.string(), FastCheck.jsonValue())
    }, { requiredKeys: [] })],
    ([json]) => {
      const result = decoders[2]!(json)
      assert.isTrue(Either.isEither(result))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.effect.prop(
    "through the whole pipeline: validly signed random JSON is a success or a DecodeError, never a defect",
    [FastCheck.jsonValue({ maxDepth: 3 })],
    ([json]) => {
      const { layer } = world.fake(() => ({ body: JSON.stringify(json) }))
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Payscore.getPermissionsByOpenid({ openid: OPENID, params: { service_id: SERVICE_ID, appid: APPID } }))
        assertTyped(exit, ["DecodeError"])
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 150 } }
  )

  it.effect.prop(
    "through the whole pipeline: random status, headers and bytes are typed outcomes",
    [
      FastCheck.integer({ min: 200, max: 599 }),
      // header values a transport can carry (visible ASCII)
      FastCheck.option(FastCheck.record({
        serial: FastCheck.oneof(headerText, FastCheck.constant(PUB_KEY_ID)),
        signature: headerText,
        timestampOffset: FastCheck.integer({ min: -1000, max: 1000 })
      }), { nil: undefined }),
      FastCheck.string({ unit: "binary", maxLength: 80 })
    ],
    ([status, sign, body]) => {
      const { layer } = world.fake(() => ({
        status,
        body,
        sign: sign === undefined ? false : { serial: sign.serial, signature: sign.signature, timestampOffset: sign.timestampOffset }
      }))
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(BusinessCircle.getUserAuthorization({ openid: OPENID, params: { appid: APPID } }))
        assertTyped(exit, ["SignatureError", "BusinessError", "DecodeError"])
      }).pipe(Effect.provide(layer))
    },
    { fastCheck: { numRuns: 200 } }
  )
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Equal, Schema } from "effect"
import * as Arbitrary from "effect/Arbitrary"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import { compile, decodeUnknownEither, FAIL, FALLBACK } from "../src/internal/fastDecode.js"
import { Schemas } from "../src/index.js"

/** Keys, key order, prototypes and leaf values, recursively: what a caller of the decoded value can observe. */
const shape = (value: unknown): unknown => {
  if (value instanceof Date) return { date: value.getTime() }
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) return value.map(shape)
  return {
    proto: Object.getPrototypeOf(value)?.constructor?.name,
    entries: Reflect.ownKeys(value).map((k) => [String(k), shape((value as Record<PropertyKey, unknown>)[k])])
  }
}

const responses = {
  PermissionsByOpenid: Schemas.PermissionsByOpenid,
  PermissionsByAuthorizationCode: Schemas.PermissionsByAuthorizationCode,
  UserAuthorization: Schemas.UserAuthorization
} as const
const requests = {
  GetPermissionsByOpenidRequest: Schemas.GetPermissionsByOpenidRequest,
  GetPermissionsByAuthorizationCodeRequest: Schemas.GetPermissionsByAuthorizationCodeRequest,
  GetUserAuthorizationRequest: Schemas.GetUserAuthorizationRequest
} as const

/** Encoded values of a schema, and damaged ones: nulls, wrong types, missing and extra keys. */
/** Valid encoded values: values of the type, encoded by the schema itself. */
const validInputs = (schema: Schema.Schema.AnyNoContext): FastCheck.Arbitrary<unknown> =>
  (Arbitrary.make(schema) as FastCheck.Arbitrary<unknown>).map((value) =>
    Schema.encodeSync(schema as Schema.Schema<unknown, unknown>)(value)
  )

const inputs = (schema: Schema.Schema.AnyNoContext) => {
  const valid = validInputs(schema)
  const junk = FastCheck.oneof(
    FastCheck.constantFrom(null, undefined, "", "AVAILABLE", 0, -1, 1.5, Number.NaN, true, [], {}),
    FastCheck.string({ maxLength: 30 }),
    FastCheck.constantFrom("2015-05-20T13:29:35+08:00", "2015-02-30T13:29:35Z", "2015-05-20 13:29:35")
  )
  const damaged = FastCheck.tuple(valid, FastCheck.string({ maxLength: 30 }), junk, FastCheck.boolean()).map(
    ([value, key, replacement, remove]) => {
      if (typeof value !== "object" || value === null) return value
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
      const keys = Object.keys(copy)
      const target = keys.length > 0 ? keys[key.length % keys.length]! : key
      if (remove) delete copy[target]
      else copy[target] = replacement
      copy[`extra_${key}`] = replacement
      return copy
    }
  )
  return FastCheck.oneof(valid, damaged, junk)
}

describe("fast decoder", () => {
  for (const [name, schema] of Object.entries({ ...responses, ...requests })) {
    it(`${name}: compiles to a fast path (the shapes used by this library are all covered)`, () => {
      assert.isDefined(compile(schema.ast))
    })

    it.prop(
      `${name}: answers exactly what Schema.decodeUnknownEither answers, for valid and damaged input`,
      [inputs(schema)],
      ([input]) => {
        const reference = Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)(input)
        const fast = decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)(input)
        assert.strictEqual(fast._tag, reference._tag)
        if (Either.isRight(fast) && Either.isRight(reference)) {
          assert.deepStrictEqual(shape(fast.right), shape(reference.right))
          if (Equal.isEqual(reference.right)) assert.isTrue(Equal.equals(fast.right, reference.right))
        }
        if (Either.isLeft(fast) && Either.isLeft(reference)) {
          assert.strictEqual(
            ParseResult.TreeFormatter.formatErrorSync(fast.left),
            ParseResult.TreeFormatter.formatErrorSync(reference.left)
          )
        }
      },
      { fastCheck: { numRuns: 400 } }
    )

    it.prop(
      `${name}: every valid encoded value is decoded on the fast path itself`,
      [validInputs(schema)],
      ([input]) => {
        const fast = compile(schema.ast)!
        const value = fast(input)
        assert.notStrictEqual(value, FAIL)
        assert.notStrictEqual(value, FALLBACK)
      },
      { fastCheck: { numRuns: 200 } }
    )
  }

  it("a response class decodes to an instance of the class, equal to the schema's own result", () => {
    const input = {
      service_id: "500001",
      appid: "wxd678efh567hg6787",
      mchid: "1230000109",
      authorization_state: "AVAILABLE",
      openid: null,
      cancel_authorization_time: "2015-05-20T13:29:35.120+08:00",
      user_risk_level: 2
    }
    const fast = decodeUnknownEither(Schemas.PermissionsByOpenid)(input)
    const reference = Schema.decodeUnknownSync(Schemas.PermissionsByOpenid)(input)
    assert.isTrue(Either.isRight(fast))
    if (Either.isRight(fast)) {
      assert.instanceOf(fast.right, Schemas.PermissionsByOpenid)
      assert.isTrue(Equal.equals(fast.right, reference))
      assert.deepStrictEqual(Object.keys(fast.right), Object.keys(reference))
      assert.isFalse("openid" in fast.right, "a null optional field decodes to a missing key")
      assert.strictEqual(fast.right.cancel_authorization_time?.toISOString(), "2015-05-20T05:29:35.120Z")
    }
  })

  it("shapes it does not know are left to the schema (no fast path), and still decode", () => {
    const Tagged = Schema.Union(
      Schema.Struct({ kind: Schema.Literal("a"), a: Schema.String }),
      Schema.Struct({ kind: Schema.Literal("b"), b: Schema.Number })
    )
    const Record = Schema.Record({ key: Schema.String, value: Schema.Number })
    const Options = Schema.Struct({ a: Schema.String }).annotations({ parseOptions: { onExcessProperty: "error" } })
    for (const schema of [Tagged, Record, Options] as ReadonlyArray<Schema.Schema<unknown, unknown>>) {
      assert.isUndefined(compile(schema.ast))
    }
    assert.deepStrictEqual(decodeUnknownEither(Tagged)({ kind: "b", b: 1 }), Either.right({ kind: "b", b: 1 }))
    assert.isTrue(Either.isLeft(decodeUnknownEither(Options)({ a: "x", extra: 1 })))
  })

  it("no input can pass for the fast path's own markers, and an annotation present as undefined still counts", () => {
    for (const forged of [Symbol.for("effect-wechatpay/FastDecode/Fail"), Symbol.for("effect-wechatpay/FastDecode/Fallback")]) {
      assert.deepStrictEqual(decodeUnknownEither(Schema.Unknown)(forged), Either.right(forged))
    }
    const fallback = Schema.String.annotations({ decodingFallback: undefined as never })
    assert.isUndefined(compile(fallback.ast))
  })

  it("an asynchronous transformation inside a union leaves the decode to the schema, whose answer stands", () => {
    const Async = Schema.transformOrFail(Schema.String, Schema.String, {
      strict: true,
      // an Effect, not an Either: ParseResult queues this member before trying the next
      decode: (s) => Effect.succeed(`async:${s}`),
      encode: ParseResult.succeed
    })
    const schema = Schema.Union(Async, Schema.String)
    assert.strictEqual(compile(schema.ast)!("x"), FALLBACK)
    assert.deepStrictEqual(decodeUnknownEither(schema)("x"), Either.right("async:x"))
    assert.deepStrictEqual(Schema.decodeUnknownEither(schema)("x"), Either.right("async:x"))
  })
})

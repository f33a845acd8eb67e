/**
 * A fast path for decoding responses: compiles the common shapes of a
 * schema's AST (structs, classes, literals, primitive keywords, refinements,
 * transformations, `optionalWith` property signatures, unions of primitives)
 * into plain functions that mirror `ParseResult`'s decoding step by step.
 * Shapes it does not know are not compiled; at run time a failing input
 * ({@link FAIL}) or an asynchronous step ({@link FALLBACK}) ends the fast
 * path, and the caller runs the schema's own decoder, which decides and
 * explains. Transformations, defaults and declarations run on the fast path
 * and run again on the slow one when the fast path gives up: they must be
 * pure (as `ParseResult` assumes too).
 *
 * The rule that keeps it correct: when the fast path answers, the answer is
 * the value `Schema.decodeUnknownEither(schema)` gives (same keys in the same
 * order, same classes); it never answers a failure. Measured in `bench/`: the
 * decode of a response drops from about 40 µs to a few µs, and the
 * allocations of `ParseResult` (about 7 KB per response) go away.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/** "Not decided here" (an asynchronous step, an unknown shape): run the schema's decoder. */
// unregistered symbols: no input can contain them (Symbol.for ones could be forged)
export const FALLBACK: unique symbol = Symbol("effect-wechatpay/FastDecode/Fallback") as never

/**
 * "Does not decode": a definite failure, as `ParseResult` would find it. In a
 * union the next member is tried; anywhere else it ends the fast path, and
 * the schema's decoder runs to explain the failure.
 */
export const FAIL: unique symbol = Symbol("effect-wechatpay/FastDecode/Fail") as never

type Fast = (input: unknown) => unknown

const OPTIONS: AST.ParseOptions = AST.defaultParseOption

const failed = (value: unknown): boolean => value === FAIL || value === FALLBACK

/** Annotations that change how `ParseResult` parses a node: left to the schema's decoder. */
const changesParsing = (ast: AST.AST): boolean =>
  // present at all, even as `undefined`: ParseResult looks them up by key
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

/** The value of a synchronous `ParseResult` (an `Either`); FALLBACK for an `Effect`. */
const settled = (result: unknown): unknown =>
  Either.isEither(result) ? (Either.isRight(result) ? result.right : FAIL) : FALLBACK

/**
 * Union members `ParseResult` tries plainly in order: those without literal
 * properties (which would put them in its search tree instead).
 */
const plainMember = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "Literal":
    case "UndefinedKeyword":
    case "StringKeyword":
    case "NumberKeyword":
    case "BooleanKeyword":
    case "BigIntKeyword":
    case "SymbolKeyword":
    case "UnknownKeyword":
    case "AnyKeyword":
    case "VoidKeyword":
    case "Enums":
      return true
    case "Declaration":
      return Option.isNone(AST.getSurrogateAnnotation(ast))
    case "Refinement":
      return plainMember(ast.from)
    case "Transformation":
      return plainMember(ast.from)
    default:
      return false
  }
}

const typeLiteral = (ast: AST.TypeLiteral): Fast | undefined => {
  if (ast.indexSignatures.length > 0 || ast.propertySignatures.length === 0) return undefined
  const names: Array<PropertyKey> = []
  const optional: Array<boolean> = []
  const parsers: Array<Fast> = []
  for (const ps of ast.propertySignatures) {
    const parser = compile(ps.type)
    if (parser === undefined) return undefined
    names.push(ps.name)
    optional.push(ps.isOptional)
    parsers.push(parser)
  }
  const count = names.length
  return (input) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return FAIL
    const record = input as Record<PropertyKey, unknown>
    const output: Record<PropertyKey, unknown> = {}
    for (let i = 0; i < count; i++) {
      const name = names[i]!
      // as ParseResult without `exact`: a missing required key is parsed as `undefined`
      if (!Object.prototype.hasOwnProperty.call(record, name) && optional[i]) continue
      const value = parsers[i]!(record[name])
      if (failed(value)) return value
      output[name] = value
    }
    return output
  }
}

const transformation = (ast: AST.Transformation): Fast | undefined => {
  const from = compile(ast.from)
  const to = compile(ast.to)
  if (from === undefined || to === undefined) return undefined
  const t = ast.transformation
  let step: (a: unknown, input: unknown) => unknown
  switch (t._tag) {
    case "FinalTransformation":
      step = (a, input) => settled(t.decode(a, OPTIONS, ast, input))
      break
    case "ComposeTransformation":
      step = (a) => a
      break
    case "TypeLiteralTransformation": {
      const psts = t.propertySignatureTransformations
      // When the `to` side is a struct, it builds a fresh object in its own key order from
      // the keys present and their values: the intermediate's key order is not observable,
      // so a property decoded in place keeps its slot instead of being deleted and re-added
      // (deleting would put the object in V8's slow dictionary mode).
      const inPlace = ast.to._tag === "TypeLiteral"
      // as ParseResult: in place, on the fresh object the `from` side built
      step = (a) => {
        const object = a as Record<PropertyKey, unknown>
        for (const pst of psts) {
          const present = Object.prototype.hasOwnProperty.call(object, pst.from)
          const o = pst.decode(present ? Option.some(object[pst.from]) : Option.none())
          if (inPlace && pst.from === pst.to) {
            if (Option.isSome(o)) object[pst.to] = o.value
            else if (present) delete object[pst.from]
            continue
          }
          delete object[pst.from]
          if (Option.isSome(o)) object[pst.to] = o.value
        }
        return object
      }
      break
    }
  }
  return (input) => {
    const a = from(input)
    if (failed(a)) return a
    const b = step(a, input)
    return failed(b) ? b : to(b)
  }
}

const is = (predicate: (u: unknown) => boolean): Fast => (input) => predicate(input) ? input : FAIL

const compiled = new WeakMap<AST.AST, Fast | null>()

/**
 * The fast decoder of an AST node, or `undefined` when the node (or one below
 * it) is a shape this module leaves to `ParseResult`.
 *
 * @internal
 */
export const compile = (ast: AST.AST): Fast | undefined => {
  const known = compiled.get(ast)
  if (known !== undefined) return known ?? undefined
  const parser = changesParsing(ast) ? undefined : build(ast)
  compiled.set(ast, parser ?? null)
  return parser
}

const build = (ast: AST.AST): Fast | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return is((u) => typeof u === "string")
    case "NumberKeyword":
      return is((u) => typeof u === "number")
    case "BooleanKeyword":
      return is((u) => typeof u === "boolean")
    case "UndefinedKeyword":
      return is((u) => u === undefined)
    case "UnknownKeyword":
    case "AnyKeyword":
      return (u) => u
    case "Literal": {
      const literal = ast.literal
      return is((u) => u === literal)
    }
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      return (input) => {
        const a = from(input)
        return failed(a) ? a : Option.isSome(ast.filter(a, OPTIONS, ast)) ? FAIL : a
      }
    }
    case "Declaration": {
      const parse = ast.decodeUnknown(...ast.typeParameters)
      return (input) => settled(parse(input, OPTIONS, ast))
    }
    case "Transformation":
      return transformation(ast)
    case "TypeLiteral":
      return typeLiteral(ast)
    case "Union": {
      if (!ast.types.every(plainMember)) return undefined
      const members: Array<Fast> = []
      for (const member of ast.types) {
        const parser = compile(member)
        if (parser === undefined) return undefined
        members.push(parser)
      }
      // as ParseResult for members without literal properties: the first that decodes
      // (an undecided member leaves the whole decode to ParseResult)
      return (input) => {
        for (let i = 0; i < members.length; i++) {
          const value = members[i]!(input)
          if (value !== FAIL) return value
        }
        return FAIL
      }
    }
    default:
      return undefined
  }
}

/**
 * `Schema.decodeUnknownEither(schema)` with the fast path in front: the same
 * answers, cheaper for the shapes {@link compile} knows.
 *
 * @internal
 */
export const decodeUnknownEither = <A, I>(
  schema: Schema.Schema<A, I, never>
): (input: unknown) => Either.Either<A, ParseResult.ParseError> => {
  const slow = Schema.decodeUnknownEither(schema)
  const fast = compile(schema.ast)
  if (fast === undefined) return slow
  return (input) => {
    let value: unknown
    try {
      value = fast(input)
    } catch {
      value = FALLBACK
    }
    return value === FAIL || value === FALLBACK ? slow(input) : Either.right(value as A)
  }
}

import { Effect, Tracer } from "effect"

/** A tracer that behaves like Effect's own and records every span it makes. */
export const recordingTracer = () => {
  const spans: Array<Tracer.Span> = []
  const native = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { spans, tracer }
}

import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import { rsaSign } from "./keys.js"

export interface RecordedRequest {
  readonly method: string
  /** The full URL as handed to the transport. */
  readonly url: string
  /** pathname + search of that URL. */
  readonly pathAndQuery: string
  readonly headers: Readonly<Record<string, string>>
  /** The request body as sent (UTF-8), "" for none. */
  readonly body: string
}

export interface SignOptions {
  /** Added to the current Clock time (seconds). */
  readonly timestampOffset?: number
  /** The Wechatpay-Serial to send (default: the platform's). */
  readonly serial?: string
  /** Replace the signature with this text. */
  readonly signature?: string
  /** Sign this body but send `body` (a tampered response). */
  readonly signedBody?: string
  readonly signatureType?: string
}

export interface Reply {
  readonly status?: number
  readonly body?: string | object
  readonly headers?: Readonly<Record<string, string>>
  /** false: no signature headers. Default: a good signature. */
  readonly sign?: false | SignOptions
  /** Fail at the transport level instead of answering. */
  readonly transportFailure?: boolean
  /** Never answer (until interrupted). */
  readonly hang?: boolean
}

export interface Platform {
  readonly serial: string
  readonly privateKey: crypto.KeyObject
}

let requestCounter = 0

/**
 * A recording fake HttpClient that answers like WeChat Pay: signs each reply
 * with the platform key (timestamp from Effect's Clock) and sets Request-ID.
 */
export const makeFakeWechat = (platform: Platform, respond: (request: RecordedRequest) => Reply) => {
  const requests: Array<RecordedRequest> = []
  const responseHeaders: Array<Readonly<Record<string, string>>> = []
  let interrupted = 0
  const client = HttpClient.make((request, url) =>
    Effect.clockWith((clock) => {
      const recorded: RecordedRequest = {
        method: request.method,
        url: url.toString(),
        pathAndQuery: url.pathname + url.search,
        headers: { ...request.headers },
        body: request.body._tag === "Uint8Array" ? Buffer.from(request.body.body).toString("utf8") : ""
      }
      requests.push(recorded)
      const reply = respond(recorded)
      if (reply.hang === true) {
        return Effect.onInterrupt(Effect.never, () =>
          Effect.sync(() => {
            interrupted++
          }))
      }
      if (reply.transportFailure === true) {
        return Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: new Error("connect ECONNREFUSED 127.0.0.1:9")
          })
        )
      }
      const status = reply.status ?? 200
      const body = reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body)
      const headers: Record<string, string> = {
        "content-type": "application/json; charset=utf-8",
        "request-id": `08F0${(++requestCounter).toString(16).toUpperCase().padStart(8, "0")}-TEST`,
        ...reply.headers
      }
      if (reply.sign !== false) {
        const options = reply.sign ?? {}
        const timestamp = String(Math.floor(clock.unsafeCurrentTimeMillis() / 1000) + (options.timestampOffset ?? 0))
        const nonce = crypto.randomBytes(16).toString("hex")
        headers["wechatpay-serial"] = options.serial ?? platform.serial
        headers["wechatpay-timestamp"] = timestamp
        headers["wechatpay-nonce"] = nonce
        headers["wechatpay-signature-type"] = options.signatureType ?? "WECHATPAY2-SHA256-RSA2048"
        headers["wechatpay-signature"] = options.signature ??
          rsaSign(platform.privateKey, `${timestamp}\n${nonce}\n${options.signedBody ?? body}\n`)
      }
      responseHeaders.push(headers)
      return Effect.succeed(
        HttpClientResponse.fromWeb(request, new Response([204, 205, 304].includes(status) ? null : body, { status, headers }))
      )
    })
  )
  return {
    requests,
    responseHeaders,
    interrupted: () => interrupted,
    layer: Layer.succeed(HttpClient.HttpClient, client)
  }
}

import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as Layer from "effect/Layer"
import { FastHttpClient } from "../../src/index.js"

/**
 * The real transport the suite runs with: `NodeHttpClient.layerUndici` by
 * default, the library's `FastHttpClient.layer` in the vitest project "fast"
 * (WECHATPAY_TEST_TRANSPORT=fast), so every real-HTTP test runs with both.
 */
export const transportName: "undici" | "fast" = process.env.WECHATPAY_TEST_TRANSPORT === "fast" ? "fast" : "undici"

export const Transport: Layer.Layer<HttpClient.HttpClient> = transportName === "fast"
  ? FastHttpClient.layer
  : NodeHttpClient.layerUndici

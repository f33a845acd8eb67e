#!/usr/bin/env node
/**
 * The `effect-wechatpay` executable: loads the CLI, and when a package it
 * needs is not installed (a peer dependency left out) says which, and the
 * command that installs it, in one line instead of a stack trace.
 *
 * @internal
 */

/** The versions of the Effect 3 line this release is built against. */
const PINS: Readonly<Record<string, string>> = {
  effect: "effect@~3.22.4",
  "@effect/platform": "@effect/platform@~0.97.2",
  "@effect/platform-node": "@effect/platform-node@~0.108.2",
  "@effect/experimental": "@effect/experimental@~0.61.1",
  "@effect/cli": "@effect/cli@~0.77.2"
}

import("./main.js").catch((error: unknown) => {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  const message = error instanceof Error ? error.message : String(error)
  const missing = /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/']+)/.exec(message)?.[1]
  if (code === "ERR_MODULE_NOT_FOUND" && missing !== undefined && missing in PINS) {
    console.error(`effect-wechatpay: ${missing} is not installed; run: npm install ${PINS[missing]}`)
    process.exit(1)
  }
  throw error
})

import { defineConfig } from "vitest/config"

/** The test files that use a real transport; they run once more with the library's FastHttpClient. */
const realTransport = [
  "test/loopback.test.ts",
  "test/sandbox.test.ts",
  "test/certificates.test.ts",
  "test/faults.test.ts",
  "test/hygiene.test.ts",
  "test/load.test.ts",
  "test/liveTimeout.test.ts"
]

export default defineConfig({
  test: {
    setupFiles: ["./test/setup.ts"],
    testTimeout: 30_000,
    projects: [
      { extends: true, test: { name: "undici", include: ["test/**/*.test.ts"] } },
      {
        extends: true,
        test: { name: "fast", include: realTransport, env: { WECHATPAY_TEST_TRANSPORT: "fast" } }
      }
    ]
  }
})

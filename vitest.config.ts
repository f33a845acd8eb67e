import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    setupFiles: ["./test/setup.ts"],
    testTimeout: 30_000,
    // most files wait on sockets, child processes and timers: two at once on a 2-core machine
    // (vitest's default here would be one)
    maxWorkers: 2,
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"]
  }
})

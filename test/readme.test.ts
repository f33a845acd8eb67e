import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The README's code runs as written: its blocks are these files, and the files run. */

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8")

/** The first ```ts block after a heading. */
const blockAfter = (heading: string): string => {
  const from = readme.indexOf(`\n## ${heading}\n`)
  assert.isAbove(from, -1, `README has a "${heading}" section`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(from))
  assert.isNotNull(match, `a ts block under "${heading}"`)
  return match![1]!
}

describe("the README", () => {
  it("its quick start is examples/quickstart.ts, and its testing example is examples/testing.test.ts (which the suite runs)", () => {
    assert.strictEqual(blockAfter("Quick start"), fs.readFileSync(path.join(ROOT, "examples/quickstart.ts"), "utf8"))
    assert.strictEqual(blockAfter("Testing your code"), fs.readFileSync(path.join(ROOT, "examples/testing.test.ts"), "utf8"))
  })

  it("its quick start runs with tsx as written and prints what the README shows", async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(path.join(ROOT, "node_modules/.bin/tsx"), ["examples/quickstart.ts"], { cwd: ROOT, timeout: 30_000 }, (error, stdout) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout }))
    })
    assert.strictEqual(code, 0)
    const shown = /```\n(Pay Score:[\s\S]*?)```/.exec(readme)![1]!.trim().split("\n")
    const printed = stdout.trim().split("\n")
    assert.strictEqual(printed.length, shown.length)
    assert.deepStrictEqual(printed.slice(0, 2), shown.slice(0, 2))
    assert.match(printed[2]!, /^WeChat Pay said ORDER_NOT_EXIST: 无授权记录 \(Request-ID [0-9A-F]{40}-0\)$/)
  })
})

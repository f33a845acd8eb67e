import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { VERSION, USER_AGENT } from "../src/internal/version.js"

/** What `npm pack` (and so `npm publish`) ships, and what a user's first contact needs. */

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..")
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"))

const packed = (): ReadonlyArray<string> => {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"]
  })
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path)
}

describe("the published package", () => {
  it("ships the built modules, the CLI, the licence and the README, and nothing of tests or benchmarks", () => {
    const files = packed()
    for (const file of ["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts", "dist/cli/bin.js"]) {
      assert.include(files, file)
    }
    // every export and the bin point at a packed file
    for (const entry of Object.values(pkg.exports as Record<string, string | Record<string, string>>)) {
      for (const target of typeof entry === "string" ? [entry] : Object.values(entry)) {
        assert.include(files, target.replace(/^\.\//, ""), `export target ${target}`)
      }
    }
    assert.include(files, (pkg.bin["effect-wechatpay"] as string).replace(/^\.\//, ""))
    for (const file of files) {
      assert.isFalse(/^(test|bench|scripts|examples|\.ci|node_modules)\//.test(file), `${file} should not be packed`)
      assert.notInclude(fs.readFileSync(path.join(ROOT, file), "utf8"), "BEGIN PRIVATE KEY", `${file} holds key material`)
    }
  })

  it("has what npm and users look for: licence, repository, homepage, a prepack build, ./package.json", () => {
    assert.strictEqual(pkg.license, "MIT")
    assert.isString(pkg.repository.url)
    assert.isString(pkg.homepage)
    assert.strictEqual(pkg.exports["./package.json"], "./package.json")
    assert.match(pkg.scripts.prepack, /build/)
    assert.isTrue(fs.readFileSync(path.join(ROOT, "dist/cli/bin.js"), "utf8").startsWith("#!/usr/bin/env node\n"))
    // what the CLI and the main entry import at run time is installed with the package; only
    // effect-wechatpay/redis needs ioredis, an optional peer
    assert.deepStrictEqual(pkg.peerDependenciesMeta, { ioredis: { optional: true } })
    assert.property(pkg.dependencies, "@effect/cli")
    // @effect/experimental's types are in the public API: one copy, the app's
    assert.property(pkg.peerDependencies, "@effect/experimental")
    const importers = fs.readdirSync(path.join(ROOT, "dist"), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".js") && /from "ioredis"|\/Redis"/.test(fs.readFileSync(path.join(ROOT, "dist", file), "utf8")))
    assert.deepStrictEqual(importers.sort(), ["services/Redis.js"])
  })

  it("the executable names a package that is not installed, and the command to install it, in one line", () => {
    // the built package without any node_modules around it
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-bare-"))
    try {
      fs.cpSync(path.join(ROOT, "dist"), path.join(dir, "dist"), { recursive: true })
      fs.copyFileSync(path.join(ROOT, "package.json"), path.join(dir, "package.json"))
      let code = 0
      let stderr = ""
      try {
        execFileSync(process.execPath, [path.join(dir, "dist/cli/bin.js"), "--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      } catch (error) {
        code = (error as { status: number }).status
        stderr = (error as { stderr: string }).stderr
      }
      assert.strictEqual(code, 1)
      assert.match(stderr, /^effect-wechatpay: (@effect\/[a-z-]+|effect) is not installed; run: npm install \S+@~\d+\.\d+\.\d+\n$/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("the protocol core imports no Effect: only node: modules and its own files", () => {
    const dir = path.join(ROOT, "src/protocol")
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ts"))
    assert.isAbove(files.length, 5)
    for (const file of files) {
      const text = fs.readFileSync(path.join(dir, file), "utf8")
      for (const [, from, dynamic] of text.matchAll(/^\s*(?:import|export)\b[^"]*?\bfrom\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm)) {
        const target = from ?? dynamic!
        assert.isTrue(target.startsWith("node:") || target.startsWith("./"), `${file} imports ${target}`)
      }
    }
  })

  it("names its own version in the User-Agent, as package.json has it", () => {
    assert.strictEqual(VERSION, pkg.version)
    assert.include(USER_AGENT, `effect-wechatpay/${pkg.version} `)
  })
})

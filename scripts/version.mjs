// Writes src/internal/version.ts from package.json (run by `npm run build`), so the
// User-Agent names the version that was built.
import * as fs from "node:fs"

const { version } = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"))
const file = new URL("../src/internal/version.ts", import.meta.url)
const text = `/** The package version, written from package.json by scripts/version.mjs. @internal */
export const VERSION = ${JSON.stringify(version)}

/** @internal */
export const USER_AGENT = \`effect-wechatpay/\${VERSION} (\${process.platform}; \${process.arch}) Node.js/\${process.versions.node}\`
`
if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) fs.writeFileSync(file, text)

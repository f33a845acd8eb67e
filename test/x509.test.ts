import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { selfSignedCertificate } from "../src/protocol/x509.js"

const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })

describe("the sandbox's self-signed X.509 writer", () => {
  it("writes a certificate node:crypto and the openssl CLI both accept", () => {
    const notBefore = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))
    const notAfter = new Date(Date.UTC(2060, 0, 2, 3, 4, 5)) // past 2049: GeneralizedTime
    const pem = selfSignedCertificate({ serialHex: "F5765756002FDD77", privateKey, notBefore, notAfter })
    const cert = new crypto.X509Certificate(pem)
    assert.strictEqual(cert.serialNumber.toUpperCase(), "F5765756002FDD77") // high bit set: DER needs a leading 00
    assert.isTrue(cert.verify(publicKey))
    assert.isTrue(cert.publicKey.equals(publicKey))
    assert.strictEqual(Date.parse(cert.validFrom), notBefore.getTime())
    assert.strictEqual(Date.parse(cert.validTo), notAfter.getTime())
    assert.include(cert.subject, "CN=Tenpay.com Root CA")

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-x509-"))
    try {
      const file = path.join(dir, "cert.pem")
      fs.writeFileSync(file, pem)
      const verified = execFileSync("openssl", ["verify", "-CAfile", file, file], { encoding: "utf8" })
      assert.include(verified, ": OK")
      const text = execFileSync("openssl", ["x509", "-in", file, "-noout", "-serial"], { encoding: "utf8" })
      assert.strictEqual(text.trim(), "serial=F5765756002FDD77")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("encodes short and leading-zero serials minimally", () => {
    for (const [hex, expected] of [["1", "01"], ["00AB", "AB"], ["7F", "7F"], ["80", "80"]]) {
      const pem = selfSignedCertificate({ serialHex: hex, privateKey, notBefore: new Date(0), notAfter: new Date(86400_000) })
      assert.strictEqual(new crypto.X509Certificate(pem).serialNumber.toUpperCase(), expected)
    }
  })
})

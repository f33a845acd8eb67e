import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export interface RsaKeys {
  readonly privateKey: crypto.KeyObject
  readonly publicKey: crypto.KeyObject
  /** PKCS#8 PEM */
  readonly privateKeyPem: string
  /** PKCS#1 PEM */
  readonly privateKeyPkcs1Pem: string
  /** SPKI PEM */
  readonly publicKeyPem: string
}

/** A fresh RSA-2048 key pair. */
export const generateRsa = (): RsaKeys => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    privateKeyPkcs1Pem: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString()
  }
}

/**
 * A self-signed X.509 certificate for `keys`, made with the openssl CLI
 * (node:crypto cannot create certificates). Valid from now for `days`.
 */
export const selfSignedCertificate = (keys: RsaKeys, serialHex: string, days = 365): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wxpay-cert-"))
  try {
    const keyFile = path.join(dir, "key.pem")
    fs.writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 })
    return execFileSync("openssl", [
      "req",
      "-new",
      "-x509",
      "-key",
      keyFile,
      "-subj",
      "/C=CN/O=Tenpay.com/CN=Tenpay.com Root CA",
      "-set_serial",
      `0x${serialHex}`,
      "-days",
      String(days)
    ], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Signs `message` the way WeChat Pay does (RSA-SHA256, Base64). */
export const rsaSign = (key: crypto.KeyObject, message: string): string =>
  crypto.sign("sha256", Buffer.from(message), key).toString("base64")

const AUTHORIZATION =
  /^WECHATPAY2-SHA256-RSA2048 mchid="([^"]*)",nonce_str="([^"]*)",signature="([^"]*)",timestamp="([^"]*)",serial_no="([^"]*)"$/

export interface ParsedAuthorization {
  readonly mchid: string
  readonly nonce: string
  readonly signature: string
  readonly timestamp: string
  readonly serialNo: string
}

/** Parses an `Authorization` header value, or returns undefined. */
export const parseAuthorization = (value: string): ParsedAuthorization | undefined => {
  const m = AUTHORIZATION.exec(value)
  return m === null ? undefined : { mchid: m[1]!, nonce: m[2]!, signature: m[3]!, timestamp: m[4]!, serialNo: m[5]! }
}

/** Independently checks a request's Authorization header with the merchant public key. */
export const verifyAuthorization = (
  publicKey: crypto.KeyObject,
  authorization: string,
  method: string,
  pathAndQuery: string,
  body = ""
): boolean => {
  const a = parseAuthorization(authorization)
  if (a === undefined) return false
  const message = `${method}\n${pathAndQuery}\n${a.timestamp}\n${a.nonce}\n${body}\n`
  return crypto.verify("sha256", Buffer.from(message), publicKey, Buffer.from(a.signature, "base64"))
}

/**
 * A minimal DER writer for one thing: a self-signed X.509 certificate with an
 * RSA key, so a sandbox can hold platform certificates without the openssl
 * CLI (node:crypto parses certificates but cannot create them).
 *
 * @since 0.2.0
 */
import * as crypto from "node:crypto"

const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length
  const length = n < 0x80
    ? Buffer.from([n])
    : n < 0x100
    ? Buffer.from([0x81, n])
    : n < 0x10000
    ? Buffer.from([0x82, n >> 8, n & 0xff])
    : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), length, content])
}

const sequence = (...items: ReadonlyArray<Buffer>) => tlv(0x30, Buffer.concat(items))
const set = (...items: ReadonlyArray<Buffer>) => tlv(0x31, Buffer.concat(items))

const integerFromHex = (hex: string): Buffer => {
  let bytes = Buffer.from(hex.length % 2 === 1 ? "0" + hex : hex, "hex")
  while (bytes.length > 1 && bytes[0] === 0 && bytes[1]! < 0x80) bytes = bytes.subarray(1)
  if (bytes[0]! >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes])
  return tlv(0x02, bytes)
}

const OID = {
  sha256WithRSA: Buffer.from("06092a864886f70d01010b", "hex"),
  countryName: Buffer.from("0603550406", "hex"),
  organizationName: Buffer.from("060355040a", "hex"),
  commonName: Buffer.from("0603550403", "hex")
}

const algorithm = sequence(OID.sha256WithRSA, Buffer.from([0x05, 0x00]))

const name = (subject: { readonly country: string; readonly organization: string; readonly commonName: string }) =>
  sequence(
    set(sequence(OID.countryName, tlv(0x13, Buffer.from(subject.country, "ascii")))),
    set(sequence(OID.organizationName, tlv(0x0c, Buffer.from(subject.organization, "utf8")))),
    set(sequence(OID.commonName, tlv(0x0c, Buffer.from(subject.commonName, "utf8"))))
  )

const time = (date: Date): Buffer => {
  const iso = date.toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z" // YYYYMMDDHHMMSSZ
  const year = date.getUTCFullYear()
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "ascii"))
    : tlv(0x18, Buffer.from(digits, "ascii"))
}

/**
 * Options of {@link selfSignedCertificate}.
 *
 * @since 0.2.0
 */
export interface CertificateOptions {
  readonly serialHex: string
  readonly privateKey: crypto.KeyObject
  readonly notBefore: Date
  readonly notAfter: Date
  readonly commonName?: string
}

/**
 * A self-signed X.509 v1 certificate (sha256WithRSAEncryption), PEM.
 *
 * @since 0.2.0
 */
export const selfSignedCertificate = (options: CertificateOptions): string => {
  const subject = name({
    country: "CN",
    organization: "Tenpay.com",
    commonName: options.commonName ?? "Tenpay.com Root CA"
  })
  const spki = crypto.createPublicKey(options.privateKey).export({ type: "spki", format: "der" })
  const tbs = sequence(
    integerFromHex(options.serialHex),
    algorithm,
    subject,
    sequence(time(options.notBefore), time(options.notAfter)),
    subject,
    spki
  )
  const signature = crypto.sign("sha256", tbs, options.privateKey)
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "")
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`
}

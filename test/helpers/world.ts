import { Layer, Redacted } from "effect"
import { Signer, Verifier, Wechatpay } from "../../src/index.js"
import { generateRsa } from "./keys.js"
import { makeFakeWechat, type RecordedRequest, type Reply } from "./fakeWechat.js"

export const MCHID = "1900000001"
export const MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
export const PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
export const OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
export const APPID = "wxd678efh567hg6787"
export const SERVICE_ID = "500001"

/** Retries off: these tests look at what one response maps to. */
export const NoRetry = Layer.succeed(Wechatpay.Retry, { maxAttempts: 1, baseDelay: 0, maxDelay: 0, jitter: false })

/** Keys generated once per test file, and the layers a query needs. */
export const makeWorld = () => {
  const merchant = generateRsa()
  const platform = generateRsa()
  const SignerLive = Signer.layer({ mchid: MCHID, serialNo: MERCHANT_SERIAL, privateKey: Redacted.make(merchant.privateKeyPem) })
  const VerifierLive = Verifier.layer({ publicKeys: { [PUB_KEY_ID]: platform.publicKeyPem } })
  /** Signer + Verifier + a recording fake WeChat Pay answering with `respond`. */
  const fake = (respond: (request: RecordedRequest) => Reply, options: { readonly retries?: boolean } = {}) => {
    const wechat = makeFakeWechat({ serial: PUB_KEY_ID, privateKey: platform.privateKey }, respond)
    return {
      requests: wechat.requests,
      responseHeaders: wechat.responseHeaders,
      interrupted: wechat.interrupted,
      layer: options.retries === true
        ? Layer.mergeAll(SignerLive, VerifierLive, wechat.layer)
        : Layer.mergeAll(SignerLive, VerifierLive, wechat.layer, NoRetry)
    }
  }
  return { merchant, platform, SignerLive, VerifierLive, fake }
}

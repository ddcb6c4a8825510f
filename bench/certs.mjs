// Certificate issue time: berth's way (RSA key generation and signing in node:crypto, forge only
// assembles the certificate) against node-forge doing it all in pure JavaScript, in the same run.
import forge from 'node-forge'
import {createCA, issueCert} from '../dist/src/core/certs/certs.js'
import {median} from './lib.mjs'

const runs = Number(process.env.RUNS ?? 10)
const ca = await createCA()

async function forgeOnlyIssue() {
  forge.options.usePureJavaScript = true
  const keys = forge.pki.rsa.generateKeyPair({bits: 2048, e: 0x10001})
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = '01'
  cert.validity.notBefore = new Date()
  cert.validity.notAfter = new Date(Date.now() + 3 * 365 * 86400_000)
  cert.setSubject([{name: 'commonName', value: 'bench'}])
  cert.setIssuer(forge.pki.certificateFromPem(ca.certPem).subject.attributes)
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create())
  forge.options.usePureJavaScript = false
  return forge.pki.certificateToPem(cert)
}

const berthTimes = []
const forgeTimes = []
for (let i = 0; i < runs; i++) {
  let t = performance.now()
  await issueCert(ca, {kind: 'server', commonName: 'bench', sans: ['10.0.0.1', 'bench', 'localhost']})
  berthTimes.push(performance.now() - t)
  t = performance.now()
  await forgeOnlyIssue()
  forgeTimes.push(performance.now() - t)
}
const result = {
  runs,
  berthIssueMs: {median: median(berthTimes), min: Math.min(...berthTimes), max: Math.max(...berthTimes)},
  forgeOnlyIssueMs: {median: median(forgeTimes), min: Math.min(...forgeTimes), max: Math.max(...forgeTimes)},
  speedup: median(forgeTimes) / median(berthTimes),
}
console.log(JSON.stringify(result, null, 2))

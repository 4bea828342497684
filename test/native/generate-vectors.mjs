// Writes docs/native-test-vectors.json: fixed keys and inputs and the outputs they give (run once: node test/native/generate-vectors.mjs).
// ECDSA signatures are randomised, so signed values are published as "verifies with" vectors; every
// encryption uses a fixed ephemeral key, CEK and IV, so envelopes and replies are byte-exact.
import { writeFileSync } from 'node:fs';
import { webcrypto as crypto } from 'node:crypto';
import { base64url, CompactEncrypt, CompactSign } from 'jose';

const subtle = crypto.subtle;
const enc = new TextEncoder();
const b64 = (bytes) => base64url.encode(bytes);
const fixedBytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff);

async function ecKey(name, extra = {}) {
  const pair = await subtle.generateKey(name === 'ECDSA' ? { name, namedCurve: 'P-256' } : { name, namedCurve: 'P-256' }, true, name === 'ECDSA' ? ['sign', 'verify'] : ['deriveBits']);
  const { key_ops: _o, ext: _e, ...jwk } = await subtle.exportKey('jwk', pair.privateKey);
  return { ...jwk, ...extra };
}
const pub = ({ kty, crv, x, y }) => ({ kty, crv, x, y });
const ecdsaPrivate = (jwk) => subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const ecdhPrivate = (jwk) => subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, { name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
const ecdhPublic = (jwk) => subtle.importKey('jwk', pub(jwk), { name: 'ECDH', namedCurve: 'P-256' }, true, []);

// Ids in the service's format: prefix, then 36 Crockford base32 characters.
const id = (prefix, fill) => `${prefix}_01kdx0${fill.repeat(30)}`;
const now = 1767225600; // 2026-01-01T00:00:00Z
const base = 'https://custos.example';
const tenantId = id('ten', 'a');
const registrationOp = id('op', 'b');
const approvalOp = id('op', 'c');
const deviceId = id('dev', 'd');
const token = `sdk_${b64(fixedBytes(32, 1))}`;

const keys = {
  device: await ecKey('ECDSA'),
  otherDevice: await ecKey('ECDSA'),
  e2e: await ecKey('ECDH', { kid: 'e2e-vector-1', alg: 'ECDH-ES+A256KW', use: 'enc' }),
  e2ePrevious: await ecKey('ECDH', { kid: 'e2e-vector-0', alg: 'ECDH-ES+A256KW', use: 'enc' }),
  replyKey: await ecKey('ECDH'),
  requestEpk: await ecKey('ECDH'),
  replyEpk: await ecKey('ECDH'),
};

const ath = b64(new Uint8Array(await subtle.digest('SHA-256', enc.encode(token))));
const sdkUrl = `${base}/app/#op=${registrationOp}&token=${encodeURIComponent(token)}&tenant=${tenantId}`;

// Dynamic linking: random(32) ‖ SHA-256(JCS(transaction)).
const transaction = { amount: '12.50', currency: 'EUR', payee: { name: 'ACME Ltd', account: 'DE89370400440532013000' }, reference: 'INV-42' };
const jcs = '{"amount":"12.50","currency":"EUR","payee":{"account":"DE89370400440532013000","name":"ACME Ltd"},"reference":"INV-42"}';
const digest = new Uint8Array(await subtle.digest('SHA-256', enc.encode(jcs)));
const random = fixedBytes(32, 2);
const challenge = b64(Uint8Array.from([...random, ...digest]));
const registrationChallenge = b64(fixedBytes(32, 3));

async function signJws(header, claims, signingJwk) {
  const jws = await new CompactSign(enc.encode(JSON.stringify(claims))).setProtectedHeader(header).sign(await ecdsaPrivate(signingJwk));
  return jws;
}

async function sealTo(plaintext, header, recipientJwk, epkJwk, cek, iv) {
  return new CompactEncrypt(enc.encode(plaintext))
    .setProtectedHeader(header)
    .setKeyManagementParameters({ epk: await ecdhPrivate(epkJwk) })
    .setContentEncryptionKey(cek)
    .setInitializationVector(iv)
    .encrypt(await ecdhPublic(recipientJwk));
}

const decodeHeader = (compact) => JSON.parse(new TextDecoder().decode(base64url.decode(compact.split('.')[0])));

async function request(name, { op, action, header, claims, seed }) {
  const jws = await signJws(header, claims, keys.device);
  const cek = fixedBytes(32, seed);
  const iv = fixedBytes(12, seed + 1);
  const jweHeader = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'JWT', kid: keys.e2e.kid };
  const envelope = await sealTo(jws, jweHeader, keys.e2e, keys.requestEpk, cek, iv);
  return {
    name,
    method: 'POST',
    url: `${base}/sdk/v1/operations/${op}/${action}`,
    operationId: op,
    now,
    jwsHeader: header,
    claims,
    signingInput: jws.split('.').slice(0, 2).join('.'),
    jws,
    jweHeader,
    jweProtectedHeader: decodeHeader(envelope),
    cek: b64(cek),
    iv: b64(iv),
    epk: 'requestEpk',
    envelope,
  };
}

const rek = pub(keys.replyKey);
const registration = await request('registration finish (new key, activation code)', {
  op: registrationOp, action: 'finish', seed: 10,
  header: { alg: 'ES256', typ: 'custos-request+jwt', jwk: pub(keys.device) },
  claims: { htm: 'POST', htu: `${base}/sdk/v1/operations/${registrationOp}/finish`, iat: now, jti: 'vector-jti-registration-0001', op: registrationOp, rek, ath, challenge: registrationChallenge, uv: 'face' },
});
const approval = await request('authorisation finish (registered device, linked challenge)', {
  op: approvalOp, action: 'finish', seed: 20,
  header: { alg: 'ES256', typ: 'custos-request+jwt', kid: deviceId },
  claims: { htm: 'POST', htu: `${base}/sdk/v1/operations/${approvalOp}/finish`, iat: now, jti: 'vector-jti-approval-00000001', op: approvalOp, rek, challenge, uv: 'fpt' },
});

const replyBody = { status: 'COMPLETED', deviceId };
const replyCek = fixedBytes(32, 30);
const replyIv = fixedBytes(12, 31);
const replyHeader = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', cty: 'json' };
const reply = await sealTo(JSON.stringify(replyBody), replyHeader, keys.replyKey, keys.replyEpk, replyCek, replyIv);

const proofClaims = { htm: 'GET', htu: `${base}/sdk/v1/devices/me/operations`, iat: now, jti: 'vector-jti-proof-000000001', rek };
const deviceProof = await signJws({ alg: 'ES256', typ: 'device-proof+jwt', kid: deviceId }, proofClaims, keys.device);

// Refusals: each must be refused with its code and nothing else.
const parts = approval.envelope.split('.');
const flip = (s) => (s[5] === 'A' ? `${s.slice(0, 5)}B${s.slice(6)}` : `${s.slice(0, 5)}A${s.slice(6)}`);
const withHeader = (h) => [b64(enc.encode(JSON.stringify(h))), ...parts.slice(1)].join('.');
const header = approval.jweProtectedHeader;
const otherSigned = await signJws(approval.jwsHeader, approval.claims, keys.otherDevice);
const invalid = [
  { name: 'tampered ciphertext', envelope: [...parts.slice(0, 3), flip(parts[3]), parts[4]].join('.'), code: 'ENVELOPE_UNREADABLE' },
  { name: 'tampered authentication tag', envelope: [...parts.slice(0, 4), flip(parts[4])].join('.'), code: 'ENVELOPE_UNREADABLE' },
  { name: 'tampered protected header (member added)', envelope: withHeader({ ...header, typ: 'x' }), code: 'ENVELOPE_UNREADABLE' },
  { name: 'unknown kid', envelope: withHeader({ ...header, kid: 'e2e-unknown' }), code: 'E2E_KEY_UNKNOWN' },
  { name: 'kid swapped to another configured key', envelope: withHeader({ ...header, kid: keys.e2ePrevious.kid }), code: 'ENVELOPE_UNREADABLE' },
  { name: 'direct key agreement instead of key wrapping', envelope: withHeader({ ...header, alg: 'ECDH-ES' }), code: 'ENVELOPE_MALFORMED' },
  {
    name: 'inner JWS by another device key',
    envelope: await sealTo(otherSigned, approval.jweHeader, keys.e2e, keys.requestEpk, fixedBytes(32, 40), fixedBytes(12, 41)),
    code: 'DEVICE_SIGNATURE_INVALID',
  },
  { name: 'envelope for another operation (checked against the registration URL)', envelope: approval.envelope, url: registration.url, operationId: registrationOp, code: 'ENVELOPE_BINDING_MISMATCH' },
  { name: 'stale iat (checked 61 s later)', envelope: approval.envelope, now: now + 61, code: 'ENVELOPE_STALE' },
  { name: 'iat in the future (checked 11 s earlier)', envelope: approval.envelope, now: now - 11, code: 'ENVELOPE_STALE' },
].map((v) => ({ url: approval.url, operationId: approvalOp, now, ...v }));

const vectors = {
  description:
    'Custos native protocol test vectors (docs/native-protocol.md). Keys are P-256 JWKs. ECDSA signatures are randomised: check that `jws` verifies with keys.device and that your own signature over the same header and claims has the same `signingInput`. Envelopes and replies use the fixed ephemeral key (epk), CEK and IV given, so with the same JSON member order a sealer reproduces them byte for byte; a receiver must open them whatever the order.',
  version: 1,
  keys,
  deviceId,
  tenantId,
  activation: { sdkUrl, baseUrl: base, operationId: registrationOp, token, tenantId, ath },
  linking: { transaction, jcs, sha256: b64(digest), random: b64(random), challenge },
  registrationChallenge,
  requests: [registration, approval],
  reply: { body: replyBody, header: replyHeader, jweProtectedHeader: decodeHeader(reply), recipient: 'replyKey', epk: 'replyEpk', cek: b64(replyCek), iv: b64(replyIv), jwe: reply },
  deviceProof: { claims: proofClaims, jws: deviceProof },
  invalid,
};

writeFileSync(new URL('../../docs/native-test-vectors.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log('wrote docs/native-test-vectors.json');

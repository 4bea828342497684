// Device proofs (API.md §2): a per-request JWS by the device key, so a bound device can call /sdk/v1 without a token.
import { CompactSign } from 'jose';
import { bytesToBase64 } from './base64.js';

/** A device bound at registration: its id (`dev_…`) and the private half of the key bound to it. */
export interface DeviceCredential {
  id: string;
  privateKey: CryptoKey;
}

export interface DeviceProofOptions {
  /** The current time in milliseconds, for tests. */
  now?: () => number;
}

export const DEVICE_PROOF_TYPE = 'device-proof+jwt';

/** RFC 9449 §4.2 htu: the target URI without query and fragment. */
export function proofTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

function randomJti(): string {
  // 18 random bytes → 24 base64url characters: well over the 16 the server asks for, 144 bits.
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * Signs `{ htm, htu, iat, jti }` for one request (DPoP-like, RFC 9449). The server accepts each jti
 * once and only for 60 s, so a proof is made per request, never reused.
 */
export async function createDeviceProof(device: DeviceCredential, method: string, url: string, options: DeviceProofOptions = {}): Promise<string> {
  const algorithm = device.privateKey.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') throw new TypeError('device.privateKey must be an ECDSA P-256 key');
  if (typeof device.id !== 'string' || device.id === '') throw new TypeError('device.id must be the device id');
  const claims = {
    htm: method.toUpperCase(),
    htu: proofTarget(url),
    iat: Math.floor((options.now?.() ?? Date.now()) / 1000),
    jti: randomJti(),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: DEVICE_PROOF_TYPE, kid: device.id })
    .sign(device.privateKey);
}

// Device key binding at registration (API.md §2): a P-256 key proves later that it is this device.
import { CompactSign } from 'jose';

export interface DeviceKeyJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** Generates the device key; non-extractable so script on the page can use it but never copy it out. */
export async function generateDeviceKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

/** Throws unless the pair is ECDSA P-256, the only key the server binds (ES256). */
export function assertDeviceKeyPair(keyPair: CryptoKeyPair): void {
  const algorithm = keyPair.privateKey.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new TypeError('deviceKey must be an ECDSA P-256 key pair');
  }
}

/** The public JWK with only the members the server binds; anything else (key_ops, ext) is noise. */
export async function exportDevicePublicKey(keyPair: CryptoKeyPair): Promise<DeviceKeyJwk> {
  assertDeviceKeyPair(keyPair);
  const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  if (jwk.x === undefined || jwk.y === undefined) throw new TypeError('deviceKey has no public coordinates');
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
}

/**
 * Signs `{ operationId, challenge }` with the device key, the challenge exactly as the server sent it,
 * so the binding is tied to this one ceremony and cannot be replayed onto another.
 */
export async function signDeviceBinding(keyPair: CryptoKeyPair, operationId: string, challenge: string): Promise<string> {
  assertDeviceKeyPair(keyPair);
  const payload = new TextEncoder().encode(JSON.stringify({ operationId, challenge }));
  return new CompactSign(payload).setProtectedHeader({ alg: 'ES256', typ: 'device-binding+jwt' }).sign(keyPair.privateKey);
}

// PSD2 dynamic linking: challenges that commit to the exact transaction or document shown to the user.
import canonicalize from 'canonicalize';
import { constantTimeEqual, hex, randomBytes, sha256, utf8 } from './encoding';

/** Bytes of randomness at the head of every challenge (and the whole of a plain one). */
export const CHALLENGE_RANDOM_LENGTH = 32;
/** random(32) ‖ SHA-256 digest(32). */
export const LINKED_CHALLENGE_LENGTH = 64;

/**
 * SHA-256 over the UTF-8 bytes of the RFC 8785 (JCS) form of `bound`: the transaction as the
 * Operation echoes it, `{ transactions: [...] }` for a batch, or the echoed document object.
 * Throws TypeError for a value JSON cannot represent (undefined, NaN, Infinity).
 */
export async function boundDigest(bound: unknown): Promise<Uint8Array> {
  const canonical = canonicalize(bound);
  if (canonical === undefined) throw new TypeError('bound value has no JSON form');
  return sha256(utf8(canonical));
}

/**
 * A WebAuthn challenge for AUTHORISATION or SIGNATURE: 32 fresh random bytes followed by the
 * digest of what the user is shown, so the signature covers amount and payee (or document).
 * `random` exists for tests; production callers omit it.
 */
// PSD2 RTS art. 5(1)(b): the authentication code is specific to the amount and the payee.
export async function linkedChallenge(bound: unknown, random?: Uint8Array): Promise<Uint8Array> {
  const head = random ?? randomBytes(CHALLENGE_RANDOM_LENGTH);
  if (head.length !== CHALLENGE_RANDOM_LENGTH) throw new RangeError('challenge randomness must be 32 bytes');
  const challenge = new Uint8Array(LINKED_CHALLENGE_LENGTH);
  challenge.set(head, 0);
  challenge.set(await boundDigest(bound), CHALLENGE_RANDOM_LENGTH);
  return challenge;
}

/**
 * True when `challenge` commits to `bound`. The server also compares the whole challenge with the
 * one it issued; this check is what lets a third party holding the evidence re-derive the link.
 */
// PSD2 RTS art. 5(1)(d): any change to the amount or the payee invalidates the authentication code.
export async function verifyLinkedChallenge(challenge: Uint8Array, bound: unknown): Promise<boolean> {
  if (challenge.length !== LINKED_CHALLENGE_LENGTH) return false;
  let digest: Uint8Array;
  try {
    digest = await boundDigest(bound);
  } catch {
    return false;
  }
  return constantTimeEqual(challenge.subarray(CHALLENGE_RANDOM_LENGTH), digest);
}

/** Lowercase hex SHA-256 of a document's UTF-8 bytes: the `sha256` the Operation echoes. */
export async function documentDigest(content: string): Promise<string> {
  return hex(await sha256(utf8(content)));
}

/** A 32-byte random challenge for REGISTRATION and AUTHENTICATION, which link to nothing. */
export function plainChallenge(): Uint8Array {
  return randomBytes(CHALLENGE_RANDOM_LENGTH);
}

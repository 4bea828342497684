// AES-256-GCM sealing of webhook secrets at rest: round trip, binding to its tenant, tamper and key checks.
import { describe, expect, it } from 'vitest';
import { importSecretBoxKey, isSealed, openSecret, sealSecret } from '../../src/domain/secret-box';
import { toB64url, toBase64 } from '../../src/domain/encoding';

const keyBytes = Uint8Array.from({ length: 32 }, (_, i) => i);
const secret = 'whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

describe('secret box', () => {
  it('NIST SP 800-38D (GCM): seals to enc:v1:<iv>.<ciphertext> with a fresh IV each time, and opens again', async () => {
    const key = await importSecretBoxKey(toBase64(keyBytes));
    const a = await sealSecret(key, secret, 'tenant A');
    const b = await sealSecret(key, secret, 'tenant A');
    expect(a).toMatch(/^enc:v1:[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(isSealed(a)).toBe(true);
    expect(isSealed(secret)).toBe(false);
    expect(await openSecret(key, a, 'tenant A')).toBe(secret);
    expect(await openSecret(key, b, 'tenant A')).toBe(secret);
  });

  it('the context is authenticated: a value sealed for one tenant does not open for another', async () => {
    const key = await importSecretBoxKey(toBase64(keyBytes));
    const sealed = await sealSecret(key, secret, 'tenant A');
    await expect(openSecret(key, sealed, 'tenant B')).rejects.toThrow();
  });

  it('a changed ciphertext, another key or a malformed value does not open', async () => {
    const key = await importSecretBoxKey(toBase64(keyBytes));
    const sealed = await sealSecret(key, secret, 'ctx');
    const at = sealed.length - 2;
    const flipped = sealed.slice(0, at) + (sealed[at] === 'A' ? 'B' : 'A') + sealed.slice(at + 1);
    expect(flipped).not.toBe(sealed);
    await expect(openSecret(key, flipped, 'ctx')).rejects.toThrow();
    const other = await importSecretBoxKey(toBase64(keyBytes.map((b) => b ^ 0xff)));
    await expect(openSecret(other, sealed, 'ctx')).rejects.toThrow();
    await expect(openSecret(key, 'enc:v1:onlyonepart', 'ctx')).rejects.toThrow(TypeError);
    await expect(openSecret(key, secret, 'ctx')).rejects.toThrow(TypeError);
  });

  it('WEBHOOK_SECRET_KEY: 32 bytes as base64 or base64url; anything else is refused loudly', async () => {
    await expect(importSecretBoxKey(toB64url(keyBytes))).resolves.toBeDefined();
    await expect(importSecretBoxKey(` ${toBase64(keyBytes)}\n`)).resolves.toBeDefined();
    await expect(importSecretBoxKey(toBase64(keyBytes.slice(0, 16)))).rejects.toThrow('32 bytes');
    await expect(importSecretBoxKey('not base64 at all!')).rejects.toThrow('base64');
    await expect(importSecretBoxKey('')).rejects.toThrow();
  });
});

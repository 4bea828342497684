// Byte encodings, hashing and constant-time comparison.
import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  fromB64url,
  fromBase64,
  hex,
  randomBytes,
  sha256,
  toB64url,
  toBase64,
  utf8,
} from '../../src/domain/encoding';

describe('encoding', () => {
  it('RFC 4648 §10 test vectors for base64 and base64url', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(toBase64(utf8(plain))).toBe(encoded);
      expect(fromBase64(encoded)).toEqual(utf8(plain));
      expect(toB64url(utf8(plain))).toBe(encoded.replace(/=+$/, ''));
      expect(fromB64url(encoded.replace(/=+$/, ''))).toEqual(utf8(plain));
    }
  });

  it('RFC 4648 §5: base64url uses "-" and "_" where base64 uses "+" and "/"', () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xbf]);
    expect(toBase64(bytes)).toBe('+/+/');
    expect(toB64url(bytes)).toBe('-_-_');
    expect(fromB64url('-_-_')).toEqual(bytes);
  });

  it('strict base64url: padding, foreign characters, impossible lengths and non-zero trailing bits are refused', () => {
    expect(() => fromB64url('Zg==')).toThrow(TypeError);
    expect(() => fromB64url('Zm9v+')).toThrow(TypeError);
    expect(() => fromB64url('Zm9vY')).toThrow(TypeError);
    expect(() => fromB64url('Zh')).toThrow(TypeError);
    expect(() => fromB64url('Zm 9v')).toThrow(TypeError);
  });

  it('strict base64: bad length or alphabet is refused', () => {
    expect(() => fromBase64('Zg')).toThrow(TypeError);
    expect(() => fromBase64('Zm9v_-')).toThrow(TypeError);
  });

  it('round-trips every byte value through base64url', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(fromB64url(toB64url(all))).toEqual(all);
    expect(fromBase64(toBase64(all))).toEqual(all);
  });

  it('hex is lowercase and two digits per byte', () => {
    expect(hex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff');
  });

  it('FIPS 180-4: SHA-256 of "" and "abc"', async () => {
    expect(hex(await sha256(utf8('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(await sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('constantTimeEqual: equal, one bit different, different lengths', () => {
    const a = new Uint8Array([1, 2, 3, 4]);
    expect(constantTimeEqual(a, new Uint8Array([1, 2, 3, 4]))).toBe(true);
    expect(constantTimeEqual(a, new Uint8Array([1, 2, 3, 5]))).toBe(false);
    expect(constantTimeEqual(a, new Uint8Array([0x81, 2, 3, 4]))).toBe(false);
    expect(constantTimeEqual(a, new Uint8Array([1, 2, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('randomBytes gives the asked length and differs between calls', () => {
    expect(randomBytes(32)).toHaveLength(32);
    expect(hex(randomBytes(32))).not.toBe(hex(randomBytes(32)));
    expect(() => randomBytes(-1)).toThrow(RangeError);
    expect(() => randomBytes(1.5)).toThrow(RangeError);
  });
});

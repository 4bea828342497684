// The pieces of the device-side dynamic-linking check: JCS ordering and exact decimal sums.
import { describe, expect, it } from 'vitest';
import { decimalsEqual, sumDecimals } from '../src/decimal.js';
import { canonicalJson } from '../src/linking.js';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units at every depth, without whitespace (RFC 8785 §3.2.3)', () => {
    const value = { '\u20ac': 'Euro', '\r': 'CR', '\ufb33': 'Dalet', '1': 'One', '\ud83d\ude00': 'Emoji', '\u0080': 'Control', 'ö': { b: [2, { d: 1, c: null }], a: true } };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"CR","1":"One","\u0080":"Control","ö":{"a":true,"b":[2,{"c":null,"d":1}]},"€":"Euro","\ud83d\ude00":"Emoji","\ufb33":"Dalet"}',
    );
  });

  it('leaves out undefined members, as JSON does', () => {
    expect(canonicalJson({ title: undefined, mimeType: 'text/plain' })).toBe('{"mimeType":"text/plain"}');
  });
});

describe('decimal sums', () => {
  it('adds exactly where floats do not', () => {
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(sumDecimals(['10.00', '15.5'])).toBe('25.50');
    expect(sumDecimals(['9007199254740993', '0.01'])).toBe('9007199254740993.01');
    expect(sumDecimals(['0.05', '0.05'])).toBe('0.10');
  });

  it('refuses what is not a plain decimal', () => {
    expect(sumDecimals(['1', '-1'])).toBeUndefined();
    expect(sumDecimals(['1e2'])).toBeUndefined();
  });

  it('compares by value, not by spelling', () => {
    expect(decimalsEqual('25.5', '25.50')).toBe(true);
    expect(decimalsEqual('25.5', '25.05')).toBe(false);
    expect(decimalsEqual('007', '7.0')).toBe(true);
  });
});

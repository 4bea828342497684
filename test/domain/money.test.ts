// Amount parsing, the ISO 4217 table and exact totals.
import { describe, expect, it } from 'vitest';
import {
  CURRENCY_CODES,
  MAX_INTEGER_DIGITS,
  formatMinor,
  isCurrency,
  minorUnits,
  parseAmount,
  sumAmounts,
} from '../../src/domain/money';

function refused(amount: unknown, currency: string): string {
  const result = parseAmount(amount, currency);
  expect(result.ok).toBe(false);
  return result.ok ? '' : result.reason;
}

describe('ISO 4217 table', () => {
  it('ISO 4217: minor units of representative codes (0, 2, 3 and 4 digits)', () => {
    expect(minorUnits('EUR')).toBe(2);
    expect(minorUnits('USD')).toBe(2);
    expect(minorUnits('GBP')).toBe(2);
    expect(minorUnits('JPY')).toBe(0);
    expect(minorUnits('KRW')).toBe(0);
    expect(minorUnits('ISK')).toBe(0);
    expect(minorUnits('XOF')).toBe(0);
    expect(minorUnits('KWD')).toBe(3);
    expect(minorUnits('BHD')).toBe(3);
    expect(minorUnits('TND')).toBe(3);
    expect(minorUnits('CLF')).toBe(4);
    expect(minorUnits('UYW')).toBe(4);
  });

  it('ISO 4217: the table holds the full active list, not a handful', () => {
    expect(CURRENCY_CODES.length).toBeGreaterThanOrEqual(160);
    for (const code of CURRENCY_CODES) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect([0, 2, 3, 4]).toContain(minorUnits(code));
    }
    expect([...CURRENCY_CODES].sort()).toEqual(CURRENCY_CODES);
    for (const code of ['CHF', 'SEK', 'PLN', 'CZK', 'HUF', 'RON', 'DKK', 'NOK', 'XCG', 'SLE', 'ZWG', 'VES', 'VED']) {
      expect(isCurrency(code)).toBe(true);
    }
  });

  it('ISO 4217: historic codes and N.A. units are not currencies', () => {
    for (const code of ['HRK', 'BGN', 'ANG', 'CUC', 'SLL', 'ZWL', 'DEM', 'VEF', 'XAU', 'XDR', 'XTS', 'XXX']) {
      expect(isCurrency(code)).toBe(false);
    }
  });

  it('ISO 4217: codes are exact upper case; unknown and inherited names are refused', () => {
    expect(isCurrency('XYZ')).toBe(false);
    expect(isCurrency('eur')).toBe(false);
    expect(isCurrency('Eur')).toBe(false);
    expect(isCurrency(' EUR')).toBe(false);
    expect(isCurrency('constructor')).toBe(false);
    expect(isCurrency('__proto__')).toBe(false);
    expect(isCurrency(978)).toBe(false);
  });
});

describe('parseAmount', () => {
  it('API.md: "12.50" EUR is 1250 minor units and echoes the string as given', () => {
    expect(parseAmount('12.50', 'EUR')).toEqual({ ok: true, minor: 1250n, normalized: '12.50' });
  });

  it('API.md: "0.1" EUR is accepted and not re-formatted ("0.1", 10 cents)', () => {
    expect(parseAmount('0.1', 'EUR')).toEqual({ ok: true, minor: 10n, normalized: '0.1' });
  });

  it('API.md: "12.5" stays "12.5" in normalized (the operation echoes what was sent)', () => {
    const result = parseAmount('12.5', 'EUR');
    expect(result).toEqual({ ok: true, minor: 1250n, normalized: '12.5' });
  });

  it('API.md: exponent, sign and leading "+" are refused', () => {
    refused('1e3', 'EUR');
    refused('1E3', 'EUR');
    refused('-5', 'EUR');
    refused('+5', 'EUR');
    refused('-0.5', 'EUR');
  });

  it('API.md: whitespace anywhere is refused', () => {
    refused(' 5', 'EUR');
    refused('5 ', 'EUR');
    refused('1 000', 'EUR');
    refused('5\n', 'EUR');
    refused('\t5', 'EUR');
  });

  it('API.md amount > 0: "0" and "0.00" are refused', () => {
    expect(refused('0', 'EUR')).toMatch(/greater than zero/);
    expect(refused('0.00', 'EUR')).toMatch(/greater than zero/);
    expect(refused('0', 'JPY')).toMatch(/greater than zero/);
  });

  it('decimal form: leading zeros are refused except the "0" of "0.x"', () => {
    refused('00.5', 'EUR');
    refused('012', 'EUR');
    refused('00', 'EUR');
    expect(parseAmount('0.05', 'EUR')).toMatchObject({ ok: true, minor: 5n });
  });

  it('decimal form: a bare or trailing point, a comma, other digits and non-strings are refused', () => {
    refused('.5', 'EUR');
    refused('5.', 'EUR');
    refused('1,50', 'EUR');
    refused('1.2.3', 'EUR');
    refused('', 'EUR');
    refused('٣', 'EUR');
    refused('0x10', 'EUR');
    refused('Infinity', 'EUR');
    refused('NaN', 'EUR');
    refused(12.5, 'EUR');
    refused(null, 'EUR');
  });

  it('ISO 4217 minor units: EUR "12.345" is refused, "12.34" accepted', () => {
    expect(refused('12.345', 'EUR')).toMatch(/at most 2 decimal places/);
    expect(parseAmount('12.34', 'EUR')).toMatchObject({ ok: true, minor: 1234n });
  });

  it('ISO 4217 minor units: trailing zeros past the minor unit are refused too (EUR "12.500")', () => {
    refused('12.500', 'EUR');
  });

  it('ISO 4217 minor units: JPY "100" is accepted, "100.5" and "100.0" are refused', () => {
    expect(parseAmount('100', 'JPY')).toEqual({ ok: true, minor: 100n, normalized: '100' });
    expect(refused('100.5', 'JPY')).toMatch(/at most 0 decimal places/);
    refused('100.0', 'JPY');
  });

  it('ISO 4217 minor units: KWD takes three decimals, CLF four', () => {
    expect(parseAmount('1.234', 'KWD')).toMatchObject({ ok: true, minor: 1234n });
    refused('1.2345', 'KWD');
    expect(parseAmount('0.0001', 'CLF')).toMatchObject({ ok: true, minor: 1n });
    refused('0.00001', 'CLF');
  });

  it('API.md currency: unknown "XYZ" and lower-case "eur" are refused', () => {
    expect(refused('10.00', 'XYZ')).toMatch(/ISO 4217/);
    expect(refused('10.00', 'eur')).toMatch(/ISO 4217/);
  });

  it('exactness: 9007199254740993.00 (over 2^53) is accepted and exact in bigint', () => {
    const result = parseAmount('9007199254740993.00', 'EUR');
    expect(result).toEqual({ ok: true, minor: 900719925474099300n, normalized: '9007199254740993.00' });
    // The same value through a JS number would have rounded to ...992.
    expect(Number('9007199254740993')).toBe(9007199254740992);
  });

  it(`bound: up to ${MAX_INTEGER_DIGITS} integer digits are accepted, more are refused`, () => {
    const largest = '9'.repeat(MAX_INTEGER_DIGITS) + '.99';
    expect(parseAmount(largest, 'EUR')).toMatchObject({ ok: true, minor: BigInt('9'.repeat(MAX_INTEGER_DIGITS + 2)) });
    expect(refused('1' + '0'.repeat(MAX_INTEGER_DIGITS), 'EUR')).toMatch(/integer digits/);
  });
});

describe('formatMinor and sumAmounts', () => {
  it('formatMinor writes exactly the currency minor digits', () => {
    expect(formatMinor(1300n, 'EUR')).toBe('13.00');
    expect(formatMinor(5n, 'EUR')).toBe('0.05');
    expect(formatMinor(0n, 'EUR')).toBe('0.00');
    expect(formatMinor(100n, 'JPY')).toBe('100');
    expect(formatMinor(1n, 'KWD')).toBe('0.001');
    expect(formatMinor(12345n, 'CLF')).toBe('1.2345');
  });

  it('formatMinor refuses negative amounts and unknown currencies', () => {
    expect(() => formatMinor(-1n, 'EUR')).toThrow(RangeError);
    expect(() => formatMinor(1n, 'XYZ')).toThrow(RangeError);
  });

  it('API.md batch total: "12.5" + "0.5" EUR is "13.00"', () => {
    expect(sumAmounts(['12.5', '0.5'], 'EUR')).toBe('13.00');
  });

  it('batch total is exact where binary floating point is not (0.1 + 0.2)', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(sumAmounts(['0.1', '0.2'], 'EUR')).toBe('0.30');
  });

  it('batch total in JPY and KWD keeps their minor units', () => {
    expect(sumAmounts(['100', '250'], 'JPY')).toBe('350');
    expect(sumAmounts(['1.5', '0.005'], 'KWD')).toBe('1.505');
  });

  it('batch total of 100 maximal amounts stays exact beyond 18 digits', () => {
    const largest = '9'.repeat(MAX_INTEGER_DIGITS) + '.99';
    const total = sumAmounts(new Array<string>(100).fill(largest), 'EUR');
    expect(total).toBe((BigInt('9'.repeat(MAX_INTEGER_DIGITS + 2)) * 100n).toString().replace(/(\d{2})$/, '.$1'));
  });

  it('batch total refuses an empty list or an invalid amount', () => {
    expect(() => sumAmounts([], 'EUR')).toThrow(RangeError);
    expect(() => sumAmounts(['1.00', '1.001'], 'EUR')).toThrow(RangeError);
    expect(() => sumAmounts(['1.00'], 'XYZ')).toThrow(RangeError);
  });
});

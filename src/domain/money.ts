// Amounts as exact decimal strings: ISO 4217 codes, their minor units, parsing and totals in bigint.

/**
 * ISO 4217 List One, active codes with a numeric minor unit (as published for 2026-01-01:
 * BGN, HRK, ANG, CUC, SLL and ZWL are historic; XCG, SLE and ZWG replace some of them).
 * Codes whose minor unit is "N.A." (precious metals XAU/XAG/XPT/XPD, bond units XBA–XBD, XDR,
 * XSU, XUA, the test code XTS and XXX) are left out: nobody authorises a payment in them.
 * Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are real List One entries and stay.
 */
const MINOR_UNITS: Readonly<Record<string, number>> = {
  AED: 2, AFN: 2, ALL: 2, AMD: 2, AOA: 2, ARS: 2, AUD: 2, AWG: 2, AZN: 2,
  BAM: 2, BBD: 2, BDT: 2, BHD: 3, BIF: 0, BMD: 2, BND: 2, BOB: 2, BOV: 2, BRL: 2, BSD: 2,
  BTN: 2, BWP: 2, BYN: 2, BZD: 2,
  CAD: 2, CDF: 2, CHE: 2, CHF: 2, CHW: 2, CLF: 4, CLP: 0, CNY: 2, COP: 2, COU: 2, CRC: 2,
  CUP: 2, CVE: 2, CZK: 2,
  DJF: 0, DKK: 2, DOP: 2, DZD: 2,
  EGP: 2, ERN: 2, ETB: 2, EUR: 2,
  FJD: 2, FKP: 2,
  GBP: 2, GEL: 2, GHS: 2, GIP: 2, GMD: 2, GNF: 0, GTQ: 2, GYD: 2,
  HKD: 2, HNL: 2, HTG: 2, HUF: 2,
  IDR: 2, ILS: 2, INR: 2, IQD: 3, IRR: 2, ISK: 0,
  JMD: 2, JOD: 3, JPY: 0,
  KES: 2, KGS: 2, KHR: 2, KMF: 0, KPW: 2, KRW: 0, KWD: 3, KYD: 2, KZT: 2,
  LAK: 2, LBP: 2, LKR: 2, LRD: 2, LSL: 2, LYD: 3,
  MAD: 2, MDL: 2, MGA: 2, MKD: 2, MMK: 2, MNT: 2, MOP: 2, MRU: 2, MUR: 2, MVR: 2, MWK: 2,
  MXN: 2, MXV: 2, MYR: 2, MZN: 2,
  NAD: 2, NGN: 2, NIO: 2, NOK: 2, NPR: 2, NZD: 2,
  OMR: 3,
  PAB: 2, PEN: 2, PGK: 2, PHP: 2, PKR: 2, PLN: 2, PYG: 0,
  QAR: 2,
  RON: 2, RSD: 2, RUB: 2, RWF: 0,
  SAR: 2, SBD: 2, SCR: 2, SDG: 2, SEK: 2, SGD: 2, SHP: 2, SLE: 2, SOS: 2, SRD: 2, SSP: 2,
  STN: 2, SVC: 2, SYP: 2, SZL: 2,
  THB: 2, TJS: 2, TMT: 2, TND: 3, TOP: 2, TRY: 2, TTD: 2, TWD: 2, TZS: 2,
  UAH: 2, UGX: 0, USD: 2, USN: 2, UYI: 0, UYU: 2, UYW: 4, UZS: 2,
  VED: 2, VES: 2, VND: 0, VUV: 0,
  WST: 2,
  XAD: 2, XAF: 0, XCD: 2, XCG: 2, XOF: 0, XPF: 0,
  YER: 2,
  ZAR: 2, ZMW: 2, ZWG: 2,
};

// A Map, so that inherited names such as "constructor" can never pass as a currency.
const MINOR_UNITS_BY_CODE: ReadonlyMap<string, number> = new Map(Object.entries(MINOR_UNITS));

/** Every accepted currency code, sorted. */
export const CURRENCY_CODES: readonly string[] = Object.freeze([...MINOR_UNITS_BY_CODE.keys()].sort());

/**
 * Integer digits an amount may have. 18 digits (just under 10^18) with up to 4 minor digits stays
 * exact because all arithmetic is bigint; amounts over 2^53 are therefore accepted and exact,
 * never rounded through a JS number.
 */
export const MAX_INTEGER_DIGITS = 18;

// No sign, no exponent, no whitespace; a leading zero only as the "0" of "0.x".
const AMOUNT_PATTERN = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

export type ParsedAmount =
  | { ok: true; minor: bigint; normalized: string }
  | { ok: false; reason: string };

/** True for an active ISO 4217 code, upper case exactly as the standard writes it. */
export function isCurrency(code: unknown): code is string {
  return typeof code === 'string' && MINOR_UNITS_BY_CODE.has(code);
}

/** The currency's ISO 4217 minor unit (decimal places), or undefined for an unknown code. */
export function minorUnits(currency: string): number | undefined {
  return MINOR_UNITS_BY_CODE.get(currency);
}

/**
 * Parses a relying party's decimal amount string. `normalized` is the amount exactly as given:
 * the Operation echoes the transaction as sent and the dynamic-linking digest covers those very
 * characters, so "12.5" stays "12.5" (not "12.50"). Only totals are formatted to full minor digits.
 */
export function parseAmount(amount: unknown, currency: string): ParsedAmount {
  const digits = minorUnits(currency);
  if (digits === undefined) return { ok: false, reason: 'currency is not an active ISO 4217 code' };
  if (typeof amount !== 'string') return { ok: false, reason: 'amount must be a decimal string' };
  const match = AMOUNT_PATTERN.exec(amount);
  if (!match) {
    return { ok: false, reason: 'amount must be a plain decimal like "12.50": no sign, exponent, spaces or leading zeros' };
  }
  const integerPart = match[1] ?? '';
  const fractionPart = match[2] ?? '';
  if (integerPart.length > MAX_INTEGER_DIGITS) {
    return { ok: false, reason: `amount may have at most ${MAX_INTEGER_DIGITS} integer digits` };
  }
  // ISO 4217 minor unit: a finer amount cannot be settled in this currency.
  if (fractionPart.length > digits) {
    return { ok: false, reason: `${currency} allows at most ${digits} decimal places` };
  }
  const minor = BigInt(integerPart) * 10n ** BigInt(digits) + BigInt(fractionPart.padEnd(digits, '0') || '0');
  if (minor <= 0n) return { ok: false, reason: 'amount must be greater than zero' };
  return { ok: true, minor, normalized: amount };
}

/** Formats an amount in minor units with exactly the currency's minor digits ("1300" EUR → "13.00"). */
export function formatMinor(minor: bigint, currency: string): string {
  const digits = minorUnits(currency);
  if (digits === undefined) throw new RangeError(`unknown currency ${currency}`);
  if (minor < 0n) throw new RangeError('amounts are never negative');
  if (digits === 0) return minor.toString();
  const text = minor.toString().padStart(digits + 1, '0');
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/**
 * Exact total of a batch in one currency, formatted with full minor digits ("12.5" + "0.5" EUR →
 * "13.00"). Throws RangeError when the list is empty or an amount does not parse: callers
 * validate each amount first and so never reach that.
 */
export function sumAmounts(amounts: readonly string[], currency: string): string {
  if (amounts.length === 0) throw new RangeError('nothing to sum');
  let total = 0n;
  for (const amount of amounts) {
    const parsed = parseAmount(amount, currency);
    if (!parsed.ok) throw new RangeError(`invalid amount "${amount}": ${parsed.reason}`);
    total += parsed.minor;
  }
  return formatMinor(total, currency);
}

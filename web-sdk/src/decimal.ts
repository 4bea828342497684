// Exact arithmetic on decimal amount strings with BigInt: money never passes through a float.

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

export interface DecimalParts {
  integer: string;
  fraction: string;
}

/** Splits "1234.5" into its digit strings; undefined for anything that is not a plain non-negative decimal. */
export function splitDecimal(amount: string): DecimalParts | undefined {
  const match = DECIMAL.exec(amount);
  if (match === null) return undefined;
  return { integer: match[1] ?? '0', fraction: match[2] ?? '' };
}

/** Sums decimal strings exactly; undefined when one of them is not a decimal. */
export function sumDecimals(amounts: readonly string[]): string | undefined {
  const parts: DecimalParts[] = [];
  for (const amount of amounts) {
    const split = splitDecimal(amount);
    if (split === undefined) return undefined;
    parts.push(split);
  }
  const scale = Math.max(0, ...parts.map((part) => part.fraction.length));
  let total = 0n;
  for (const part of parts) total += BigInt(part.integer + part.fraction.padEnd(scale, '0'));
  const digits = total.toString().padStart(scale + 1, '0');
  return scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** True when both strings denote the same number ("25.5" equals "25.50"). */
export function decimalsEqual(a: string, b: string): boolean {
  const left = splitDecimal(a);
  const right = splitDecimal(b);
  if (left === undefined || right === undefined) return false;
  const scale = Math.max(left.fraction.length, right.fraction.length);
  return BigInt(left.integer + left.fraction.padEnd(scale, '0')) === BigInt(right.integer + right.fraction.padEnd(scale, '0'));
}

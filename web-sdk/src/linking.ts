// Device-side check of dynamic linking: what the user is shown must be what the challenge binds.
import { base64UrlToBytes, bytesToHex } from './base64.js';
import { decimalsEqual, sumDecimals } from './decimal.js';
import { CustosError } from './errors.js';
import type { OperationDetails } from './types.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** RFC 8785 (JCS): sorted keys, ECMAScript serialisation of primitives, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, Json | undefined>)
    .filter((entry): entry is [string, Json] => entry[1] !== undefined)
    // JCS sorts by UTF-16 code units, which is what the default string comparison does.
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

function mismatch(message: string): CustosError {
  return new CustosError('LINKING_MISMATCH', message);
}

/** The object the server hashed into the challenge (API.md, "Dynamic linking"). */
async function boundObject(operation: OperationDetails): Promise<unknown> {
  if (operation.type === 'AUTHORISATION') {
    if (operation.transaction !== undefined) return operation.transaction;
    const transactions = operation.transactions;
    if (transactions === undefined || transactions.length === 0) throw mismatch('The operation carries no transaction to show');
    const currency = transactions[0]?.currency;
    if (transactions.some((item) => item.currency !== currency)) throw mismatch('A batch mixes currencies');
    // The total is shown but not bound, so it must follow from what is bound.
    if (operation.total !== undefined) {
      const sum = sumDecimals(transactions.map((item) => item.amount));
      if (sum === undefined || operation.total.currency !== currency || !decimalsEqual(sum, operation.total.amount)) {
        throw mismatch('The batch total is not the sum of its transactions');
      }
    }
    return { transactions };
  }
  const document = operation.document;
  if (document === undefined) throw mismatch('The operation carries no document to show');
  // The hash is bound; the content is only shown, so it must hash to the bound value.
  if (bytesToHex(await sha256(document.content)) !== document.sha256) {
    throw mismatch('The document content does not match its sha256');
  }
  return { title: document.title, mimeType: document.mimeType, sha256: document.sha256 };
}

/**
 * PSD2 RTS art. 5: for AUTHORISATION and SIGNATURE the challenge is random(32) ‖ SHA-256(JCS(bound)).
 * Checking it here means a server fault cannot make the user sign something other than what is shown.
 */
export async function verifyDynamicLinking(operation: OperationDetails, challenge: string): Promise<void> {
  if (operation.type !== 'AUTHORISATION' && operation.type !== 'SIGNATURE') return;
  const bytes = base64UrlToBytes(challenge);
  if (bytes === undefined || bytes.length !== 64) throw mismatch('The challenge does not have the dynamic-linking shape');
  const expected = await sha256(canonicalJson(await boundObject(operation)));
  const actual = bytes.subarray(32);
  if (!expected.every((byte, i) => byte === actual[i])) {
    throw mismatch('The challenge does not bind the details shown');
  }
}

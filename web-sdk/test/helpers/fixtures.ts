// Canned start answers for each operation type, with challenges built here independently of the SDK.

export function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * random(32) ‖ SHA-256(canonical), base64url: the dynamic-linking challenge of API.md. The canonical
 * JSON is written out by hand in each fixture so the SDK's own JCS code is not what checks itself.
 */
export async function linkedChallenge(canonicalJson: string): Promise<string> {
  const random = crypto.getRandomValues(new Uint8Array(32));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalJson)));
  const bytes = new Uint8Array(64);
  bytes.set(random);
  bytes.set(digest, 32);
  return toBase64Url(bytes);
}

export const registrationStart = {
  operation: { id: 'op_reg1', type: 'REGISTRATION', context: { title: 'Add this phone' } },
  publicKey: {
    challenge: 'cmVnaXN0cmF0aW9uLWNoYWxsZW5nZS0wMDAx',
    rp: { id: 'bank.example', name: 'Example Bank' },
    user: { id: 'dXNyXzE', name: 'alice', displayName: 'Alice' },
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    timeout: 300000,
  },
};

export const authenticationStart = {
  operation: { id: 'op_auth1', type: 'AUTHENTICATION', context: { title: 'Sign in', text: 'Sign in to Example Bank' } },
  publicKey: { challenge: 'YXV0aGVudGljYXRpb24tY2hhbGxlbmdl', rpId: 'bank.example', userVerification: 'required', allowCredentials: [] },
};

export const payment = {
  amount: '12.50',
  currency: 'EUR',
  payee: { name: 'ACME GmbH', account: 'DE89370400440532013000' },
  reference: 'INV-42',
};
export const paymentCanonical =
  '{"amount":"12.50","currency":"EUR","payee":{"account":"DE89370400440532013000","name":"ACME GmbH"},"reference":"INV-42"}';

export async function authorisationStart(): Promise<{ operation: Record<string, unknown>; publicKey: Record<string, unknown> }> {
  return {
    operation: { id: 'op_pay1', type: 'AUTHORISATION', context: { title: 'Pay ACME' }, transaction: payment },
    publicKey: { challenge: await linkedChallenge(paymentCanonical), rpId: 'bank.example', userVerification: 'required' },
  };
}

export const batch = [
  { amount: '10.00', currency: 'EUR', payee: { name: 'Alpha' } },
  { amount: '15.5', currency: 'EUR', payee: { name: 'Beta', account: 'X1' } },
];
export const batchCanonical =
  '{"transactions":[{"amount":"10.00","currency":"EUR","payee":{"name":"Alpha"}},{"amount":"15.5","currency":"EUR","payee":{"account":"X1","name":"Beta"}}]}';

export async function batchStart(total = { amount: '25.50', currency: 'EUR' }): Promise<{ operation: Record<string, unknown>; publicKey: Record<string, unknown> }> {
  return {
    operation: { id: 'op_batch1', type: 'AUTHORISATION', transactions: batch, total },
    publicKey: { challenge: await linkedChallenge(batchCanonical), rpId: 'bank.example', userVerification: 'required' },
  };
}

export const documentContent = 'I agree to the terms.\nClause 2: <b>bold</b> & more.\n';

export async function signatureStart(): Promise<{ operation: Record<string, unknown>; publicKey: Record<string, unknown> }> {
  const sha256 = await sha256Hex(documentContent);
  const canonical = `{"mimeType":"text/plain","sha256":"${sha256}","title":"Terms"}`;
  return {
    operation: { id: 'op_sig1', type: 'SIGNATURE', document: { title: 'Terms', mimeType: 'text/plain', sha256, content: documentContent } },
    publicKey: { challenge: await linkedChallenge(canonical), rpId: 'bank.example', userVerification: 'required' },
  };
}

export const registrationCredential = {
  id: 'Y3JlZC0x',
  rawId: 'Y3JlZC0x',
  type: 'public-key',
  response: { clientDataJSON: 'e30', attestationObject: 'o2NmbXRkbm9uZQ', transports: ['internal'] },
  clientExtensionResults: {},
};

export const authenticationCredential = {
  id: 'Y3JlZC0x',
  rawId: 'Y3JlZC0x',
  type: 'public-key',
  response: { clientDataJSON: 'e30', authenticatorData: 'AAAA', signature: 'MEUCIQ' },
  clientExtensionResults: {},
};

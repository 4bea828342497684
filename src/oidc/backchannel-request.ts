// The backchannel authentication request of CIBA Core §7.1, parsed and judged in the spec's order; pure, no bindings.
import { isCurrency, parseAmount } from '../domain/money';
import { failure } from './errors';
import type { OAuthFailure } from './errors';

export type LoginHint =
  | { kind: 'login_hint'; value: string }
  | { kind: 'login_hint_token'; value: string }
  | { kind: 'id_token_hint'; value: string };

/** The one payment type accepted in authorization_details (RFC 9396), and what the device is shown of it. */
export const PAYMENT_DETAILS_TYPE = 'payment_initiation';

export interface PaymentDetails {
  /** As granted: echoed in the token response and the ID token. */
  granted: Record<string, unknown>;
  /** The Custos transaction it becomes (PSD2 dynamic linking binds amount and payee). */
  transaction: { amount: string; currency: string; payee: { name: string; account: string }; reference?: string };
}

export interface BackchannelRequest {
  scope: string[];
  hint: LoginHint;
  bindingMessage: string | undefined;
  requestedExpiry: number | undefined;
  acrValues: string[];
  clientNotificationToken: string | undefined;
  payment: PaymentDetails | undefined;
}

export const SUPPORTED_SCOPES = ['openid'] as const;
/** The one authentication context Custos gives: a device-bound key with user verification (PSD2 SCA). */
export const ACR_SCA = 'urn:custos:acr:sca';
export const BINDING_MESSAGE_MAX = 64;
const TOKEN_MAX = 1024;
const HINT_MAX = 4096;
/** Parameters a client may send; anything else is ignored (RFC 6749 §3.2), but none of these may repeat (§3.1). */
const KNOWN = ['scope', 'client_notification_token', 'acr_values', 'login_hint_token', 'id_token_hint', 'login_hint', 'binding_message', 'user_code', 'requested_expiry', 'authorization_details', 'request'] as const;

const bad = (description: string): OAuthFailure => failure(400, 'invalid_request', description);

/** Letters, digits, punctuation and spaces of any script; no control or format characters, so the device shows what was sent. */
function isDisplayable(text: string): boolean {
  return !/\p{Surrogate}/u.test(text) && !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(text) && text.trim() === text;
}

/** RFC 6750 §2.1 b64token: what a bearer token may contain. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function parseBackchannelRequest(form: URLSearchParams, client: { deliveryMode: 'poll' | 'ping' }): { ok: true; request: BackchannelRequest } | { ok: false; failure: OAuthFailure } {
  const refuse = (f: OAuthFailure) => ({ ok: false as const, failure: f });
  // RFC 6749 §3.1: request parameters must not be included more than once.
  for (const name of KNOWN) if (form.getAll(name).length > 1) return refuse(bad(`${name} is repeated.`));
  // CIBA Core §7.1.1: signed request objects are optional; Custos does not take them.
  if (form.has('request')) return refuse(failure(400, 'invalid_request', 'Signed authentication requests (request) are not supported.'));

  // CIBA Core §7.1: scope is required and must contain openid.
  const scope = (form.get('scope') ?? '').split(' ').filter(Boolean);
  if (!scope.includes('openid')) return refuse(failure(400, 'invalid_scope', 'scope must contain openid.'));
  const unknown = scope.filter((s) => !(SUPPORTED_SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) return refuse(failure(400, 'invalid_scope', `Unsupported scope: ${unknown.join(' ')} (supported: ${SUPPORTED_SCOPES.join(' ')}).`));

  // CIBA Core §10.1.1 / §7.1: a ping client sends the bearer token Custos notifies it with.
  const notification = form.get('client_notification_token') ?? undefined;
  if (client.deliveryMode === 'ping') {
    if (notification === undefined) return refuse(bad('client_notification_token is required for a ping client.'));
    if (notification.length > TOKEN_MAX || !B64TOKEN.test(notification)) return refuse(bad('client_notification_token must be a bearer token (RFC 6750 b64token, at most 1024 characters).'));
  }

  // CIBA Core §7.1: exactly one of login_hint_token, id_token_hint, login_hint.
  const hints = (['login_hint_token', 'id_token_hint', 'login_hint'] as const).filter((name) => form.has(name));
  if (hints.length !== 1) return refuse(bad('Send exactly one of login_hint, login_hint_token or id_token_hint.'));
  const kind = hints[0]!;
  const value = form.get(kind)!;
  if (value.length === 0 || value.length > HINT_MAX) return refuse(bad(`${kind} is empty or too long.`));
  const hint = { kind, value } as LoginHint;

  // CIBA Core §7.1: binding_message is shown on the device; §13 invalid_binding_message when it cannot be.
  const bindingMessage = form.get('binding_message') ?? undefined;
  if (bindingMessage !== undefined && (bindingMessage.length < 1 || [...bindingMessage].length > BINDING_MESSAGE_MAX || !isDisplayable(bindingMessage))) {
    return refuse(failure(400, 'invalid_binding_message', `binding_message must be 1–${BINDING_MESSAGE_MAX} printable characters without control characters or surrounding spaces.`));
  }

  // CIBA Core §7.1: user_code only where backchannel_user_code_parameter_supported is true; Custos advertises false.
  if (form.has('user_code')) return refuse(bad('user_code is not supported (backchannel_user_code_parameter_supported is false).'));

  // CIBA Core §7.1: requested_expiry is a positive integer of seconds (clamped later to the tenant's limit, ≤ 300 s).
  const expiry = form.get('requested_expiry') ?? undefined;
  if (expiry !== undefined && !/^[1-9]\d{0,8}$/.test(expiry)) return refuse(bad('requested_expiry must be a positive integer (seconds).'));

  const acrValues = (form.get('acr_values') ?? '').split(' ').filter(Boolean);

  const details = form.get('authorization_details') ?? undefined;
  let payment: PaymentDetails | undefined;
  if (details !== undefined) {
    const parsed = parsePaymentDetails(details);
    if (!parsed.ok) return refuse(failure(400, 'invalid_authorization_details', parsed.reason));
    payment = parsed.payment;
  }

  return {
    ok: true,
    request: {
      scope: [...new Set(scope)], hint, bindingMessage, requestedExpiry: expiry === undefined ? undefined : Number(expiry), acrValues,
      clientNotificationToken: client.deliveryMode === 'ping' ? notification : undefined, payment,
    },
  };
}

/** ISO 13616: two letters, two check digits, up to 30 alphanumerics, and the mod-97 check. */
export function isIban(value: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(value)) return false;
  const rearranged = value.slice(4) + value.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const digits = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of digits) remainder = (remainder * 10 + Number(d)) % 97;
  }
  return remainder === 1;
}

const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max && isDisplayable(v);

/** RFC 9396 §2: a JSON array of objects with `type`; Custos takes exactly one, of type payment_initiation (docs/ciba.md). */
export function parsePaymentDetails(raw: string): { ok: true; payment: PaymentDetails } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'authorization_details is not JSON.' };
  }
  if (!Array.isArray(value) || value.length !== 1 || typeof value[0] !== 'object' || value[0] === null || Array.isArray(value[0])) {
    return { ok: false, reason: 'authorization_details must be an array of exactly one object.' };
  }
  const d = value[0] as Record<string, unknown>;
  // RFC 9396 §5: an unknown type is invalid_authorization_details.
  if (d.type !== PAYMENT_DETAILS_TYPE) return { ok: false, reason: `The one supported authorization_details type is ${PAYMENT_DETAILS_TYPE}.` };
  const allowed = new Set(['type', 'instructedAmount', 'creditorName', 'creditorAccount', 'remittanceInformationUnstructured']);
  const extra = Object.keys(d).filter((k) => !allowed.has(k));
  // Whatever the device is not shown must not be granted: unknown members are refused, not dropped.
  if (extra.length > 0) return { ok: false, reason: `Unknown members of ${PAYMENT_DETAILS_TYPE}: ${extra.join(', ')}.` };
  const amount = d.instructedAmount as Record<string, unknown> | undefined;
  if (typeof amount !== 'object' || amount === null || typeof amount.amount !== 'string' || typeof amount.currency !== 'string' || Object.keys(amount).length !== 2) {
    return { ok: false, reason: 'instructedAmount must be {amount, currency} with amount a decimal string.' };
  }
  if (!isCurrency(amount.currency)) return { ok: false, reason: 'instructedAmount.currency must be an active ISO 4217 code.' };
  // PSD2 RTS art. 5(1)(a): the amount the payer sees is exact; never a float.
  const parsed = parseAmount(amount.amount, amount.currency);
  if (!parsed.ok) return { ok: false, reason: `instructedAmount.amount: ${parsed.reason}` };
  if (!text(d.creditorName, 140)) return { ok: false, reason: 'creditorName must be 1–140 printable characters.' };
  const account = d.creditorAccount as Record<string, unknown> | undefined;
  if (typeof account !== 'object' || account === null || typeof account.iban !== 'string' || Object.keys(account).length !== 1 || !isIban(account.iban)) {
    return { ok: false, reason: 'creditorAccount must be {iban} with a valid IBAN (capitals, no spaces).' };
  }
  const reference = d.remittanceInformationUnstructured;
  if (reference !== undefined && !text(reference, 140)) return { ok: false, reason: 'remittanceInformationUnstructured must be 1–140 printable characters.' };
  const granted = {
    type: PAYMENT_DETAILS_TYPE, instructedAmount: { amount: amount.amount, currency: amount.currency }, creditorName: d.creditorName,
    creditorAccount: { iban: account.iban }, ...(reference !== undefined ? { remittanceInformationUnstructured: reference } : {}),
  };
  return {
    ok: true,
    payment: {
      granted,
      transaction: { amount: amount.amount, currency: amount.currency, payee: { name: d.creditorName, account: account.iban }, ...(typeof reference === 'string' ? { reference } : {}) },
    },
  };
}

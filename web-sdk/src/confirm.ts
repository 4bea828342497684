// Optional framework-free confirmation screen: shows what an operation binds and asks approve/reject.
import { splitDecimal } from './decimal.js';
import type { ConfirmationDetails, Transaction } from './types.js';

export interface ConfirmationLabels {
  authentication: string;
  authorisation: string;
  signature: string;
  registration: string;
  payee: string;
  account: string;
  reference: string;
  amount: string;
  total: string;
  payments: (count: number) => string;
  documentTitle: string;
  mimeType: string;
  content: string;
  sha256: string;
  approve: string;
  reject: string;
}

export const defaultLabels: ConfirmationLabels = {
  authentication: 'Confirm it is you',
  authorisation: 'Approve payment',
  signature: 'Sign document',
  registration: 'Register this device',
  payee: 'Payee',
  account: 'Account',
  reference: 'Reference',
  amount: 'Amount',
  total: 'Total',
  payments: (count) => `${count} payments`,
  documentTitle: 'Title',
  mimeType: 'Type',
  content: 'Document content',
  sha256: 'SHA-256',
  approve: 'Approve',
  reject: 'Reject',
};

export interface ConfirmationViewOptions {
  /** BCP 47 locale(s) for amounts; the browser's default when absent. */
  locale?: string | string[];
  /** Replaces some or all of the English texts. */
  labels?: Partial<ConfirmationLabels>;
}

export interface RenderConfirmationOptions extends ConfirmationViewOptions {
  onApprove: () => void;
  onReject: () => void;
}

export interface ConfirmationView {
  element: HTMLElement;
  destroy(): void;
}

function localDigits(digits: string, locale: string | string[] | undefined, numberingSystem: string): string {
  // Formats the digit string as an integer so a locale with its own digits (ar-EG, fa) stays consistent.
  if (digits.length > 21) return digits;
  return new Intl.NumberFormat(locale, { useGrouping: false, minimumIntegerDigits: digits.length, numberingSystem }).format(
    BigInt(digits),
  );
}

/**
 * Formats a decimal amount string as currency without converting it to a float: the integer part is
 * formatted as a BigInt and the fraction digits are put in verbatim, so "0.10" never shows as 0.1000000001
 * and 9007199254740993.01 keeps every digit.
 */
export function formatAmount(amount: string, currency: string, locale?: string | string[]): string {
  const parts = splitDecimal(amount);
  if (parts === undefined) return `${amount} ${currency}`;
  try {
    const probe = new Intl.NumberFormat(locale, { style: 'currency', currency });
    const digits = Math.max(probe.resolvedOptions().minimumFractionDigits ?? 2, parts.fraction.length);
    const formatter = new Intl.NumberFormat(locale, {
      style: 'currency',
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    const fraction = parts.fraction.padEnd(digits, '0');
    const numberingSystem = formatter.resolvedOptions().numberingSystem;
    return formatter
      .formatToParts(BigInt(parts.integer))
      .map((part) => (part.type === 'fraction' ? localDigits(fraction, locale, numberingSystem) : part.value))
      .join('');
  } catch {
    // An unknown currency code: show the bound values as they are rather than nothing.
    return `${amount} ${currency}`;
  }
}

let viewCount = 0;

type Builder = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string) => HTMLElementTagNameMap[K];

function builder(document: Document): Builder {
  // Every piece of data goes in as textContent: nothing from the server is ever parsed as HTML.
  return (tag, text, className) => {
    const element = document.createElement(tag);
    if (className !== undefined) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  };
}

function definitionList(make: Builder, rows: Array<[string, string | undefined]>): HTMLDListElement {
  const list = make('dl', undefined, 'custos-confirm__fields');
  for (const [term, value] of rows) {
    if (value === undefined || value === '') continue;
    list.append(make('dt', term), make('dd', value));
  }
  return list;
}

function headingFor(details: ConfirmationDetails, labels: ConfirmationLabels): string {
  if (details.context?.title !== undefined && details.context.title !== '') return details.context.title;
  switch (details.type) {
    case 'AUTHORISATION':
      return labels.authorisation;
    case 'SIGNATURE':
      return labels.signature;
    case 'REGISTRATION':
      return labels.registration;
    default:
      return labels.authentication;
  }
}

function singleTransaction(make: Builder, transaction: Transaction, labels: ConfirmationLabels, locale: string | string[] | undefined): HTMLElement[] {
  const amount = make('p', formatAmount(transaction.amount, transaction.currency, locale), 'custos-confirm__amount');
  amount.setAttribute('aria-label', `${labels.amount}: ${amount.textContent ?? ''}`);
  return [
    amount,
    definitionList(make, [
      [labels.payee, transaction.payee.name],
      [labels.account, transaction.payee.account],
      [labels.reference, transaction.reference],
    ]),
  ];
}

function batchTable(make: Builder, details: ConfirmationDetails, labels: ConfirmationLabels, locale: string | string[] | undefined): HTMLTableElement {
  const transactions = details.transactions ?? [];
  const table = make('table', undefined, 'custos-confirm__batch');
  table.append(make('caption', labels.payments(transactions.length)));
  const headRow = make('tr');
  for (const column of [labels.payee, labels.account, labels.reference, labels.amount]) {
    const cell = make('th', column);
    cell.setAttribute('scope', 'col');
    headRow.append(cell);
  }
  const head = make('thead');
  head.append(headRow);
  const body = make('tbody');
  for (const transaction of transactions) {
    const row = make('tr');
    row.append(
      make('td', transaction.payee.name),
      make('td', transaction.payee.account ?? ''),
      make('td', transaction.reference ?? ''),
      make('td', formatAmount(transaction.amount, transaction.currency, locale)),
    );
    body.append(row);
  }
  table.append(head, body);
  if (details.total !== undefined) {
    const totalRow = make('tr');
    const label = make('th', labels.total);
    label.setAttribute('scope', 'row');
    label.setAttribute('colspan', '3');
    totalRow.append(label, make('td', formatAmount(details.total.amount, details.total.currency, locale)));
    const foot = make('tfoot');
    foot.append(totalRow);
    table.append(foot);
  }
  return table;
}

function documentView(make: Builder, details: ConfirmationDetails, labels: ConfirmationLabels): HTMLElement[] {
  const document = details.document;
  if (document === undefined) return [];
  const content = make('pre', document.content, 'custos-confirm__document');
  // Focusable so keyboard users can scroll a long document before they approve it.
  content.tabIndex = 0;
  content.setAttribute('aria-label', labels.content);
  const hashValue = make('dd');
  hashValue.append(make('code', document.sha256));
  const hash = make('dl', undefined, 'custos-confirm__fields');
  hash.append(make('dt', labels.sha256), hashValue);
  return [
    definitionList(make, [
      [labels.documentTitle, document.title],
      [labels.mimeType, document.mimeType],
    ]),
    content,
    hash,
  ];
}

/**
 * Renders the confirmation into `container` (replacing what it held) and calls exactly one of
 * onApprove/onReject, once: both buttons are disabled after the first click so a double tap
 * cannot answer twice.
 */
export function renderConfirmation(container: HTMLElement, details: ConfirmationDetails, options: RenderConfirmationOptions): ConfirmationView {
  const labels: ConfirmationLabels = { ...defaultLabels, ...options.labels };
  const make = builder(container.ownerDocument);
  const headingId = `custos-confirm-${++viewCount}`;

  const root = make('section', undefined, 'custos-confirm');
  root.setAttribute('aria-labelledby', headingId);
  root.setAttribute('data-operation-type', details.type);
  const heading = make('h2', headingFor(details, labels), 'custos-confirm__title');
  heading.id = headingId;
  heading.tabIndex = -1;
  root.append(heading);
  if (details.context?.text !== undefined && details.context.text !== '') {
    root.append(make('p', details.context.text, 'custos-confirm__text'));
  }

  if (details.transaction !== undefined) root.append(...singleTransaction(make, details.transaction, labels, options.locale));
  if (details.transactions !== undefined) root.append(batchTable(make, details, labels, options.locale));
  root.append(...documentView(make, details, labels));

  const actions = make('div', undefined, 'custos-confirm__actions');
  const rejectButton = make('button', labels.reject, 'custos-confirm__reject');
  const approveButton = make('button', labels.approve, 'custos-confirm__approve');
  rejectButton.type = 'button';
  approveButton.type = 'button';
  let answered = false;
  const answer = (callback: () => void) => (): void => {
    if (answered) return;
    answered = true;
    rejectButton.disabled = true;
    approveButton.disabled = true;
    callback();
  };
  rejectButton.addEventListener('click', answer(options.onReject));
  approveButton.addEventListener('click', answer(options.onApprove));
  // Reject first in reading order: the safe choice is the one reached by default.
  actions.append(rejectButton, approveButton);
  root.append(actions);

  container.replaceChildren(root);
  // Focus the heading, not Approve, so screen readers announce the details and Enter approves nothing.
  heading.focus();
  return { element: root, destroy: (): void => root.remove() };
}

/**
 * Builds the `confirm` hook for `approve()` from renderConfirmation: resolves true on Approve and
 * false on Reject, and removes the view either way.
 */
export function confirmIn(container: HTMLElement, options: ConfirmationViewOptions = {}): (details: ConfirmationDetails) => Promise<boolean> {
  return (details) =>
    new Promise<boolean>((resolve) => {
      const view = renderConfirmation(container, details, {
        ...options,
        onApprove: () => {
          view.destroy();
          resolve(true);
        },
        onReject: () => {
          view.destroy();
          resolve(false);
        },
      });
    });
}

// formatAmount's exactness and renderConfirmation on a minimal DOM that refuses every HTML parsing API.
import { describe, expect, it, vi } from 'vitest';
import { confirmIn, formatAmount, renderConfirmation } from '../src/confirm.js';
import type { ConfirmationDetails } from '../src/types.js';
import { FakeDocument, type FakeElement } from './helpers/fake-dom.js';

const HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>&amp;';

function mount(): { document: FakeDocument; container: FakeElement; asHtml: HTMLElement } {
  const document = new FakeDocument();
  const container = document.createElement('div');
  return { document, container, asHtml: container as unknown as HTMLElement };
}

function noHandlers(): { onApprove: () => void; onReject: () => void } {
  return { onApprove: vi.fn(), onReject: vi.fn() };
}

function buttons(container: FakeElement): { reject: FakeElement; approve: FakeElement } {
  const [reject, approve] = container.querySelectorAll('button');
  if (reject === undefined || approve === undefined) throw new Error('two buttons expected');
  return { reject, approve };
}

describe('formatAmount', () => {
  it('formats with the locale and the currency minor units', () => {
    expect(formatAmount('12.50', 'EUR', 'en-US')).toBe('€12.50');
    expect(formatAmount('1234567.5', 'EUR', 'de-DE')).toBe('1.234.567,50\u00a0€');
    expect(formatAmount('1000', 'JPY', 'en-US')).toBe('¥1,000');
    expect(formatAmount('1.234', 'KWD', 'en-US')).toBe('KWD\u00a01.234');
  });

  it('keeps every digit where a float would round (2^53 + 1)', () => {
    expect(formatAmount('9007199254740993.01', 'USD', 'en-US')).toBe('$9,007,199,254,740,993.01');
    expect(formatAmount('0.10', 'USD', 'en-US')).toBe('$0.10');
  });

  it('uses the locale digits for the fraction too', () => {
    const formatted = formatAmount('1234.5', 'EGP', 'ar-EG');
    expect(formatted).toContain('٥٠');
    expect(formatted).not.toMatch(/[0-9]/);
  });

  it('shows unusable values as they came rather than guessing', () => {
    expect(formatAmount('12.5', 'EURO', 'en')).toBe('12.5 EURO');
    expect(formatAmount('1e3', 'EUR', 'en')).toBe('1e3 EUR');
  });
});

describe('renderConfirmation', () => {
  it('puts hostile text in as text: no element, attribute or handler comes from the data', () => {
    const { document, container, asHtml } = mount();
    const details: ConfirmationDetails = {
      id: 'op_1',
      type: 'AUTHORISATION',
      context: { title: HOSTILE, text: HOSTILE },
      transaction: { amount: '12.50', currency: 'EUR', payee: { name: HOSTILE, account: HOSTILE }, reference: HOSTILE },
    };

    renderConfirmation(asHtml, details, { ...noHandlers(), locale: 'en-US' });

    const tags = new Set(document.created.map((element) => element.tagName));
    expect(tags.has('IMG')).toBe(false);
    expect(tags.has('SCRIPT')).toBe(false);
    expect(container.textContent.split(HOSTILE).length - 1).toBe(5);
    expect(container.innerHTML).toContain('&lt;img src=x onerror="alert(1)"&gt;&lt;script&gt;');
    expect(container.innerHTML).not.toContain('<script>');
    expect(container.innerHTML).toContain('&amp;amp;');
  });

  it('shows the amount, payee, account and reference of a payment', () => {
    const { container, asHtml } = mount();
    renderConfirmation(
      asHtml,
      { id: 'op_1', type: 'AUTHORISATION', transaction: { amount: '1250.00', currency: 'EUR', payee: { name: 'ACME GmbH', account: 'DE89 3704' }, reference: 'INV-42' } },
      { ...noHandlers(), locale: 'de-DE' },
    );

    expect(container.querySelectorAll('h2')[0]?.textContent).toBe('Approve payment');
    expect(container.querySelectorAll('p')[0]?.textContent).toBe('1.250,00\u00a0€');
    const terms = container.querySelectorAll('dt').map((element) => element.textContent);
    const values = container.querySelectorAll('dd').map((element) => element.textContent);
    expect(terms).toEqual(['Payee', 'Account', 'Reference']);
    expect(values).toEqual(['ACME GmbH', 'DE89 3704', 'INV-42']);
  });

  it('shows each line of a batch and its total', () => {
    const { container, asHtml } = mount();
    renderConfirmation(
      asHtml,
      {
        id: 'op_1',
        type: 'AUTHORISATION',
        transactions: [
          { amount: '10.00', currency: 'EUR', payee: { name: 'Alpha' } },
          { amount: '15.5', currency: 'EUR', payee: { name: 'Beta', account: 'X1' }, reference: 'R2' },
        ],
        total: { amount: '25.50', currency: 'EUR' },
      },
      { ...noHandlers(), locale: 'en-US' },
    );

    expect(container.querySelectorAll('caption')[0]?.textContent).toBe('2 payments');
    const bodyRows = container.querySelectorAll('tbody')[0]?.querySelectorAll('tr') ?? [];
    expect(bodyRows.map((row) => row.querySelectorAll('td').map((cell) => cell.textContent))).toEqual([
      ['Alpha', '', '', '€10.00'],
      ['Beta', 'X1', 'R2', '€15.50'],
    ]);
    expect(container.querySelectorAll('tfoot')[0]?.textContent).toBe('Total€25.50');
  });

  it('shows a document: title, type, the content in a <pre>, and its hash', () => {
    const { container, asHtml } = mount();
    const content = '# Terms\n<b>not bold</b>\n';
    renderConfirmation(
      asHtml,
      { id: 'op_1', type: 'SIGNATURE', document: { title: 'Terms', mimeType: 'text/markdown', sha256: 'ab'.repeat(32), content } },
      noHandlers(),
    );

    expect(container.querySelectorAll('h2')[0]?.textContent).toBe('Sign document');
    expect(container.querySelectorAll('pre')[0]?.textContent).toBe(content);
    expect(container.querySelectorAll('pre')[0]?.children).toHaveLength(0);
    expect(container.querySelectorAll('code')[0]?.textContent).toBe('ab'.repeat(32));
    expect(container.querySelectorAll('dd').map((element) => element.textContent)).toEqual(['Terms', 'text/markdown', 'ab'.repeat(32)]);
  });

  it('labels the view by its heading, focuses the heading, and offers Reject before Approve', () => {
    const { document, container, asHtml } = mount();
    renderConfirmation(asHtml, { id: 'op_1', type: 'AUTHENTICATION', context: { title: 'Sign in to Bank' } }, noHandlers());

    const section = container.children[0];
    const heading = container.querySelectorAll('h2')[0];
    expect(section?.getAttribute('aria-labelledby')).toBe(heading?.id);
    expect(heading?.textContent).toBe('Sign in to Bank');
    expect(document.activeElement).toBe(heading);
    const { reject, approve } = buttons(container);
    expect([reject.textContent, approve.textContent]).toEqual(['Reject', 'Approve']);
    expect([reject.type, approve.type]).toEqual(['button', 'button']);
  });

  it('answers once: after the first click both buttons are disabled and further clicks do nothing', () => {
    const { container, asHtml } = mount();
    const handlers = noHandlers();
    renderConfirmation(asHtml, { id: 'op_1', type: 'AUTHENTICATION' }, handlers);
    const { reject, approve } = buttons(container);

    approve.click();
    approve.click();
    reject.click();

    expect(handlers.onApprove).toHaveBeenCalledTimes(1);
    expect(handlers.onReject).not.toHaveBeenCalled();
    expect(approve.disabled && reject.disabled).toBe(true);
  });

  it('takes other labels', () => {
    const { container, asHtml } = mount();
    renderConfirmation(asHtml, { id: 'op_1', type: 'AUTHENTICATION' }, { ...noHandlers(), labels: { approve: 'Freigeben', reject: 'Ablehnen' } });
    const { reject, approve } = buttons(container);
    expect([reject.textContent, approve.textContent]).toEqual(['Ablehnen', 'Freigeben']);
  });
});

describe('confirmIn', () => {
  it('resolves true on Approve and false on Reject, removing the view each time', async () => {
    const { container, asHtml } = mount();
    const confirm = confirmIn(asHtml);

    const approved = confirm({ id: 'op_1', type: 'AUTHENTICATION' });
    buttons(container).approve.click();
    expect(await approved).toBe(true);
    expect(container.children).toHaveLength(0);

    const rejected = confirm({ id: 'op_2', type: 'AUTHENTICATION' });
    buttons(container).reject.click();
    expect(await rejected).toBe(false);
    expect(container.children).toHaveLength(0);
  });
});

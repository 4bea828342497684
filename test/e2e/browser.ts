// Chromium for the e2e tests: launch flags, a CDP virtual authenticator per page, screenshots, and demo-page helpers.
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Locator, type Page } from 'playwright-core';
import { inject } from 'vitest';
import type { E2eContext } from './context';

export const e2e: E2eContext = inject('e2e');

/** Why the suite is skipped (no Chromium outside CI), or undefined when it runs. */
export const skipReason: string | undefined = e2e.skip;

export function runningContext(): Exclude<E2eContext, { skip: string }> {
  if (e2e.skip !== undefined) throw new Error(e2e.skip);
  return e2e;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: runningContext().chromium,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface VirtualAuthenticator {
  cdp: CDPSession;
  authenticatorId: string;
  /** The credentials the authenticator holds, with their signature counters. */
  credentials(): Promise<Array<{ credentialId: string; rpId?: string; signCount: number; isResidentCredential: boolean }>>;
}

/** A platform authenticator with user verification that says yes without a prompt (DevTools WebAuthn domain). */
export async function addVirtualAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/** Saves test-artifacts/e2e/<name>.png: the whole page, or with `viewport` what the user sees (sticky columns in place). */
export async function screenshot(page: Page, name: string, options: { viewport?: boolean } = {}): Promise<string> {
  const path = join(runningContext().artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: options.viewport !== true });
  return path;
}

/** Browser errors fail loudly in the test output instead of hiding behind a timeout. */
export function reportPageErrors(page: Page, label: string): void {
  page.on('pageerror', (error) => console.error(`[${label}] page error: ${error.message}`));
}

/**
 * Polls `read` until `accept` holds or `timeout` ms pass (then throws with the last value). Unlike
 * expect.poll it also works in beforeAll, where the demo's set-up steps run.
 */
export async function waitUntil<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeout = 15_000): Promise<T> {
  const deadline = Date.now() + timeout;
  let value = await read();
  while (!accept(value)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

// ── the demo bank page ──────────────────────────────────────────────────────────────────────────

/**
 * The demo bank in a new desktop-sized tab of `context`, with its own virtual authenticator and page
 * errors reported under `label`, and a new customer `customer` signed up.
 */
export async function openDemoBank(
  context: BrowserContext,
  options: { label: string; customer: string },
): Promise<{ page: Page; authenticator: VirtualAuthenticator; userId: string }> {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 1000 });
  reportPageErrors(page, options.label);
  const authenticator = await addVirtualAuthenticator(page);
  await page.goto(`${runningContext().baseUrl}/`);
  await page.locator('#customer-name').waitFor();
  const userId = await signUp(page, options.customer);
  return { page, authenticator, userId };
}

export async function signUp(page: Page, name: string): Promise<string> {
  await page.getByLabel('Customer name').fill(name);
  await page.getByRole('button', { name: 'Continue as this customer' }).click();
  const id = page.locator('#customer-id');
  return waitUntil('the customer id', async () => (await id.textContent()) ?? '', (text) => text.startsWith('usr_'));
}

/**
 * Runs `action` (a click that starts an operation) and returns the card of the new operation: the
 * newest card, once there is one more than before.
 */
export async function startOperation(page: Page, action: () => Promise<void>): Promise<{ card: Locator; id: string }> {
  const cards = page.locator('.op');
  const before = await cards.count();
  await action();
  await waitUntil('a new operation card', () => cards.count(), (count) => count === before + 1);
  const id = (await cards.first().getAttribute('data-operation-id')) ?? '';
  if (!id.startsWith('op_')) throw new Error(`the new card names no operation: ${id}`);
  return { card: page.locator(`.op[data-operation-id="${id}"]`), id };
}

/** Waits for the status the page learnt from its long poll of GET /v1/operations/{id}?wait=. */
export async function waitForStatus(card: Locator, status: string, timeout = 30_000): Promise<void> {
  await waitUntil(`status ${status}`, () => card.getAttribute('data-status'), (value) => value === status, timeout);
}

export async function claimsOf(card: Locator): Promise<Record<string, unknown>> {
  await card.locator('.op__claims').waitFor({ state: 'visible', timeout: 15_000 });
  return JSON.parse((await card.locator('.op__claims').textContent()) ?? '{}') as Record<string, unknown>;
}

/** The definition-list value next to a term in the SDK's confirmation view. */
export function confirmField(scope: Locator, term: string): Locator {
  return scope.locator('.custos-confirm__fields dt', { hasText: new RegExp(`^${term}$`) }).locator('xpath=following-sibling::dd[1]');
}

// /docs in Chromium under its Content-Security-Policy: Swagger UI renders the API, offline, and the browser reports no CSP violation.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runningContext, screenshot, skipReason } from './browser';

describe.skipIf(skipReason !== undefined)('/docs under its CSP (Chromium)', () => {
  let browser: Browser;
  let page: Page;
  const console: string[] = [];
  const external: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    page.on('console', (message) => console.push(`${message.type()}: ${message.text()}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(runningContext().baseUrl) && !request.url().startsWith('data:')) external.push(request.url());
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders every tag of the document with the policy enforced (no unsafe-inline, no eval), nothing from the network', async () => {
    const response = await page.goto(`${runningContext().baseUrl}/docs`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    await page.locator('.swagger-ui .info .title').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('Custos API');
    // Operations are listed (the document was fetched from /openapi.json and rendered by the bundle).
    await page.locator('.opblock-tag').first().waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('.opblock-tag').count()).toBeGreaterThan(3);
    await screenshot(page, 'docs-1-swagger-under-csp', { viewport: true });
    expect(console.filter((line) => /content security policy|refused to/i.test(line))).toEqual([]);
    expect(external).toEqual([]);
  });
});

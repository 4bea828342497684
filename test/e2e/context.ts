// What global-setup.ts hands the e2e tests (vitest provide/inject), and where Chromium is.

export type E2eContext =
  | { skip: string }
  | {
      skip?: undefined;
      baseUrl: string;
      tenantId: string;
      chromium: string;
      artifacts: string;
      /** The operator token of this wrangler dev: tests that set up tenants of their own (the relying-party example) need it. */
      adminToken: string;
    };

/** Debian's chromium package; CHROMIUM_PATH overrides it. Never a downloaded browser. */
export function chromiumPath(): string {
  return process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eContext;
  }
}

// @simplewebauthn/browser stubbed as the browser boundary: navigator.credentials does not exist in Node; real ceremonies run in the e2e browser tests.
import type * as webauthn from '@simplewebauthn/browser';
import { vi } from 'vitest';

// A test file installs this module with `vi.mock('@simplewebauthn/browser', () => import('./helpers/webauthn-stub.js'))`
// and drives the same handles through its own import of it.
export const browserSupportsWebAuthn = vi.fn<typeof webauthn.browserSupportsWebAuthn>(() => true);
export const startRegistration = vi.fn<typeof webauthn.startRegistration>();
export const startAuthentication = vi.fn<typeof webauthn.startAuthentication>();

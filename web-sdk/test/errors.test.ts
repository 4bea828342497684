// localhostUrlFor: the page on localhost when it was opened on a loopback IP (WebAuthn refuses IP addresses as rpId).
import { describe, expect, it } from 'vitest';
import { localhostUrlFor } from '../src/index.js';

describe('localhostUrlFor', () => {
  it('maps loopback IPs to localhost, keeping port, path, query and fragment', () => {
    expect(localhostUrlFor('http://127.0.0.1:8787/app/#op=op_1&token=t')).toBe('http://localhost:8787/app/#op=op_1&token=t');
    expect(localhostUrlFor('http://127.1.2.3/')).toBe('http://localhost/');
    expect(localhostUrlFor('http://[::1]:8787/x?y=1')).toBe('http://localhost:8787/x?y=1');
  });

  it('leaves every other page alone (null): names, public IPs, garbage', () => {
    for (const href of ['http://localhost:8787/', 'https://bank.example/', 'http://10.0.0.1/', 'http://128.0.0.1/', 'not a url', undefined]) {
      expect(localhostUrlFor(href)).toBeNull();
    }
  });
});

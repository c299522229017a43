import { describe, expect, test } from 'vitest';
import { checkServerUrl, isLoopbackHost } from '../src/serverUrl';

describe('checkServerUrl', () => {
  test.each([
    'https://coop.example.com',
    'https://coop.example.com:8443/base',
    'http://127.0.0.1:8080',
    'http://localhost:8080',
    'http://[::1]:8080',
    'http://127.1.2.3',
  ])('accepts %s', (u) => {
    const r = checkServerUrl(u);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.url.pathname.endsWith('/')).toBe(true);
  });

  test('refuses plain http to another machine, saying why', () => {
    const r = checkServerUrl('http://coop.example.com:8080');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(/unencrypted/);
      expect(r.reason).toMatch(/https:\/\//);
    }
    expect(checkServerUrl('http://10.0.0.5').ok).toBe(false);
    expect(checkServerUrl('http://127.0.0.1.evil.example').ok).toBe(false);
    expect(checkServerUrl('http://localhost.evil.example').ok).toBe(false);
  });

  test.each(['', '   ', 'not a url', 'ftp://x', 'https://user:pw@coop.example.com', 'https://coop.example.com/?a=1'])('refuses %j', (u) => {
    expect(checkServerUrl(u).ok).toBe(false);
  });

  test('base path is kept for relative API paths', () => {
    const r = checkServerUrl('https://example.com/coop');
    expect(r.ok && new URL('v1/owners', r.url).toString()).toBe('https://example.com/coop/v1/owners');
  });

  test('loopback forms', () => {
    expect(isLoopbackHost('LOCALHOST')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.0.0.256')).toBe(false);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });
});

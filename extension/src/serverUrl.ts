/*
 * Which server addresses the extension accepts. The API token travels in
 * every request, so plain http is allowed only when the server is on this
 * machine (loopback); anywhere else it must be https.
 */

export type ServerUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** True for localhost, 127.0.0.0/8 and ::1 (the forms a URL's hostname takes). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((n) => Number(n) <= 255);
}

/** Parses and vets coop.serverUrl; the reason is a sentence for the user. */
export function checkServerUrl(raw: string | undefined): ServerUrlCheck {
  const text = (raw ?? '').trim();
  if (!text) {
    return { ok: false, reason: 'Set coop.serverUrl to the address of your Coop server.' };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: `coop.serverUrl "${text}" is not a valid URL.` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, reason: `coop.serverUrl must start with https:// (got ${url.protocol}).` };
  }
  if (url.username || url.password) {
    return { ok: false, reason: 'coop.serverUrl must not contain a user name or password; use Coop: Sign In.' };
  }
  if (url.search || url.hash) {
    return { ok: false, reason: 'coop.serverUrl must not contain a query or fragment.' };
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return {
      ok: false,
      reason:
        `Refusing plain http:// to ${url.host}: your API token would cross the network unencrypted. ` +
        'Use https://, or http:// only for a server on this machine (localhost / 127.0.0.1).',
    };
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { ok: true, url };
}

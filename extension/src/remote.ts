/*
 * From a git remote URL to Coop's repository id (DESIGN.md: "HOST/PATH",
 * e.g. github.com/octo/hello, gitlab.com/group/sub/project,
 * bitbucket.org/ws/repo) and to the web pages of that repository on its
 * host. Pure functions: the git extension supplies the URLs.
 */

export type HostKind = 'github' | 'gitlab' | 'bitbucket' | 'bitbucket-server' | 'other';

export interface RemoteInfo {
  /** Host name, lower case, without port or user. */
  host: string;
  /** Repository path on the host, without a trailing ".git" or slashes. */
  path: string;
  /** Coop's repository id: host + "/" + path. */
  id: string;
  kind: HostKind;
  /** https://host/path (http only when the remote itself was http). */
  webUrl: string;
}

/** Host aliases whose repositories live under another name. */
const HOST_ALIASES: Record<string, string> = {
  'ssh.github.com': 'github.com',
  'www.github.com': 'github.com',
  'altssh.gitlab.com': 'gitlab.com',
  'www.gitlab.com': 'gitlab.com',
  'altssh.bitbucket.org': 'bitbucket.org',
  'www.bitbucket.org': 'bitbucket.org',
};

function hostKind(host: string, rawPath: string): HostKind {
  if (host === 'github.com' || /(^|\.)github\./.test(host)) return 'github';
  if (host === 'gitlab.com' || /(^|\.)gitlab\./.test(host)) return 'gitlab';
  if (host === 'bitbucket.org') return 'bitbucket';
  if (/(^|\.)bitbucket\./.test(host) || /^\/?scm\//.test(rawPath)) return 'bitbucket-server';
  return 'other';
}

function cleanPath(p: string): string {
  let s = p.replace(/\\/g, '/').replace(/^\/+/, '').replace(/\/+$/, '');
  s = s.replace(/\.git$/i, '').replace(/\/+$/, '');
  return s;
}

interface Split {
  scheme: string;
  host: string;
  path: string;
}

function split(raw: string): Split | undefined {
  const url = raw.trim();
  if (!url) return undefined;
  // URL forms: https://, http://, ssh://, git://, git+ssh://, ssh+git://
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::\d*)?(\/[^?#]*)?/i.exec(url);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'file') return undefined;
    return { scheme, host: m[2]!, path: m[3] ?? '' };
  }
  // scp-like: [user@]host:path (no "//" after the colon, not a Windows drive)
  const s = /^(?:[^@/]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(url);
  if (s && s[1]!.length > 1) {
    return { scheme: 'ssh', host: s[1]!, path: s[2]! };
  }
  return undefined;
}

/** Parses one remote URL; undefined for local paths and unknown forms. */
export function parseRemote(raw: string): RemoteInfo | undefined {
  const parts = split(raw);
  if (!parts) return undefined;
  let host = parts.host.toLowerCase().replace(/\.$/, '');
  host = HOST_ALIASES[host] ?? host;
  const kind = hostKind(host, parts.path);
  let path = cleanPath(parts.path);
  if (kind === 'bitbucket-server') {
    // HTTPS clones are /scm/PROJECT/repo; SSH clones are /PROJECT/repo.
    // Coop names these HOST/<project key, lower case>/<slug>.
    path = path.replace(/^scm\//i, '').toLowerCase();
  }
  if (kind === 'gitlab' || kind === 'github') {
    path = path.replace(/^~/, '');
  }
  if (!path || path.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) {
    return undefined;
  }
  if (kind === 'github' || kind === 'bitbucket') {
    // Exactly OWNER/REPO on these hosts.
    const segs = path.split('/');
    if (segs.length < 2) return undefined;
    path = segs.slice(0, 2).join('/');
  }
  const webScheme = parts.scheme === 'http' ? 'http' : 'https';
  return { host, path, id: `${host}/${path}`, kind, webUrl: `${webScheme}://${host}/${path}` };
}

export interface NamedRemote {
  name: string;
  fetchUrl?: string | undefined;
  pushUrl?: string | undefined;
}

/** The remote Coop follows: origin, then upstream, then the first one that parses. */
export function pickRemote(remotes: readonly NamedRemote[]): RemoteInfo | undefined {
  const order = [...remotes].sort((a, b) => rank(a.name) - rank(b.name));
  for (const r of order) {
    for (const u of [r.fetchUrl, r.pushUrl]) {
      const info = u ? parseRemote(u) : undefined;
      if (info) return info;
    }
  }
  return undefined;
}

function rank(name: string): number {
  if (name === 'origin') return 0;
  if (name === 'upstream') return 1;
  return 2;
}

/** Web page of one commit on the repository's host. */
export function commitUrl(r: RemoteInfo, sha: string): string {
  const s = encodeURIComponent(sha);
  switch (r.kind) {
    case 'gitlab':
      return `${r.webUrl}/-/commit/${s}`;
    case 'bitbucket':
      return `${r.webUrl}/commits/${s}`;
    case 'bitbucket-server': {
      const [project, ...rest] = r.path.split('/');
      return `${r.webUrl.slice(0, r.webUrl.length - r.path.length)}projects/${project}/repos/${rest.join('/')}/commits/${s}`;
    }
    case 'github':
    case 'other':
      return `${r.webUrl}/commit/${s}`;
  }
}

/** Repository-relative path with forward slashes, or undefined when outside the root. */
export function relativePath(root: string, file: string): string | undefined {
  const norm = (p: string) => p.replace(/\\/g, '/').replace(/\/+$/, '');
  const r = norm(root);
  const f = norm(file);
  const ci = /^[a-z]:\//i.test(r);
  const prefix = r + '/';
  const matches = ci ? f.toLowerCase().startsWith(prefix.toLowerCase()) : f.startsWith(prefix);
  if (!matches) return undefined;
  const rel = f.slice(prefix.length);
  return rel || undefined;
}

/*
 * The views from a file's state: status bar text and command, CodeLens
 * title, the sidebar's sections and their TreeItems (under
 * jest-mock-vscode), the git locator on a fake vscode.git API, and the
 * advice given for each failure.
 */
import { describe, expect, test, vi } from 'vitest';
import * as vscode from 'vscode';
import { CoopError } from '../src/client';
import type { FileState } from '../src/controller';
import { adviceFor } from '../src/errors';
import type { FileInfo, FileLocation } from '../src/fileInfo';
import { lensText, relativeTime, statusText } from '../src/format';
import { GitApi, GitLocator, GitRepository } from '../src/git';
import { parseRemote } from '../src/remote';
import { statusView } from '../src/statusBar';
import { buildTree, Node, toTreeItem } from '../src/tree';
import { askHtml, codeForQuestion, MAX_CODE_CHARS } from '../src/askPanel';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const location: FileLocation = {
  repoId: 'github.com/octo/engine',
  path: 'src/engine.c',
  remote: parseRemote('git@github.com:octo/engine.git')!,
  root: '/work/engine',
};

function info(over: Partial<FileInfo> = {}): FileInfo {
  return {
    location,
    owners: {
      path: 'src/engine.c',
      codeowners: { file: '.github/CODEOWNERS', line: 4, pattern: '/src/', owners: ['@octo/core', '@ada'], section: null },
      authors: [
        { person: 'Ada Lovelace', commits: 7, doa: 5.2, last_change: '2026-11-27T12:00:00Z', first_author: true },
        { person: 'Bob', commits: 3, doa: 4.1, last_change: '2026-10-01T12:00:00Z' },
      ],
      recent_contributors: [{ person: 'Carol', commits: 1, last_change: '2026-11-28T12:00:00Z' }],
    },
    history: {
      commits: [
        { sha: '1111111111111111111111111111111111111111', author: 'Carol', time: '2026-11-27T12:00:00Z', message: 'engine: faster step', change: 'M' },
        { sha: '2222222222222222222222222222222222222222', author: 'Ada Lovelace', time: '2026-01-01T12:00:00Z', message: 'engine: first', change: 'A' },
      ],
      next_cursor: null,
    },
    historyError: undefined,
    coupling: { files: [{ path: 'include/engine.h', shared: 5, degree: 83 }] },
    couplingError: undefined,
    pulls: { pulls: [{ number: 42, title: 'Speed up step', state: 'open', author: 'carol', reviewers: [{ login: 'ada', state: 'approved' }], url: 'https://github.com/octo/engine/pull/42' }] },
    pullsError: undefined,
    loadedAt: NOW,
    ...over,
  };
}

const uri = vscode.Uri.file('/work/engine/src/engine.c');
const ready: FileState = { kind: 'ready', uri, info: info() };

function errorState(e: CoopError): FileState {
  return { kind: 'error', uri, location, error: e, advice: adviceFor(e, location) };
}

function find(nodes: Node[], id: string): Node {
  const n = nodes.find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id} in ${nodes.map((x) => x.id).join(',')}`);
  return n;
}

describe('format', () => {
  test('relative times', () => {
    expect(relativeTime('2026-11-29T11:59:50Z', NOW)).toBe('just now');
    expect(relativeTime('2026-11-29T11:55:00Z', NOW)).toBe('5 minutes ago');
    expect(relativeTime('2026-11-29T11:00:00Z', NOW)).toBe('1 hour ago');
    expect(relativeTime('2026-11-27T12:00:00Z', NOW)).toBe('2 days ago');
    expect(relativeTime('2026-08-29T12:00:00Z', NOW)).toBe('3 months ago');
    expect(relativeTime('2024-11-01T12:00:00Z', NOW)).toBe('2 years ago');
    expect(relativeTime(null, NOW)).toBe('at an unknown time');
  });

  test('CodeLens: owners, number of authors, last change', () => {
    expect(lensText(info(), NOW)).toBe('owned by @octo/core, @ada · 3 authors · last changed 2 days ago by Carol');
  });

  test('without CODEOWNERS the experts are named', () => {
    const i = info();
    i.owners = { ...i.owners, codeowners: null };
    expect(lensText(i, NOW)).toMatch(/^experts Ada Lovelace, Bob · /);
    expect(statusText(i)).toBe('Ada Lovelace, Bob');
  });
});

describe('status bar', () => {
  test('ready: owners, details on click', () => {
    const v = statusView(ready, NOW);
    expect(v).toMatchObject({ text: '$(organization) @octo/core, @ada', command: 'coop.showDetails', visible: true, warning: false });
    expect(v.tooltip).toContain('CODEOWNERS .github/CODEOWNERS:4 /src/');
  });

  test('loading spins; nothing to show hides', () => {
    expect(statusView({ kind: 'loading', uri, location }).text).toContain('sync~spin');
    expect(statusView({ kind: 'none', message: 'x' }).visible).toBe(false);
  });

  test('401 offers sign-in, offline offers retry, unknown repo says not indexed', () => {
    expect(statusView(errorState(new CoopError('unauthorized', 'no', { status: 401 })))).toMatchObject({ text: '$(key) Coop: sign in', command: 'coop.signIn' });
    expect(statusView(errorState(new CoopError('offline', 'Cannot reach')))).toMatchObject({ text: '$(warning) Coop: offline', command: 'coop.refresh', warning: true });
    const nf = statusView(errorState(new CoopError('not_found', 'unknown repository', { status: 404 })));
    expect(nf).toMatchObject({ text: '$(warning) Coop: not indexed', warning: false });
    expect(nf.tooltip).toContain('github.com/octo/engine is not indexed');
  });
});

describe('sidebar', () => {
  const roots = buildTree(ready, NOW);

  test('five sections in order', () => {
    expect(roots.map((n) => n.label)).toEqual(['Owners', 'Experts', 'Recent changes', 'Related files', 'Pull requests']);
  });

  test('owners carry the CODEOWNERS rule and line, and open it', () => {
    const owners = find(roots, 'owners').children!;
    expect(owners.map((n) => n.label)).toEqual(['@octo/core', '@ada']);
    expect(owners[0]!.description).toBe('.github/CODEOWNERS:4 /src/');
    expect(owners[0]!.command).toEqual({ command: 'coop.openRelated', title: 'Open CODEOWNERS', arguments: ['/work/engine', '.github/CODEOWNERS', 4] });
  });

  test('experts with degree of authorship', () => {
    const e = find(roots, 'experts').children!;
    expect(e.map((n) => n.label)).toEqual(['Ada Lovelace', 'Bob']);
    expect(e[0]!.description).toBe('DOA 5.20 · 7 changes · last 2 days ago · created it');
  });

  test('recent changes open the commit on the host', () => {
    const c = find(roots, 'changes').children!;
    expect(c[0]!.label).toBe('engine: faster step');
    expect(c[0]!.command).toEqual({
      command: 'coop.openCommit',
      title: 'Open Commit',
      arguments: ['https://github.com/octo/engine/commit/1111111111111111111111111111111111111111'],
    });
    expect(c[1]!.description).toContain('· A');
  });

  test('related files open the file', () => {
    const r = find(roots, 'related').children!;
    expect(r[0]).toMatchObject({ label: 'engine.h', description: '83% · 5 shared commits · include' });
    expect(r[0]!.command?.arguments).toEqual(['/work/engine', 'include/engine.h']);
  });

  test('pull requests open their page', () => {
    const p = find(roots, 'pulls').children!;
    expect(p[0]).toMatchObject({ label: '#42 Speed up step', description: 'open · carol' });
    expect(p[0]!.command?.arguments).toEqual(['https://github.com/octo/engine/pull/42']);
  });

  test('a failing section says why; empty sections say so', () => {
    const t = buildTree({ kind: 'ready', uri, info: info({ history: undefined, historyError: new CoopError('server', 'boom'), coupling: { files: [] } }) }, NOW);
    expect(find(t, 'changes').children![0]!.label).toContain('boom');
    expect(find(t, 'related').children![0]!.label).toBe('No file changes with this one');
  });

  test('GitLab sections list every section match', () => {
    const i = info();
    i.owners = {
      ...i.owners,
      codeowners_sections: [
        { file: 'CODEOWNERS', line: 2, pattern: '*.c', owners: ['@dev'], section: 'Code' },
        { file: 'CODEOWNERS', line: 6, pattern: 'src/', owners: ['@sec'], section: 'Security' },
      ],
    };
    const o = find(buildTree({ kind: 'ready', uri, info: i }, NOW), 'owners').children!;
    expect(o.map((n) => `${n.label} ${n.description}`)).toEqual(['@dev CODEOWNERS:2 *.c [Code]', '@sec CODEOWNERS:6 src/ [Security]']);
  });

  test('401 in the sidebar offers sign-in', () => {
    const t = buildTree(errorState(new CoopError('unauthorized', 'x', { status: 401 })));
    expect(t.map((n) => n.command?.command)).toContain('coop.signIn');
  });

  test('TreeItems: sections expanded, leaves with icon and command', () => {
    const sec = toTreeItem(roots[0]!);
    expect(sec.label).toBe('Owners');
    expect(sec.collapsibleState).toBe(vscode.TreeItemCollapsibleState.Expanded);
    const leaf = toTreeItem(find(roots, 'changes').children![0]!);
    expect(leaf.collapsibleState).toBe(vscode.TreeItemCollapsibleState.None);
    expect((leaf.iconPath as vscode.ThemeIcon).id).toBe('git-commit');
    expect(leaf.command?.command).toBe('coop.openCommit');
  });
});

describe('git locator', () => {
  function fakeApi(repos: GitRepository[]): GitApi {
    const never = new vscode.EventEmitter<never>().event;
    return {
      state: 'initialized',
      onDidChangeState: never,
      repositories: repos,
      onDidOpenRepository: never,
      onDidCloseRepository: never,
      getRepository: (u: vscode.Uri) => repos.find((r) => u.fsPath.startsWith(r.rootUri.fsPath + '/')) ?? null,
    };
  }
  function repo(root: string, remotes: { name: string; fetchUrl?: string }[]): GitRepository {
    return { rootUri: vscode.Uri.file(root), state: { remotes, onDidChange: new vscode.EventEmitter<void>().event } };
  }

  test('repository id from origin, path relative to the root', () => {
    const g = new GitLocator();
    g.setApi(fakeApi([repo('/work/engine', [{ name: 'origin', fetchUrl: 'https://gitlab.com/grp/sub/engine.git' }])]));
    const r = g.resolve(vscode.Uri.file('/work/engine/src/engine.c'));
    expect(r.ok && [r.location.repoId, r.location.path]).toEqual(['gitlab.com/grp/sub/engine', 'src/engine.c']);
  });

  test('no repository, no usable remote, not a file', () => {
    const g = new GitLocator();
    g.setApi(fakeApi([repo('/work/local', [{ name: 'origin', fetchUrl: '/srv/git/x.git' }])]));
    expect(g.resolve(vscode.Uri.file('/elsewhere/a.c'))).toMatchObject({ ok: false, reason: 'no-repository' });
    expect(g.resolve(vscode.Uri.file('/work/local/a.c'))).toMatchObject({ ok: false, reason: 'no-remote' });
    expect(g.resolve(vscode.Uri.parse('untitled:Untitled-1'))).toMatchObject({ ok: false, reason: 'not-a-file' });
  });

  test('without the git extension it says so', () => {
    expect(new GitLocator().resolve(vscode.Uri.file('/a/b.c'))).toMatchObject({ ok: false, reason: 'no-git' });
  });
});

describe('ask panel', () => {
  test('code is capped', () => {
    expect(codeForQuestion('abc')).toEqual({ code: 'abc', truncated: false });
    const big = codeForQuestion('x'.repeat(MAX_CODE_CHARS + 5));
    expect([big.code.length, big.truncated]).toEqual([MAX_CODE_CHARS, true]);
  });

  test('the page has a strict CSP and renders the answer as text', () => {
    const html = askHtml('n0nce', 'vscode-resource:');
    expect(html).toContain("default-src 'none'");
    expect(html).toContain("script-src 'nonce-n0nce'");
    expect(html).toContain('textContent += m.text');
    expect(html).not.toContain('innerHTML');
  });
});

vi.restoreAllMocks();

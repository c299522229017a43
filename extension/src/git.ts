/*
 * Finds the repository of a file through the built-in git extension
 * (vscode.git, API version 1): its root and remotes give Coop's repository
 * id and the repository-relative path. The git extension discovers
 * repositories lazily, so a file opened before its repository is known is
 * resolved again when onDidChange fires.
 */
import * as vscode from 'vscode';
import type { FileLocation } from './fileInfo';
import { pickRemote, relativePath } from './remote';

/** The part of vscode.git's API (extensions/git/src/api/git.d.ts) Coop uses. */
export interface GitRemote {
  readonly name: string;
  readonly fetchUrl?: string;
  readonly pushUrl?: string;
}

export interface GitRepository {
  readonly rootUri: vscode.Uri;
  readonly state: {
    readonly remotes: readonly GitRemote[];
    readonly onDidChange: vscode.Event<void>;
  };
}

export interface GitApi {
  readonly state: 'uninitialized' | 'initialized';
  readonly onDidChangeState: vscode.Event<'uninitialized' | 'initialized'>;
  readonly repositories: readonly GitRepository[];
  readonly onDidOpenRepository: vscode.Event<GitRepository>;
  readonly onDidCloseRepository: vscode.Event<GitRepository>;
  getRepository(uri: vscode.Uri): GitRepository | null;
}

interface GitExtension {
  readonly enabled: boolean;
  getAPI(version: 1): GitApi;
}

export type Resolution =
  | { ok: true; location: FileLocation }
  | { ok: false; reason: 'no-git' | 'not-a-file' | 'no-repository' | 'no-remote' | 'outside'; message: string };

export class GitLocator implements vscode.Disposable {
  private api: GitApi | undefined;
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly subs: vscode.Disposable[] = [];
  private readonly watched = new Set<GitRepository>();
  /** Fires when repositories or their remotes change. */
  readonly onDidChange = this.emitter.event;

  /** Connects to vscode.git; false when it is missing or disabled. */
  async init(): Promise<boolean> {
    const ext = vscode.extensions.getExtension<GitExtension>('vscode.git');
    if (!ext) return false;
    const exports = ext.isActive ? ext.exports : await ext.activate();
    if (!exports || !exports.enabled) return false;
    this.setApi(exports.getAPI(1));
    return true;
  }

  /** For tests and for hosts that hand the API over directly. */
  setApi(api: GitApi): void {
    this.api = api;
    this.subs.push(
      api.onDidOpenRepository((r) => {
        this.watch(r);
        this.emitter.fire();
      }),
      api.onDidCloseRepository(() => this.emitter.fire()),
      api.onDidChangeState(() => this.emitter.fire()),
    );
    for (const r of api.repositories) this.watch(r);
  }

  private watch(r: GitRepository): void {
    if (this.watched.has(r)) return;
    this.watched.add(r);
    this.subs.push(r.state.onDidChange(() => this.emitter.fire()));
  }

  resolve(uri: vscode.Uri): Resolution {
    if (uri.scheme !== 'file' && uri.scheme !== 'vscode-remote') {
      return { ok: false, reason: 'not-a-file', message: 'Coop works on files saved in a git repository.' };
    }
    if (!this.api) {
      return { ok: false, reason: 'no-git', message: 'The built-in Git extension is not available (is git.enabled off?).' };
    }
    const repo = this.api.getRepository(uri) ?? this.findByPath(uri);
    if (!repo) {
      return { ok: false, reason: 'no-repository', message: 'This file is not inside a git repository that VS Code knows.' };
    }
    const remote = pickRemote(repo.state.remotes);
    if (!remote) {
      return {
        ok: false,
        reason: 'no-remote',
        message: 'This repository has no remote Coop recognises (origin on GitHub, GitLab, Bitbucket or a self-hosted host).',
      };
    }
    const path = relativePath(repo.rootUri.fsPath, uri.fsPath);
    if (!path) {
      return { ok: false, reason: 'outside', message: 'This is the repository folder itself, not a file in it.' };
    }
    return { ok: true, location: { repoId: remote.id, path, remote, root: repo.rootUri.fsPath } };
  }

  /** The repository holding uri when getRepository did not know it (nested roots: the deepest). */
  private findByPath(uri: vscode.Uri): GitRepository | undefined {
    let best: GitRepository | undefined;
    for (const r of this.api?.repositories ?? []) {
      if (relativePath(r.rootUri.fsPath, uri.fsPath) === undefined) continue;
      if (!best || r.rootUri.fsPath.length > best.rootUri.fsPath.length) best = r;
    }
    return best;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.emitter.dispose();
  }
}

/*
 * The state of the file in the active editor, shared by the status bar,
 * the CodeLens and the sidebar: which file, whether its facts are loading,
 * loaded or failed, and why. Loads run in the background (the editor never
 * waits), are cached per file, and are redone on save, on "Coop: Refresh",
 * and when settings, the token or the repositories change.
 */
import * as vscode from 'vscode';
import { CoopClient, CoopError } from './client';
import { FileCache } from './cache';
import { adviceFor, ErrorAdvice } from './errors';
import { FileInfo, FileLocation, loadFileInfo, toCoopError } from './fileInfo';
import type { GitLocator } from './git';
import type { TokenStore } from './auth';
import { checkServerUrl } from './serverUrl';

export type FileState =
  | { kind: 'none'; message: string }
  | { kind: 'loading'; uri: vscode.Uri; location: FileLocation }
  | { kind: 'ready'; uri: vscode.Uri; info: FileInfo }
  | { kind: 'error'; uri: vscode.Uri; location: FileLocation | undefined; error: CoopError; advice: ErrorAdvice };

/** How long the same kind of failure stays quiet after a notification. */
const NOTIFY_QUIET_MS = 60_000;

export class Controller implements vscode.Disposable {
  private readonly cache = new FileCache<FileInfo>();
  private readonly emitter = new vscode.EventEmitter<FileState>();
  private readonly subs: vscode.Disposable[] = [];
  private state: FileState = { kind: 'none', message: 'Open a file to see who owns it.' };
  private generation = 0;
  private readonly lastNotified = new Map<string, number>();
  readonly onDidChangeState = this.emitter.event;

  constructor(
    private readonly git: GitLocator,
    private readonly tokens: TokenStore,
  ) {
    this.subs.push(
      vscode.window.onDidChangeActiveTextEditor(() => this.showActive()),
      vscode.workspace.onDidSaveTextDocument((doc) => this.onSaved(doc)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('coop')) this.reset();
      }),
      tokens.onDidChange(() => this.reset()),
      git.onDidChange(() => {
        if (this.state.kind === 'none') this.showActive();
      }),
    );
  }

  get current(): FileState {
    return this.state;
  }

  /** A client for the configured server, or the reason there is none. */
  client(): CoopClient | string {
    const check = checkServerUrl(vscode.workspace.getConfiguration('coop').get<string>('serverUrl'));
    if (!check.ok) return check.reason;
    return new CoopClient({ baseUrl: check.url, token: () => this.tokens.get(), userAgent: 'coop-vscode/0.1.0' });
  }

  /** Facts already loaded for a file (for CodeLenses of other editors). */
  cached(uri: vscode.Uri): FileInfo | undefined {
    const r = this.git.resolve(uri);
    return r.ok ? this.cache.peek(key(r.location)) : undefined;
  }

  showActive(force = false): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      // Focus moved to a panel or the sidebar: keep showing the last file.
      if (this.state.kind === 'none') this.setState({ kind: 'none', message: 'Open a file to see who owns it.' });
      return;
    }
    void this.show(editor.document.uri, force);
  }

  refresh(): void {
    this.showActive(true);
  }

  async show(uri: vscode.Uri, force = false): Promise<void> {
    const gen = ++this.generation;
    const resolved = this.git.resolve(uri);
    if (!resolved.ok) {
      this.setState({ kind: 'none', message: resolved.message });
      return;
    }
    const location = resolved.location;
    const client = this.client();
    if (typeof client === 'string') {
      const error = new CoopError('bad_request', client);
      this.setState({ kind: 'error', uri, location, error, advice: { message: client, short: 'settings', actions: ['openSettings'], notify: true } });
      this.notify(this.state);
      return;
    }
    const k = key(location);
    const ready = force ? undefined : this.cache.peek(k);
    if (ready) {
      this.setState({ kind: 'ready', uri, info: ready });
      return;
    }
    this.setState({ kind: 'loading', uri, location });
    const cfg = vscode.workspace.getConfiguration('coop');
    const historyLimit = clamp(cfg.get<number>('historyLimit') ?? 10, 1, 100);
    const load = this.cache.get(k, (signal) => loadFileInfo(client, location, { historyLimit, couplingLimit: 10 }, signal), force);
    const progress = new Promise<void>((resolve) => void load.then(() => resolve(), () => resolve()));
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Coop: loading owners' }, () => progress);
    void vscode.window.withProgress({ location: { viewId: 'coop.file' } }, () => progress);
    try {
      const info = await load;
      if (gen !== this.generation) return;
      this.setState({ kind: 'ready', uri, info });
    } catch (e) {
      const error = toCoopError(e);
      // A newer request replaced this one (or its cache entry was dropped).
      if (gen !== this.generation || error.kind === 'cancelled') return;
      this.setState({ kind: 'error', uri, location, error, advice: adviceFor(error, location) });
      this.notify(this.state);
    }
  }

  private onSaved(doc: vscode.TextDocument): void {
    const r = this.git.resolve(doc.uri);
    if (!r.ok) return;
    this.cache.invalidate(key(r.location));
    const s = this.state;
    if (s.kind !== 'none' && s.uri.toString() === doc.uri.toString()) void this.show(doc.uri, true);
  }

  private reset(): void {
    this.cache.clear();
    this.lastNotified.clear();
    this.showActive(true);
  }

  private setState(s: FileState): void {
    this.state = s;
    this.emitter.fire(s);
  }

  private notify(s: FileState): void {
    if (s.kind !== 'error' || !s.advice.notify) return;
    const now = Date.now();
    const last = this.lastNotified.get(s.error.kind) ?? 0;
    if (now - last < NOTIFY_QUIET_MS) return;
    this.lastNotified.set(s.error.kind, now);
    void offerActions(s.advice, () => this.refresh());
  }

  dispose(): void {
    this.cache.clear();
    for (const d of this.subs) d.dispose();
    this.emitter.dispose();
  }
}

/** Shows the advice with its actions as buttons and runs the one picked. */
export async function offerActions(advice: ErrorAdvice, retry: () => void): Promise<void> {
  const labels: Record<string, string> = { signIn: 'Sign In', openSettings: 'Open Settings', retry: 'Retry' };
  const buttons = advice.actions.map((a) => labels[a]!);
  const pick = await vscode.window.showWarningMessage(advice.message, ...buttons);
  if (pick === 'Sign In') await vscode.commands.executeCommand('coop.signIn');
  else if (pick === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'coop.serverUrl');
  else if (pick === 'Retry') retry();
}

function key(l: FileLocation): string {
  return `${l.repoId}\u0000${l.path}`;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}

/*
 * The API token: kept only in SecretStorage (the OS keychain), set by
 * "Coop: Sign In" after the server accepted it, removed by "Coop: Sign
 * Out". It is never written to settings, files or logs, and never shown.
 */
import * as vscode from 'vscode';
import { CoopClient, CoopError } from './client';
import { adviceFor } from './errors';
import { checkServerUrl } from './serverUrl';

const SECRET_KEY = 'coop.apiToken';

export class TokenStore implements vscode.Disposable {
  private cached: string | undefined;
  private loaded = false;
  readonly onDidChange: vscode.Event<void>;
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly sub: vscode.Disposable;

  constructor(private readonly secrets: vscode.SecretStorage) {
    this.onDidChange = this.emitter.event;
    this.sub = secrets.onDidChange((e) => {
      if (e.key === SECRET_KEY) {
        this.loaded = false;
        this.emitter.fire();
      }
    });
  }

  async get(): Promise<string | undefined> {
    if (!this.loaded) {
      this.cached = (await this.secrets.get(SECRET_KEY)) || undefined;
      this.loaded = true;
    }
    return this.cached;
  }

  async set(token: string): Promise<void> {
    await this.secrets.store(SECRET_KEY, token);
    this.cached = token;
    this.loaded = true;
    this.emitter.fire();
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }

  async clear(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
    this.cached = undefined;
    this.loaded = true;
    this.emitter.fire();
  }
}

export function serverUrlSetting(): string | undefined {
  return vscode.workspace.getConfiguration('coop').get<string>('serverUrl');
}

/** Asks for a token, checks it against the server (GET /v1/repos), stores it. */
export async function signIn(tokens: TokenStore): Promise<boolean> {
  const server = checkServerUrl(serverUrlSetting());
  if (!server.ok) {
    const pick = await vscode.window.showErrorMessage(server.reason, 'Open Settings');
    if (pick) await vscode.commands.executeCommand('workbench.action.openSettings', 'coop.serverUrl');
    return false;
  }
  let message: string | undefined;
  for (;;) {
    const token = await vscode.window.showInputBox({
      title: 'Coop: Sign In',
      prompt: message ?? `API token for ${server.url.host} (from your administrator: coopd token create --scope read)`,
      placeHolder: 'Paste your Coop API token',
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() && /^[\x21-\x7e]+$/.test(v.trim()) ? undefined : 'A token is one word of printable characters.'),
    });
    if (token === undefined) return false;
    const candidate = token.trim();
    const client = new CoopClient({ baseUrl: server.url, token: () => candidate });
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Coop: checking the token with ${server.url.host}…`, cancellable: true },
        (_p, cancel) => {
          const ac = new AbortController();
          cancel.onCancellationRequested(() => ac.abort());
          return client.repos(ac.signal);
        },
      );
    } catch (e) {
      const err = e instanceof CoopError ? e : new CoopError('bad_response', String(e));
      if (err.kind === 'cancelled') return false;
      if (err.kind === 'unauthorized' || err.kind === 'forbidden') {
        message = err.kind === 'unauthorized'
          ? 'The server refused this token (401). Check it and try again.'
          : 'This token lacks the read scope (403). Ask for a token with --scope read.';
        continue;
      }
      await vscode.window.showErrorMessage(adviceFor(err).message);
      return false;
    }
    await tokens.set(candidate);
    void vscode.window.showInformationMessage(`Coop: signed in to ${server.url.host}.`);
    return true;
  }
}

export async function signOut(tokens: TokenStore): Promise<void> {
  await tokens.clear();
  void vscode.window.showInformationMessage('Coop: signed out; the token was removed from this machine.');
}

/*
 * "Coop: Ask About This File" and "Ask About Selection": a question about
 * the active file goes to POST /v1/ask with the file's (or selection's)
 * code, and the answer streams into a webview panel as it arrives. The
 * panel's Stop button, closing the panel, or a new question cancels the
 * request (the connection is closed, so the server stops the provider).
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { CoopError } from './client';
import type { Controller } from './controller';
import { adviceFor } from './errors';
import type { GitLocator } from './git';

/** Code sent with a question at most (the server sanitizes it before it leaves). */
export const MAX_CODE_CHARS = 64 * 1024;

export type PanelMessage =
  | { type: 'start'; question: string; subject: string }
  | { type: 'text'; text: string }
  | { type: 'done'; note: string }
  | { type: 'error'; message: string; signIn: boolean };

export function codeForQuestion(text: string): { code: string; truncated: boolean } {
  if (text.length <= MAX_CODE_CHARS) return { code: text, truncated: false };
  return { code: text.slice(0, MAX_CODE_CHARS), truncated: true };
}

export class AskPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private running: AbortController | undefined;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly controller: Controller,
    private readonly git: GitLocator,
  ) {}

  async ask(selectionOnly: boolean): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Coop: open a file first, then ask about it.');
      return;
    }
    const resolved = this.git.resolve(editor.document.uri);
    if (!resolved.ok) {
      void vscode.window.showWarningMessage(`Coop: ${resolved.message}`);
      return;
    }
    const client = this.controller.client();
    if (typeof client === 'string') {
      void vscode.window.showErrorMessage(client);
      return;
    }
    const loc = resolved.location;
    const sel = editor.selection;
    const useSelection = selectionOnly && !sel.isEmpty;
    if (selectionOnly && sel.isEmpty) {
      void vscode.window.showInformationMessage('Coop: select some code first, or use "Ask About This File".');
      return;
    }
    const subject = useSelection ? `${loc.path}:${sel.start.line + 1}-${sel.end.line + 1}` : loc.path;
    const question = await vscode.window.showInputBox({
      title: `Ask Coop about ${subject}`,
      prompt: 'Your question; the answer uses what Coop knows of this file (owners, history, related files) and its code.',
      placeHolder: useSelection ? 'What does this code do, and who should review a change to it?' : 'Who should review a change to this file, and why?',
      ignoreFocusOut: true,
    });
    if (!question || !question.trim()) return;
    const { code, truncated } = codeForQuestion(useSelection ? editor.document.getText(sel) : editor.document.getText());
    const fullQuestion = useSelection ? `${question.trim()}\n\n(About lines ${sel.start.line + 1}-${sel.end.line + 1} of ${loc.path}.)` : question.trim();

    this.running?.abort();
    const ac = new AbortController();
    this.running = ac;
    const panel = this.open();
    this.post({ type: 'start', question: question.trim(), subject });

    const work = client.ask(
      { repo: loc.repoId, path: loc.path, question: fullQuestion, code },
      (text) => {
        if (this.running === ac) this.post({ type: 'text', text });
      },
      ac.signal,
    );
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Coop: answering', cancellable: true },
      (_p, token) => {
        token.onCancellationRequested(() => ac.abort());
        return work.then(() => undefined, () => undefined);
      },
    );
    try {
      const res = await work;
      if (this.running !== ac) return;
      const bits = [res.model ? `model ${res.model}` : '', res.requestId ? `request ${res.requestId}` : '', truncated ? `code cut to ${MAX_CODE_CHARS} characters` : ''];
      this.post({ type: 'done', note: bits.filter(Boolean).join(' · ') });
    } catch (e) {
      if (this.running !== ac || !this.panel || this.panel !== panel) return;
      const err = e instanceof CoopError ? e : new CoopError('bad_response', String(e));
      if (err.kind === 'cancelled') {
        this.post({ type: 'done', note: 'Stopped.' });
      } else {
        this.post({ type: 'error', message: adviceFor(err, loc).message, signIn: err.kind === 'unauthorized' });
      }
    } finally {
      if (this.running === ac) this.running = undefined;
    }
  }

  private open(): vscode.WebviewPanel {
    if (this.panel) {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
      return this.panel;
    }
    const panel = vscode.window.createWebviewPanel('coop.ask', 'Coop: Ask', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [],
    });
    panel.webview.html = askHtml(crypto.randomBytes(16).toString('base64'), panel.webview.cspSource);
    this.subs.push(
      panel.webview.onDidReceiveMessage((m: { type?: string }) => {
        if (m?.type === 'cancel') this.running?.abort();
        else if (m?.type === 'signIn') void vscode.commands.executeCommand('coop.signIn');
      }),
      panel.onDidDispose(() => {
        this.running?.abort();
        this.running = undefined;
        this.panel = undefined;
      }),
    );
    this.panel = panel;
    return panel;
  }

  private post(m: PanelMessage): void {
    void this.panel?.webview.postMessage(m);
  }

  dispose(): void {
    this.running?.abort();
    this.panel?.dispose();
    for (const s of this.subs) s.dispose();
  }
}

/** The panel's page: text only (the answer is never interpreted as HTML), strict CSP. */
export function askHtml(nonce: string, cspSource: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1em; }
h2 { font-size: 1.1em; margin: 1em 0 .2em; }
#subject { color: var(--vscode-descriptionForeground); margin: 0 0 1em; }
#answer { white-space: pre-wrap; line-height: 1.45; font-family: var(--vscode-editor-font-family); }
#status { color: var(--vscode-descriptionForeground); margin-top: 1em; }
#status.error { color: var(--vscode-errorForeground); }
button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 4px 12px; cursor: pointer; margin-top: .8em; }
button:hover { background: var(--vscode-button-hoverBackground); }
</style></head>
<body>
<h2 id="question">Ask Coop</h2>
<div id="subject"></div>
<div id="answer" aria-live="polite"></div>
<div id="status"></div>
<button id="stop" hidden>Stop</button>
<button id="signin" hidden>Sign In</button>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const $ = (id) => document.getElementById(id);
$('stop').addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
$('signin').addEventListener('click', () => vscode.postMessage({ type: 'signIn' }));
window.addEventListener('message', (e) => {
  const m = e.data;
  if (m.type === 'start') {
    $('question').textContent = m.question;
    $('subject').textContent = m.subject;
    $('answer').textContent = '';
    $('status').textContent = 'Waiting for the answer…';
    $('status').className = '';
    $('stop').hidden = false;
    $('signin').hidden = true;
  } else if (m.type === 'text') {
    $('answer').textContent += m.text;
    $('status').textContent = 'Answering…';
  } else if (m.type === 'done') {
    $('status').textContent = m.note || 'Done.';
    $('stop').hidden = true;
  } else if (m.type === 'error') {
    $('status').textContent = m.message;
    $('status').className = 'error';
    $('stop').hidden = true;
    $('signin').hidden = !m.signIn;
  }
});
</script>
</body></html>`;
}

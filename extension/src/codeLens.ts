/*
 * One CodeLens above the first line of a file: "owned by … · N authors ·
 * last changed 2 days ago by …". It reads what the controller has loaded
 * and never starts a request of its own.
 */
import * as vscode from 'vscode';
import type { Controller } from './controller';
import { lensText } from './format';

export class OwnersCodeLens implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly sub: vscode.Disposable;
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(private readonly controller: Controller) {
    this.sub = controller.onDidChangeState(() => this.emitter.fire());
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!vscode.workspace.getConfiguration('coop').get<boolean>('codeLens', true)) return [];
    const title = this.title(doc.uri);
    if (!title) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    return [new vscode.CodeLens(top, { title, command: 'coop.showDetails', tooltip: 'Show owners, experts, history and related files' })];
  }

  private title(uri: vscode.Uri): string | undefined {
    const s = this.controller.current;
    const mine = s.kind !== 'none' && s.uri.toString() === uri.toString();
    if (mine && s.kind === 'ready') return lensText(s.info);
    if (mine && s.kind === 'loading') return 'Coop: loading owners…';
    if (mine && s.kind === 'error') return `Coop: ${s.advice.short}`;
    const info = this.controller.cached(uri);
    return info ? lensText(info) : undefined;
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}

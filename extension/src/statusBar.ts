/*
 * The status bar item: the active file's owners, a spinner while they
 * load, and a short reason (with the command that fixes it) when they
 * cannot be shown.
 */
import * as vscode from 'vscode';
import type { Controller, FileState } from './controller';
import { statusText, statusTooltip } from './format';

export interface StatusView {
  text: string;
  tooltip: string;
  command: string | undefined;
  visible: boolean;
  warning: boolean;
}

/** What the item shows for a state (pure, for tests). */
export function statusView(s: FileState, now: number = Date.now()): StatusView {
  switch (s.kind) {
    case 'none':
      return { text: '', tooltip: s.message, command: undefined, visible: false, warning: false };
    case 'loading':
      return { text: '$(sync~spin) Coop', tooltip: `Loading the owners of ${s.location.path}…`, command: undefined, visible: true, warning: false };
    case 'ready':
      return { text: `$(organization) ${statusText(s.info)}`, tooltip: statusTooltip(s.info, now), command: 'coop.showDetails', visible: true, warning: false };
    case 'error': {
      const signIn = s.error.kind === 'unauthorized' || s.error.kind === 'forbidden';
      return {
        text: `$(${signIn ? 'key' : 'warning'}) Coop: ${s.advice.short}`,
        tooltip: s.advice.message,
        command: signIn ? 'coop.signIn' : s.advice.actions.includes('openSettings') && s.error.kind === 'bad_request' ? 'coop.openSettings' : 'coop.refresh',
        visible: true,
        warning: s.error.kind !== 'not_found',
      };
    }
  }
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly sub: vscode.Disposable;

  constructor(controller: Controller) {
    this.item = vscode.window.createStatusBarItem('coop.owners', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'Coop owners';
    this.sub = controller.onDidChangeState((s) => this.render(s));
    this.render(controller.current);
  }

  render(s: FileState): void {
    const v = statusView(s);
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.command = v.command;
    this.item.backgroundColor = v.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    if (v.visible) this.item.show();
    else this.item.hide();
  }

  dispose(): void {
    this.sub.dispose();
    this.item.dispose();
  }
}

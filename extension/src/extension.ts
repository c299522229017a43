/*
 * Entry point: wires the git locator, the token store, the controller and
 * the views, and registers the commands. Activation does no network work;
 * the first request starts when a file is shown.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AskPanel } from './askPanel';
import { signIn, signOut, TokenStore } from './auth';
import { OwnersCodeLens } from './codeLens';
import { Controller } from './controller';
import { GitLocator } from './git';
import { StatusBar } from './statusBar';
import { FileTree, Node } from './tree';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const git = new GitLocator();
  const tokens = new TokenStore(context.secrets);
  const controller = new Controller(git, tokens);
  const tree = new FileTree(controller);
  const view = vscode.window.createTreeView<Node>('coop.file', { treeDataProvider: tree, showCollapseAll: true });
  tree.attach(view);
  const lens = new OwnersCodeLens(controller);
  const ask = new AskPanel(controller, git);

  context.subscriptions.push(
    git,
    tokens,
    controller,
    tree,
    view,
    lens,
    ask,
    new StatusBar(controller),
    vscode.languages.registerCodeLensProvider({ scheme: 'file' }, lens),
    vscode.commands.registerCommand('coop.signIn', () => signIn(tokens)),
    vscode.commands.registerCommand('coop.signOut', () => signOut(tokens)),
    vscode.commands.registerCommand('coop.refresh', () => controller.refresh()),
    vscode.commands.registerCommand('coop.askFile', () => ask.ask(false)),
    vscode.commands.registerCommand('coop.askSelection', () => ask.ask(true)),
    vscode.commands.registerCommand('coop.showDetails', () => vscode.commands.executeCommand('coop.file.focus')),
    vscode.commands.registerCommand('coop.openSettings', () => vscode.commands.executeCommand('workbench.action.openSettings', 'coop.serverUrl')),
    vscode.commands.registerCommand('coop.openCommit', (url: string) => openExternal(url)),
    vscode.commands.registerCommand('coop.openUrl', (url: string) => openExternal(url)),
    vscode.commands.registerCommand('coop.openRelated', (root: string, rel: string, line?: number) => openRelated(root, rel, line)),
  );

  if (!(await git.init())) {
    void vscode.window.showWarningMessage('Coop needs the built-in Git extension to find the repository of a file; it is disabled or missing.');
  }
  controller.showActive();
}

export function deactivate(): void {
  // Everything is released through context.subscriptions.
}

async function openExternal(url: string): Promise<void> {
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) return;
  await vscode.env.openExternal(vscode.Uri.parse(url));
}

async function openRelated(root: string, rel: string, line?: number): Promise<void> {
  if (typeof root !== 'string' || typeof rel !== 'string' || rel.split('/').includes('..')) return;
  const uri = vscode.Uri.file(path.join(root, ...rel.split('/')));
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    void vscode.window.showWarningMessage(`Coop: ${rel} is not in this checkout (deleted, renamed, or on another branch).`);
    return;
  }
  const options: vscode.TextDocumentShowOptions = {};
  if (typeof line === 'number' && line > 0) options.selection = new vscode.Range(line - 1, 0, line - 1, 0);
  await vscode.window.showTextDocument(uri, options);
}

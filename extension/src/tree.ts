/*
 * The sidebar ("Coop: This File"): Owners (the CODEOWNERS rule and line),
 * Experts (degree of authorship), Recent changes (each opens the commit on
 * its host), Related files (change coupling; each opens the file) and Pull
 * requests. The tree is computed from the controller's state by buildTree,
 * a pure function, and only converted to TreeItems here.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CodeownersMatch, CoopError } from './client';
import type { Controller, FileState } from './controller';
import { adviceFor } from './errors';
import type { FileInfo } from './fileInfo';
import { personDetail, relativeTime, shortSha } from './format';
import { commitUrl } from './remote';

export interface NodeCommand {
  command: string;
  title: string;
  arguments?: unknown[];
}

export interface Node {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  icon?: string;
  children?: Node[];
  command?: NodeCommand;
}

export function buildTree(s: FileState, now: number = Date.now()): Node[] {
  switch (s.kind) {
    case 'none':
      return [];
    case 'loading':
      return [{ id: 'loading', label: `Loading ${s.location.path}…`, icon: 'loading~spin' }];
    case 'error': {
      const nodes: Node[] = [{ id: 'error', label: s.advice.message, tooltip: s.advice.message, icon: 'warning' }];
      if (s.advice.actions.includes('signIn')) {
        nodes.push({ id: 'error/signin', label: 'Sign in to Coop…', icon: 'key', command: { command: 'coop.signIn', title: 'Sign In' } });
      }
      if (s.advice.actions.includes('retry')) {
        nodes.push({ id: 'error/retry', label: 'Retry', icon: 'refresh', command: { command: 'coop.refresh', title: 'Retry' } });
      }
      return nodes;
    }
    case 'ready':
      return [owners(s.info), experts(s.info, now), changes(s.info, now), related(s.info), pulls(s.info)];
  }
}

function section(id: string, label: string, icon: string, children: Node[], empty: string, count = true): Node {
  return {
    id,
    label,
    icon,
    description: count && children.length > 0 && children[0]!.id !== `${id}/error` ? String(children.length) : undefined,
    children: children.length > 0 ? children : [{ id: `${id}/empty`, label: empty, icon: 'circle-slash' }],
  };
}

function failed(id: string, e: CoopError): Node[] {
  const a = adviceFor(e);
  return [{ id: `${id}/error`, label: a.message, tooltip: a.message, icon: 'warning' }];
}

function openRule(info: FileInfo, m: CodeownersMatch): NodeCommand {
  return { command: 'coop.openRelated', title: 'Open CODEOWNERS', arguments: [info.location.root, m.file, m.line] };
}

function ruleNodes(info: FileInfo, m: CodeownersMatch, prefix: string): Node[] {
  const where = `${m.file}:${m.line}`;
  const rule = `${m.pattern}${m.section ? ` [${m.section}]` : ''}`;
  const nodes: Node[] = m.owners.map((o, i) => ({
    id: `${prefix}/${i}/${o}`,
    label: o,
    description: `${where} ${rule}`,
    tooltip: `CODEOWNERS rule "${m.pattern}" at ${where}${m.section ? `, section ${m.section}` : ''}`,
    icon: o.includes('/') ? 'organization' : 'person',
    command: openRule(info, m),
  }));
  if (nodes.length === 0) {
    nodes.push({ id: `${prefix}/none`, label: '(rule lists no owners)', description: `${where} ${rule}`, icon: 'circle-slash', command: openRule(info, m) });
  }
  return nodes;
}

function owners(info: FileInfo): Node {
  const o = info.owners;
  const sections = o.codeowners_sections ?? [];
  let children: Node[];
  if (sections.length > 1) {
    children = sections.flatMap((m, i) => ruleNodes(info, m, `owners/s${i}`));
  } else if (o.codeowners) {
    children = ruleNodes(info, o.codeowners, 'owners/rule');
  } else {
    children = [];
  }
  return section('owners', 'Owners', 'shield', children, 'No CODEOWNERS rule matches this file');
}

function experts(info: FileInfo, now: number): Node {
  const children = info.owners.authors.map((p, i) => ({
    id: `experts/${i}/${p.person}`,
    label: p.person,
    description: personDetail(p, now),
    tooltip: `Degree of authorship ${p.doa ?? '?'}: knows this file well`,
    icon: 'person',
  }));
  return section('experts', 'Experts', 'mortar-board', children, 'Nobody is above the authorship threshold');
}

function changes(info: FileInfo, now: number): Node {
  if (info.historyError) return section('changes', 'Recent changes', 'history', failed('changes', info.historyError), '');
  const commits = info.history?.commits ?? [];
  const children = commits.map((c) => ({
    id: `changes/${c.sha}`,
    label: c.message || shortSha(c.sha),
    description: `${c.author} · ${relativeTime(c.time, now)}${c.change && c.change !== 'M' ? ` · ${c.change}` : ''}`,
    tooltip: `${shortSha(c.sha)} ${c.message}\n${c.author}, ${c.time ?? ''}${c.old_path ? `\nrenamed from ${c.old_path}` : ''}\nClick to open the commit on ${info.location.remote.host}`,
    icon: 'git-commit',
    command: { command: 'coop.openCommit', title: 'Open Commit', arguments: [commitUrl(info.location.remote, c.sha)] },
  }));
  return section('changes', 'Recent changes', 'history', children, 'No recorded changes');
}

function related(info: FileInfo): Node {
  if (info.couplingError) return section('related', 'Related files', 'references', failed('related', info.couplingError), '');
  const files = info.coupling?.files ?? [];
  const children = files.map((f) => ({
    id: `related/${f.path}`,
    label: path.posix.basename(f.path),
    description: `${f.degree}% · ${f.shared} shared commit${f.shared === 1 ? '' : 's'} · ${path.posix.dirname(f.path)}`,
    tooltip: `${f.path}\nChanged together with this file in ${f.shared} commits (coupling ${f.degree}%)`,
    icon: 'file',
    command: { command: 'coop.openRelated', title: 'Open File', arguments: [info.location.root, f.path] },
  }));
  return section('related', 'Related files', 'references', children, 'No file changes with this one');
}

function pulls(info: FileInfo): Node {
  if (info.pullsError) return section('pulls', 'Pull requests', 'git-pull-request', failed('pulls', info.pullsError), '');
  const list = info.pulls?.pulls ?? [];
  const children = list.map((p) => {
    const reviewers = p.reviewers.map((r) => (typeof r === 'string' ? r : r.login)).filter(Boolean);
    return {
      id: `pulls/${p.number}`,
      label: `#${p.number} ${p.title}`,
      description: [p.state, p.author].filter(Boolean).join(' · '),
      tooltip: `${p.title}\n${p.state}${p.author ? ` by ${p.author}` : ''}${reviewers.length ? `\nreviewers: ${reviewers.join(', ')}` : ''}`,
      icon: p.state === 'merged' ? 'git-merge' : p.state === 'closed' ? 'git-pull-request-closed' : 'git-pull-request',
      command: p.url ? { command: 'coop.openUrl', title: 'Open Pull Request', arguments: [p.url] } : undefined,
    } as Node;
  });
  return section('pulls', 'Pull requests', 'git-pull-request', children, 'No pull request touches this file');
}

export function toTreeItem(n: Node): vscode.TreeItem {
  const item = new vscode.TreeItem(
    n.label,
    n.children ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
  );
  item.id = n.id;
  if (n.description !== undefined) item.description = n.description;
  if (n.tooltip !== undefined) item.tooltip = n.tooltip;
  if (n.icon) item.iconPath = new vscode.ThemeIcon(n.icon);
  if (n.command) item.command = n.command;
  return item;
}

export class FileTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  private readonly sub: vscode.Disposable;
  private roots: Node[] = [];
  private view: vscode.TreeView<Node> | undefined;
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly controller: Controller) {
    this.sub = controller.onDidChangeState((s) => this.update(s));
    this.update(controller.current);
  }

  attach(view: vscode.TreeView<Node>): void {
    this.view = view;
    this.describe(this.controller.current);
  }

  private update(s: FileState): void {
    this.roots = buildTree(s);
    this.describe(s);
    this.emitter.fire(undefined);
  }

  private describe(s: FileState): void {
    if (!this.view) return;
    this.view.description = s.kind === 'ready' ? s.info.location.path : s.kind === 'loading' || s.kind === 'error' ? s.location?.path : undefined;
    this.view.message = s.kind === 'none' ? s.message : undefined;
  }

  getTreeItem(n: Node): vscode.TreeItem {
    return toTreeItem(n);
  }

  getChildren(n?: Node): Node[] {
    return n ? (n.children ?? []) : this.roots;
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }
}

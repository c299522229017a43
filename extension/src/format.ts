/*
 * The words the views show: who owns a file, how long ago something
 * happened, one line per commit or pull request. Pure, so the status bar,
 * the CodeLens and the sidebar say the same thing and tests can read it.
 */
import type { FileInfo } from './fileInfo';
import type { Person } from './client';

/** "just now", "5 minutes ago", "2 days ago", "3 months ago", "2 years ago". */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'at an unknown time';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'at an unknown time';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  const units: Array<[number, string]> = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [30, 'day'],
    [12, 'month'],
    [Number.POSITIVE_INFINITY, 'year'],
  ];
  if (s < 45) return 'just now';
  let value = s;
  for (const [size, name] of units) {
    if (value < size) {
      const n = Math.max(1, Math.floor(value));
      return `${n} ${name}${n === 1 ? '' : 's'} ago`;
    }
    value /= size;
  }
  return 'long ago';
}

/** The owners to name: CODEOWNERS entries first, else the top DOA authors. */
export function ownerNames(info: FileInfo, max = 3): { names: string[]; more: number; source: 'codeowners' | 'authors' | 'none' } {
  const co = info.owners.codeowners?.owners ?? [];
  if (co.length > 0) return { names: co.slice(0, max), more: Math.max(0, co.length - max), source: 'codeowners' };
  const authors = info.owners.authors.map((a) => a.person);
  if (authors.length > 0) {
    return { names: authors.slice(0, max), more: Math.max(0, authors.length - max), source: 'authors' };
  }
  return { names: [], more: 0, source: 'none' };
}

function joinNames(names: string[], more: number): string {
  return names.join(', ') + (more > 0 ? ` +${more}` : '');
}

/** Status bar text (without the icon). */
export function statusText(info: FileInfo): string {
  const o = ownerNames(info, 2);
  if (o.source === 'none') return 'no owners';
  return joinNames(o.names, o.more);
}

/** Status bar hover: a few lines of plain text. */
export function statusTooltip(info: FileInfo, now: number = Date.now()): string {
  const lines = [`Coop · ${info.location.repoId}`, info.location.path];
  const co = info.owners.codeowners;
  if (co) {
    lines.push(`CODEOWNERS ${co.file}:${co.line} ${co.pattern} → ${co.owners.join(', ') || '(no owners)'}`);
  } else {
    lines.push('No CODEOWNERS rule matches this file.');
  }
  const authors = info.owners.authors;
  if (authors.length > 0) lines.push(`Experts: ${authors.map((a) => a.person).join(', ')}`);
  const last = info.history?.commits[0];
  if (last) lines.push(`Last changed ${relativeTime(last.time, now)} by ${last.author}`);
  lines.push('Click for details');
  return lines.join('\n');
}

/** CodeLens title: "owned by @a, @b · 3 authors · last changed 2 days ago by Ada". */
export function lensText(info: FileInfo, now: number = Date.now()): string {
  const parts: string[] = [];
  const o = ownerNames(info, 3);
  if (o.source === 'codeowners') parts.push(`owned by ${joinNames(o.names, o.more)}`);
  else if (o.source === 'authors') parts.push(`experts ${joinNames(o.names, o.more)}`);
  else parts.push('no owners');
  const n = authorCount(info);
  if (n > 0) parts.push(`${n} author${n === 1 ? '' : 's'}`);
  const last = info.history?.commits[0];
  if (last) parts.push(`last changed ${relativeTime(last.time, now)} by ${last.author}`);
  return parts.join(' · ');
}

/** People who changed the file: DOA authors plus recent contributors, each once. */
export function authorCount(info: FileInfo): number {
  const names = new Set<string>();
  for (const p of info.owners.authors) names.add(p.person);
  for (const p of info.owners.recent_contributors) names.add(p.person);
  return names.size;
}

export function personDetail(p: Person, now: number = Date.now()): string {
  const bits: string[] = [];
  if (typeof p.doa === 'number') bits.push(`DOA ${p.doa.toFixed(2)}`);
  if (typeof p.commits === 'number') bits.push(`${p.commits} change${p.commits === 1 ? '' : 's'}`);
  if (p.last_change) bits.push(`last ${relativeTime(p.last_change, now)}`);
  if (p.first_author) bits.push('created it');
  return bits.join(' · ');
}

export function shortSha(sha: string): string {
  return sha.slice(0, 8);
}

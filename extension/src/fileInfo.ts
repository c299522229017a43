/*
 * Everything the views show about one file, fetched in parallel. Owners
 * decide whether the file is known at all (their failure is the file's
 * failure); history, coupling and pull requests fail on their own, so one
 * slow or missing endpoint leaves the rest visible.
 */
import { CoopClient, CoopError, CouplingResponse, HistoryResponse, OwnersResponse, PullsResponse } from './client';
import type { RemoteInfo } from './remote';

export interface FileLocation {
  /** Coop's repository id, HOST/PATH. */
  repoId: string;
  /** Path inside the repository, forward slashes. */
  path: string;
  remote: RemoteInfo;
  /** Repository root on disk. */
  root: string;
}

export interface FileInfo {
  location: FileLocation;
  owners: OwnersResponse;
  history: HistoryResponse | undefined;
  historyError: CoopError | undefined;
  coupling: CouplingResponse | undefined;
  couplingError: CoopError | undefined;
  pulls: PullsResponse | undefined;
  pullsError: CoopError | undefined;
  loadedAt: number;
}

export interface LoadOptions {
  historyLimit: number;
  couplingLimit: number;
}

export function toCoopError(e: unknown): CoopError {
  if (e instanceof CoopError) return e;
  return new CoopError('bad_response', e instanceof Error ? e.message : String(e));
}

async function settle<T>(p: Promise<T>): Promise<[T | undefined, CoopError | undefined]> {
  try {
    return [await p, undefined];
  } catch (e) {
    return [undefined, toCoopError(e)];
  }
}

export async function loadFileInfo(
  client: CoopClient,
  location: FileLocation,
  opts: LoadOptions,
  signal?: AbortSignal,
): Promise<FileInfo> {
  const { repoId, path } = location;
  const owners = client.owners(repoId, path, signal);
  const history = settle(client.history(repoId, path, opts.historyLimit, undefined, signal));
  const coupling = settle(client.coupling(repoId, path, opts.couplingLimit, signal));
  const pulls = settle(client.pulls(repoId, path, 'all', signal));
  let ownersValue: OwnersResponse;
  try {
    ownersValue = await owners;
  } catch (e) {
    // Let the others finish quietly; their answers are not needed now.
    void Promise.all([history, coupling, pulls]);
    throw toCoopError(e);
  }
  const [h, he] = await history;
  const [c, ce] = await coupling;
  const [p, pe] = await pulls;
  return {
    location,
    owners: ownersValue,
    history: h,
    historyError: he,
    coupling: c,
    couplingError: ce,
    pulls: p,
    pullsError: pe,
    loadedAt: Date.now(),
  };
}

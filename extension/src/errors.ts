/*
 * What to tell the user about a failed request, and what to offer: sign
 * in after a 401, settings when the server cannot be reached, nothing to
 * do but wait when the repository is not indexed yet.
 */
import type { CoopError } from './client';
import type { FileLocation } from './fileInfo';

export type ErrorAction = 'signIn' | 'openSettings' | 'retry';

export interface ErrorAdvice {
  /** One or two sentences for a notification or a view. */
  message: string;
  /** Short form for the status bar. */
  short: string;
  actions: ErrorAction[];
  /** Worth a notification (the user can act) rather than only a quiet state. */
  notify: boolean;
}

/** True when a 404 is about the repository rather than the path. */
export function isUnknownRepo(e: CoopError): boolean {
  if (e.kind !== 'not_found') return false;
  return !/\bpath\b/i.test(e.message);
}

export function adviceFor(e: CoopError, loc?: FileLocation): ErrorAdvice {
  const rid = e.requestId ? ` (request ${e.requestId})` : '';
  switch (e.kind) {
    case 'offline':
    case 'timeout':
      return {
        message: `${e.message}`,
        short: 'offline',
        actions: ['retry', 'openSettings'],
        notify: true,
      };
    case 'unauthorized':
      return {
        message: 'The Coop server did not accept your token (401). Sign in with a valid API token.',
        short: 'sign in',
        actions: ['signIn'],
        notify: true,
      };
    case 'forbidden':
      return {
        message: `Your Coop token lacks the permission for this (403): ${e.message}${rid}`,
        short: 'not allowed',
        actions: ['signIn'],
        notify: true,
      };
    case 'not_found':
      if (loc && isUnknownRepo(e)) {
        return {
          message: `${loc.repoId} is not indexed by this Coop server yet. Ask an administrator to connect its webhooks or run coopd import.`,
          short: 'not indexed',
          actions: ['retry'],
          notify: false,
        };
      }
      if (loc) {
        return {
          message: `${loc.path} is not in Coop's history of ${loc.repoId} yet (new, or not yet on the default branch).`,
          short: 'not in history',
          actions: ['retry'],
          notify: false,
        };
      }
      return { message: `${e.message}${rid}`, short: 'not found', actions: ['retry'], notify: false };
    case 'rate_limited':
      return { message: `The Coop server is busy (429); try again shortly.${rid}`, short: 'busy', actions: ['retry'], notify: false };
    case 'cancelled':
      return { message: 'Cancelled.', short: 'cancelled', actions: [], notify: false };
    case 'bad_request':
    case 'server':
    case 'bad_response':
      return { message: `Coop: ${e.message}${rid}`, short: 'error', actions: ['retry'], notify: true };
  }
}

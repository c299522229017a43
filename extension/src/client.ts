/*
 * The Coop server's HTTP API (DESIGN.md section 4), and the only place the
 * extension talks to it. Every failure becomes a CoopError whose kind says
 * what the user can do about it (sign in, wait for indexing, start the
 * server); the token goes only into the Authorization header and never
 * into an error, a message or a log.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { SseParser } from './sse';

export type ErrorKind =
  | 'offline' // nothing answers at the address (refused, unreachable, DNS)
  | 'timeout'
  | 'unauthorized' // 401: no token, or the server does not know it
  | 'forbidden' // 403: the token lacks the scope
  | 'not_found' // 404
  | 'bad_request' // 400, 413, 422
  | 'rate_limited' // 429
  | 'server' // 5xx
  | 'bad_response' // the answer is not what the API documents
  | 'cancelled';

export class CoopError extends Error {
  readonly kind: ErrorKind;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly requestId: string | undefined;

  constructor(kind: ErrorKind, message: string, extra: { status?: number; code?: string; requestId?: string } = {}) {
    super(message);
    this.name = 'CoopError';
    this.kind = kind;
    this.status = extra.status;
    this.code = extra.code;
    this.requestId = extra.requestId;
  }
}

export interface Person {
  person: string;
  person_id?: number;
  commits?: number;
  last_change?: string | null;
  doa?: number;
  first_author?: boolean;
  files?: number;
}

export interface CodeownersMatch {
  file: string;
  line: number;
  pattern: string;
  owners: string[];
  section?: string | null;
  optional?: boolean;
  approvals?: number;
}

export interface OwnersResponse {
  path: string;
  type?: 'file' | 'directory';
  codeowners: CodeownersMatch | null;
  codeowners_sections?: CodeownersMatch[];
  authors: Person[];
  recent_contributors: Person[];
  revisions?: number;
}

export interface Commit {
  sha: string;
  author: string;
  time: string | null;
  message: string;
  change: string;
  path?: string;
  old_path?: string;
}

export interface HistoryResponse {
  commits: Commit[];
  next_cursor: string | null;
}

export interface CoupledFile {
  path: string;
  shared: number;
  degree: number;
  revisions?: number;
}

export interface CouplingResponse {
  files: CoupledFile[];
}

export interface Reviewer {
  login: string;
  state?: string;
}

export interface Pull {
  number: number;
  title: string;
  state: string;
  author: string | null;
  reviewers: Array<Reviewer | string>;
  url: string | null;
  updated_at?: string | null;
}

export interface PullsResponse {
  pulls: Pull[];
}

export interface TruckFactorResponse {
  truck_factor: number;
  authors: Person[];
  files: number;
}

export interface Repo {
  id: string;
  default_branch: string | null;
  commits: number;
  last_event_at: string | null;
}

export interface ReposResponse {
  repos: Repo[];
}

export interface AskRequest {
  repo: string;
  path: string;
  question: string;
  code?: string;
  model?: string;
}

export interface AskResult {
  text: string;
  model: string | undefined;
  requestId: string | undefined;
  finishReason: string | undefined;
}

export interface ClientOptions {
  /** Server base URL, already vetted by checkServerUrl (ends with "/"). */
  baseUrl: URL;
  /** Called for every request; undefined sends no Authorization header. */
  token: () => Promise<string | undefined> | string | undefined;
  /** Whole-request limit for JSON calls. */
  timeoutMs?: number;
  /** Longest silence allowed inside an /v1/ask stream. */
  streamIdleMs?: number;
  userAgent?: string;
}

/** Largest JSON answer accepted (the API's answers are a few KB). */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
]);

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class CoopClient {
  private readonly opts: Required<Omit<ClientOptions, 'userAgent'>> & { userAgent: string };

  constructor(opts: ClientOptions) {
    this.opts = {
      timeoutMs: 15000,
      streamIdleMs: 120000,
      userAgent: 'coop-vscode',
      ...opts,
    };
  }

  get baseUrl(): URL {
    return this.opts.baseUrl;
  }

  repos(signal?: AbortSignal): Promise<ReposResponse> {
    return this.getJson('v1/repos', {}, signal, (o) => isArray(o, 'repos'));
  }

  owners(repo: string, path: string, signal?: AbortSignal): Promise<OwnersResponse> {
    return this.getJson<OwnersResponse>('v1/owners', { repo, path }, signal, (o) => isArray(o, 'authors')).then((r) => ({
      ...r,
      codeowners: r.codeowners ?? null,
      recent_contributors: Array.isArray(r.recent_contributors) ? r.recent_contributors : [],
    }));
  }

  history(repo: string, path: string, limit: number, cursor?: string, signal?: AbortSignal): Promise<HistoryResponse> {
    const q: Record<string, string> = { repo, path, limit: String(limit) };
    if (cursor) q.cursor = cursor;
    return this.getJson<HistoryResponse>('v1/history', q, signal, (o) => isArray(o, 'commits')).then((r) => ({
      ...r,
      next_cursor: r.next_cursor ?? null,
    }));
  }

  coupling(repo: string, path: string, limit: number, signal?: AbortSignal): Promise<CouplingResponse> {
    return this.getJson('v1/coupling', { repo, path, limit: String(limit) }, signal, (o) => isArray(o, 'files'));
  }

  pulls(repo: string, path: string, state?: string, signal?: AbortSignal): Promise<PullsResponse> {
    const q: Record<string, string> = { repo, path };
    if (state) q.state = state;
    return this.getJson('v1/pulls', q, signal, (o) => isArray(o, 'pulls'));
  }

  truckFactor(repo: string, path?: string, signal?: AbortSignal): Promise<TruckFactorResponse> {
    const q: Record<string, string> = { repo };
    if (path) q.path = path;
    return this.getJson('v1/truck-factor', q, signal, (o) => typeof o.truck_factor === 'number');
  }

  /**
   * Asks about a file and streams the answer: onText gets each piece as it
   * arrives. Aborting the signal closes the connection (the server stops
   * the provider call) and rejects with kind "cancelled".
   */
  async ask(req: AskRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<AskResult> {
    const body = JSON.stringify({ ...req, stream: true });
    let text = '';
    let model: string | undefined;
    let finishReason: string | undefined;
    let failure: CoopError | undefined;
    let done = false;
    const parser = new SseParser();
    const onEvent = (event: string, data: string) => {
      if (done || failure) return;
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let obj: unknown;
      try {
        obj = JSON.parse(data);
      } catch {
        failure = new CoopError('bad_response', 'The server sent a stream event that is not JSON.');
        return;
      }
      const err = errorOf(obj);
      if (err || event === 'error') {
        failure = new CoopError(err?.kind ?? 'server', err?.message ?? 'The answer stopped with an error.', {
          code: err?.code,
          requestId: err?.requestId,
        });
        return;
      }
      const piece = deltaText(obj);
      if (piece) {
        text += piece;
        onText(piece);
      }
      const rec = obj as Record<string, unknown>;
      if (typeof rec.model === 'string') model = rec.model;
      const fr = finishOf(obj);
      if (fr) finishReason = fr;
    };
    const feed = (events: () => { event: string; data: string }[]) => {
      try {
        for (const ev of events()) onEvent(ev.event, ev.data);
      } catch {
        failure ??= new CoopError('bad_response', 'The server sent a malformed event stream.');
      }
    };
    const res = await this.send('POST', 'v1/ask', {}, body, 'text/event-stream', signal, (chunk) => {
      feed(() => parser.push(chunk));
    });
    feed(() => parser.end());
    const requestId = headerOf(res.headers, 'x-request-id');
    if (res.body) {
      // The server answered in one JSON document (not a stream).
      let obj: unknown;
      try {
        obj = JSON.parse(res.body);
      } catch {
        throw new CoopError('bad_response', 'The server answered /v1/ask with something that is not JSON.', {
          status: res.status,
          requestId,
        });
      }
      const whole = messageText(obj);
      if (whole === undefined) {
        throw new CoopError('bad_response', 'The server answered /v1/ask without an answer text.', { requestId });
      }
      onText(whole);
      const rec = obj as Record<string, unknown>;
      return { text: whole, model: typeof rec.model === 'string' ? rec.model : undefined, requestId, finishReason: finishOf(obj) };
    }
    if (failure) {
      throw new CoopError(failure.kind, failure.message, {
        code: failure.code,
        requestId: failure.requestId ?? requestId,
      });
    }
    return { text, model, requestId, finishReason };
  }

  private async getJson<T>(
    path: string,
    query: Record<string, string>,
    signal: AbortSignal | undefined,
    valid: (o: Record<string, unknown>) => boolean,
  ): Promise<T> {
    const res = await this.send('GET', path, query, undefined, 'application/json', signal);
    let obj: unknown;
    try {
      obj = JSON.parse(res.body);
    } catch {
      throw new CoopError('bad_response', `The server's answer to /${path} is not JSON.`, {
        status: res.status,
        requestId: headerOf(res.headers, 'x-request-id'),
      });
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj) || !valid(obj as Record<string, unknown>)) {
      throw new CoopError('bad_response', `The server's answer to /${path} does not have the documented shape.`, {
        status: res.status,
        requestId: headerOf(res.headers, 'x-request-id'),
      });
    }
    return obj as T;
  }

  /**
   * One request. A 2xx answer resolves; its body is returned whole unless
   * it is an event stream and onStream is given, in which case chunks go
   * there and body is "". Anything else rejects with a CoopError.
   */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, string>,
    body: string | undefined,
    accept: string,
    signal: AbortSignal | undefined,
    onStream?: (chunk: string) => void,
  ): Promise<RawResponse> {
    if (signal?.aborted) throw new CoopError('cancelled', 'Cancelled.');
    const url = new URL(path, this.opts.baseUrl);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const token = await this.opts.token();
    const headers: http.OutgoingHttpHeaders = {
      Accept: accept,
      'User-Agent': this.opts.userAgent,
    };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    try {
      return await this.attempt(method, url, headers, body, signal, onStream, method === 'GET' ? undefined : false);
    } catch (e) {
      // A kept-alive connection the server has already closed fails at
      // once with a reset; an idempotent GET is worth one fresh try.
      if (e instanceof RetryableReset && method === 'GET') {
        return this.attempt(method, url, headers, body, signal, onStream, false);
      }
      throw e instanceof RetryableReset ? e.error : e;
    }
  }

  private attempt(
    method: 'GET' | 'POST',
    url: URL,
    headers: http.OutgoingHttpHeaders,
    body: string | undefined,
    signal: AbortSignal | undefined,
    onStream: ((chunk: string) => void) | undefined,
    agent: false | undefined,
  ): Promise<RawResponse> {
    const mod = url.protocol === 'https:' ? https : http;
    const where = url.host;

    return new Promise<RawResponse>((resolve, reject) => {
      let answered = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: CoopError | RetryableReset | undefined, res?: RawResponse) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res!);
      };
      const req = mod.request(url, agent === false ? { method, headers, agent: false } : { method, headers });
      const onAbort = () => {
        finish(new CoopError('cancelled', 'Cancelled.'));
        req.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const arm = (ms: number, what: string) => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          finish(new CoopError('timeout', `The Coop server at ${where} did not answer within ${Math.round(ms / 1000)} s (${what}).`));
          req.destroy();
        }, ms);
      };
      arm(this.opts.timeoutMs, 'waiting for an answer');

      req.on('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        const reused = (req as unknown as { reusedSocket?: boolean }).reusedSocket === true;
        if (!answered && reused && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
          finish(new RetryableReset(new CoopError('offline', `The connection to ${where} was reset (${e.code}).`)));
        } else if (e.code && NETWORK_CODES.has(e.code)) {
          finish(new CoopError('offline', `Cannot reach the Coop server at ${where} (${e.code}). Is it running, and is coop.serverUrl right?`));
        } else if (e.code && /CERT|SSL|TLS/.test(e.code)) {
          finish(new CoopError('offline', `The TLS certificate of ${where} was refused (${e.code}).`));
        } else {
          finish(new CoopError('offline', `Request to the Coop server at ${where} failed: ${e.message}`));
        }
      });
      req.on('response', (res) => {
        answered = true;
        const status = res.statusCode ?? 0;
        const ctype = String(res.headers['content-type'] ?? '');
        const streaming = onStream !== undefined && status >= 200 && status < 300 && ctype.startsWith('text/event-stream');
        if (streaming) arm(this.opts.streamIdleMs, 'the answer stalled');
        res.setEncoding('utf8');
        const parts: string[] = [];
        let size = 0;
        res.on('data', (chunk: string) => {
          if (settled) return;
          if (streaming) {
            arm(this.opts.streamIdleMs, 'the answer stalled');
            onStream!(chunk);
            return;
          }
          size += Buffer.byteLength(chunk);
          if (size > MAX_JSON_BYTES) {
            finish(new CoopError('bad_response', `The answer from ${where} is larger than ${MAX_JSON_BYTES} bytes.`));
            req.destroy();
            return;
          }
          parts.push(chunk);
        });
        res.on('error', () => finish(new CoopError('offline', `The connection to ${where} broke during the answer.`)));
        res.on('aborted', () => finish(new CoopError('offline', `The connection to ${where} broke during the answer.`)));
        res.on('end', () => {
          const text = parts.join('');
          if (status >= 200 && status < 300) {
            finish(undefined, { status, headers: res.headers, body: text });
          } else {
            finish(httpError(status, res.headers, text, where));
          }
        });
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

/** A request that failed on a reused, already closed connection before any answer. */
class RetryableReset {
  constructor(readonly error: CoopError) {}
}

function isArray(o: Record<string, unknown>, key: string): boolean {
  return Array.isArray(o[key]);
}

function headerOf(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  if (status >= 400) return 'bad_request';
  return 'bad_response';
}

/** The API's error document {"error":{"code","message","request_id"}}, if obj is one. */
function errorOf(obj: unknown): { kind: ErrorKind; code?: string; message?: string; requestId?: string } | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const e = (obj as Record<string, unknown>).error;
  if (!e || typeof e !== 'object') return undefined;
  const r = e as Record<string, unknown>;
  const code = typeof r.code === 'string' ? r.code : undefined;
  const status = typeof r.status === 'number' ? r.status : undefined;
  return {
    kind: status ? kindOfStatus(status) : 'server',
    code,
    message: typeof r.message === 'string' ? r.message : undefined,
    requestId: typeof r.request_id === 'string' ? r.request_id : undefined,
  };
}

function httpError(status: number, headers: http.IncomingHttpHeaders, body: string, where: string): CoopError {
  let code: string | undefined;
  let message: string | undefined;
  let requestId = headerOf(headers, 'x-request-id');
  try {
    const e = errorOf(JSON.parse(body));
    code = e?.code;
    message = e?.message;
    requestId = e?.requestId ?? requestId;
  } catch {
    // Not the API's error document (a proxy's page, say): the status speaks.
  }
  const text = message ?? `The Coop server at ${where} answered HTTP ${status}.`;
  return new CoopError(kindOfStatus(status), text, { status, code, requestId });
}

/** Text of one streamed chunk: OpenAI chunk format, or a bare {"delta"|"text"|"content"}. */
function deltaText(obj: unknown): string {
  if (!obj || typeof obj !== 'object') return '';
  const r = obj as Record<string, unknown>;
  const choices = r.choices;
  if (Array.isArray(choices) && choices.length > 0) {
    const c = choices[0] as Record<string, unknown> | undefined;
    const d = c?.delta as Record<string, unknown> | undefined;
    if (d && typeof d.content === 'string') return d.content;
    const m = c?.message as Record<string, unknown> | undefined;
    if (m && typeof m.content === 'string') return m.content;
    if (c && typeof c.text === 'string') return c.text;
    return '';
  }
  for (const key of ['delta', 'text', 'content']) {
    if (typeof r[key] === 'string') return r[key] as string;
  }
  return '';
}

function messageText(obj: unknown): string | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const r = obj as Record<string, unknown>;
  if (typeof r.answer === 'string') return r.answer;
  const choices = r.choices;
  if (Array.isArray(choices) && choices.length > 0) {
    const m = (choices[0] as Record<string, unknown> | undefined)?.message as Record<string, unknown> | undefined;
    if (m && typeof m.content === 'string') return m.content;
  }
  return undefined;
}

function finishOf(obj: unknown): string | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const choices = (obj as Record<string, unknown>).choices;
  if (Array.isArray(choices) && choices.length > 0) {
    const f = (choices[0] as Record<string, unknown> | undefined)?.finish_reason;
    if (typeof f === 'string') return f;
  }
  return undefined;
}

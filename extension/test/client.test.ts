/*
 * The API client against a local HTTP server that plays coopd: documented
 * answers, the error document, 401, 404, a dead port, a stalled server,
 * a streamed /v1/ask, cancellation, and the token staying out of errors.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CoopClient, CoopError } from '../src/client';

const TOKEN = 'coop_test_token_5f2b9c';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

let server: http.Server;
let base: URL;
const seen: Seen[] = [];
let askMode: 'stream' | 'json' | 'stream-error' | 'slow' = 'stream';
const openStreams = new Set<http.ServerResponse>();
let closedStreams = 0;

function error(res: http.ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'X-Request-Id': 'req-1' });
  res.end(JSON.stringify({ error: { code, message, request_id: 'req-1' } }));
}

function json(res: http.ServerResponse, body: unknown) {
  res.writeHead(200, { 'Content-Type': 'application/json', 'X-Request-Id': 'req-2' });
  res.end(JSON.stringify(body));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return error(res, 401, 'unauthorized', 'missing or unknown token');
      const repo = url.searchParams.get('repo');
      switch (url.pathname) {
        case '/v1/repos':
          return json(res, { repos: [{ id: 'github.com/o/r', default_branch: 'main', commits: 3, last_event_at: null }] });
        case '/v1/owners':
          if (repo !== 'github.com/o/r') return error(res, 404, 'not_found', 'unknown repository');
          if (url.searchParams.get('path') !== 'src/a.c') return error(res, 404, 'not_found', 'unknown path in this repository');
          return json(res, {
            path: 'src/a.c',
            type: 'file',
            codeowners: { file: '.github/CODEOWNERS', line: 3, pattern: '/src/', owners: ['@o/core'], section: null },
            authors: [{ person: 'Ada', person_id: 1, commits: 4, last_change: '2026-11-27T10:00:00Z', doa: 4.1, first_author: true }],
            recent_contributors: [],
            revisions: 4,
          });
        case '/v1/history':
          return json(res, { commits: [{ sha: 'abc', author: 'Ada', time: '2026-11-27T10:00:00Z', message: 'fix', change: 'M' }], next_cursor: null });
        case '/v1/coupling':
          return json(res, { files: [{ path: 'src/a.h', shared: 3, degree: 75 }] });
        case '/v1/pulls':
          return json(res, { pulls: 'not a list' });
        case '/v1/truck-factor':
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end('{"truck_factor": 1, "authors": [], "files": 2');
        case '/v1/ask':
          return ask(res, body);
        default:
          return error(res, 404, 'not_found', 'no such route');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  for (const s of openStreams) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

function chunk(text: string) {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'openai/gpt-4o-mini', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`;
}

function ask(res: http.ServerResponse, body: string) {
  const req = JSON.parse(body) as { question?: string };
  if (!req.question) return error(res, 400, 'bad_request', 'question is required');
  if (askMode === 'json') {
    return json(res, { model: 'openai/gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Whole answer.' }, finish_reason: 'stop' }] });
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Request-Id': 'req-ask' });
  if (askMode === 'slow') {
    openStreams.add(res);
    res.on('close', () => {
      closedStreams++;
      openStreams.delete(res);
    });
    res.write(': keep-alive\n\n');
    res.write(chunk('Thinking'));
    return;
  }
  res.write(': keep-alive\n\n');
  res.write(chunk('Ada owns '));
  res.write(chunk('this file.').slice(0, 20));
  res.write(chunk('this file.').slice(20));
  if (askMode === 'stream-error') {
    res.write(`event: error\ndata: ${JSON.stringify({ error: { code: 'upstream_error', message: 'the provider failed', request_id: 'req-ask' } })}\n\n`);
    return res.end();
  }
  res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  res.write('data: [DONE]\n\n');
  res.end();
}

function client(token: string | undefined = TOKEN, extra: Partial<ConstructorParameters<typeof CoopClient>[0]> = {}) {
  return new CoopClient({ baseUrl: base, token: () => token, ...extra });
}

async function failure(p: Promise<unknown>): Promise<CoopError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CoopError);
    return e as CoopError;
  }
  throw new Error('expected a failure');
}

describe('CoopClient', () => {
  test('owners: query parameters, bearer token, documented shape', async () => {
    const r = await client().owners('github.com/o/r', 'src/a.c');
    expect(r.codeowners?.owners).toEqual(['@o/core']);
    expect(r.authors[0]?.person).toBe('Ada');
    const last = seen[seen.length - 1]!;
    expect(last.url).toBe('/v1/owners?repo=github.com%2Fo%2Fr&path=src%2Fa.c');
    expect(last.auth).toBe(`Bearer ${TOKEN}`);
  });

  test('history, coupling, repos', async () => {
    const c = client();
    expect((await c.history('github.com/o/r', 'src/a.c', 5)).commits[0]?.sha).toBe('abc');
    expect(seen[seen.length - 1]!.url).toContain('limit=5');
    expect((await c.coupling('github.com/o/r', 'src/a.c', 10)).files[0]?.degree).toBe(75);
    expect((await c.repos()).repos[0]?.id).toBe('github.com/o/r');
  });

  test('401 is unauthorized, and the token is in no error text', async () => {
    const e = await failure(client('wrong-token-xyz').owners('github.com/o/r', 'src/a.c'));
    expect(e.kind).toBe('unauthorized');
    expect(e.status).toBe(401);
    expect(e.requestId).toBe('req-1');
    expect(JSON.stringify({ ...e, message: e.message })).not.toContain('wrong-token-xyz');
  });

  test('no token sends no Authorization header', async () => {
    const e = await failure(new CoopClient({ baseUrl: base, token: () => undefined }).repos());
    expect(e.kind).toBe('unauthorized');
    expect(seen[seen.length - 1]!.auth).toBeUndefined();
  });

  test('404: unknown repository and unknown path keep the server message', async () => {
    const repo = await failure(client().owners('github.com/o/none', 'x'));
    expect([repo.kind, repo.code, repo.message]).toEqual(['not_found', 'not_found', 'unknown repository']);
    const path = await failure(client().owners('github.com/o/r', 'nope.c'));
    expect(path.message).toBe('unknown path in this repository');
  });

  test('answers that break the contract are bad_response', async () => {
    expect((await failure(client().pulls('github.com/o/r', 'src/a.c'))).kind).toBe('bad_response');
    expect((await failure(client().truckFactor('github.com/o/r'))).kind).toBe('bad_response');
  });

  test('a closed port is offline, with the address and no token', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const c = new CoopClient({ baseUrl: new URL(`http://127.0.0.1:${port}/`), token: () => TOKEN });
    const e = await failure(c.repos());
    expect(e.kind).toBe('offline');
    expect(e.message).toContain(`127.0.0.1:${port}`);
    expect(e.message).not.toContain(TOKEN);
  });

  test('a server that never answers times out', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const c = new CoopClient({ baseUrl: new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`), token: () => TOKEN, timeoutMs: 200 });
    expect((await failure(c.repos())).kind).toBe('timeout');
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  test('ask streams the answer piece by piece', async () => {
    askMode = 'stream';
    const pieces: string[] = [];
    const r = await client().ask({ repo: 'github.com/o/r', path: 'src/a.c', question: 'Who owns it?', code: 'int a;' }, (t) => pieces.push(t));
    expect(pieces).toEqual(['Ada owns ', 'this file.']);
    expect(r).toMatchObject({ text: 'Ada owns this file.', model: 'openai/gpt-4o-mini', requestId: 'req-ask', finishReason: 'stop' });
    const sent = JSON.parse(seen[seen.length - 1]!.body);
    expect(sent).toEqual({ repo: 'github.com/o/r', path: 'src/a.c', question: 'Who owns it?', code: 'int a;', stream: true });
  });

  test('ask accepts a whole JSON answer too', async () => {
    askMode = 'json';
    const pieces: string[] = [];
    const r = await client().ask({ repo: 'github.com/o/r', path: 'src/a.c', question: 'q' }, (t) => pieces.push(t));
    expect([r.text, pieces]).toEqual(['Whole answer.', ['Whole answer.']]);
  });

  test('an error event inside the stream rejects with the server message', async () => {
    askMode = 'stream-error';
    const e = await failure(client().ask({ repo: 'github.com/o/r', path: 'src/a.c', question: 'q' }, () => undefined));
    expect([e.code, e.message, e.requestId]).toEqual(['upstream_error', 'the provider failed', 'req-ask']);
  });

  test('ask errors before the stream: 400 with its message', async () => {
    const e = await failure(client().ask({ repo: 'github.com/o/r', path: 'src/a.c', question: '' }, () => undefined));
    expect([e.kind, e.message]).toEqual(['bad_request', 'question is required']);
  });

  test('cancelling closes the stream', async () => {
    askMode = 'slow';
    const ac = new AbortController();
    const before = closedStreams;
    const pieces: string[] = [];
    const p = client().ask({ repo: 'github.com/o/r', path: 'src/a.c', question: 'q' }, (t) => {
      pieces.push(t);
      ac.abort();
    }, ac.signal);
    expect((await failure(p)).kind).toBe('cancelled');
    expect(pieces).toEqual(['Thinking']);
    for (let i = 0; i < 100 && closedStreams === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closedStreams).toBe(before + 1);
  });

  test('a stream that goes silent times out', async () => {
    askMode = 'slow';
    const e = await failure(client(TOKEN, { streamIdleMs: 200 }).ask({ repo: 'github.com/o/r', path: 'src/a.c', question: 'q' }, () => undefined));
    expect(e.kind).toBe('timeout');
  });
});


import { describe, expect, test } from 'vitest';
import { SseParser } from '../src/sse';

describe('SseParser', () => {
  test('events across arbitrary chunk boundaries and line endings', () => {
    const stream = ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\nevent: error\ndata: x\ndata: y\n\ndata:z\r\r';
    for (let step = 1; step <= stream.length; step++) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < stream.length; i += step) got.push(...p.push(stream.slice(i, i + step)));
      got.push(...p.end());
      expect(got).toEqual([
        { event: 'message', data: '{"a":1}' },
        { event: 'error', data: 'x\ny' },
        { event: 'message', data: 'z' },
      ]);
    }
  });

  test('a last event without its blank line counts at the end', () => {
    const p = new SseParser();
    expect(p.push('data: [DONE]')).toEqual([]);
    expect(p.end()).toEqual([{ event: 'message', data: '[DONE]' }]);
  });
});

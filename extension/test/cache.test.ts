import { describe, expect, test } from 'vitest';
import { FileCache } from '../src/cache';

describe('FileCache', () => {
  test('loads once, shares the load, keeps the value until invalidated', async () => {
    const c = new FileCache<number>();
    let loads = 0;
    const load = async () => ++loads;
    const [a, b] = await Promise.all([c.get('k', load), c.get('k', load)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    expect(c.peek('k')).toBe(1);
    expect(await c.get('k', load)).toBe(1);
    c.invalidate('k');
    expect(c.peek('k')).toBeUndefined();
    expect(await c.get('k', load)).toBe(2);
    expect(await c.get('k', load, true)).toBe(3);
  });

  test('failures are not kept', async () => {
    const c = new FileCache<number>();
    await expect(c.get('k', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(c.has('k')).toBe(false);
    expect(await c.get('k', async () => 7)).toBe(7);
  });

  test('a forced reload aborts the running one', async () => {
    const c = new FileCache<string>();
    let firstSignal: AbortSignal | undefined;
    const first = c.get('k', (s) => {
      firstSignal = s;
      return new Promise<string>((_res, rej) => s.addEventListener('abort', () => rej(new Error('aborted'))));
    });
    const second = c.get('k', async () => 'new', true);
    await expect(first).rejects.toThrow('aborted');
    expect(firstSignal?.aborted).toBe(true);
    expect(await second).toBe('new');
    expect(c.peek('k')).toBe('new');
  });

  test('keeps at most maxEntries, dropping the least recently used', async () => {
    const c = new FileCache<number>(2);
    await c.get('a', async () => 1);
    await c.get('b', async () => 2);
    await c.get('a', async () => 0);
    await c.get('c', async () => 3);
    expect(c.has('a')).toBe(true);
    expect(c.has('b')).toBe(false);
    expect(c.size).toBe(2);
  });
});

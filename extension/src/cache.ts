/*
 * Per-file results: one entry per key, loaded once and shared by every
 * view; a second request while a load runs joins it. Entries stay until
 * invalidated (the file is saved, the user refreshes, settings or sign-in
 * change) or pushed out by newer ones.
 */

interface Entry<V> {
  promise: Promise<V>;
  controller: AbortController;
  settled: boolean;
  value?: V;
}

export class FileCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(private readonly maxEntries = 200) {}

  /** The cached value or the running load; force starts a new load. */
  get(key: string, load: (signal: AbortSignal) => Promise<V>, force = false): Promise<V> {
    const old = this.entries.get(key);
    if (old && !force) {
      this.touch(key, old);
      return old.promise;
    }
    if (old && !old.settled) old.controller.abort();
    const controller = new AbortController();
    const entry = { controller, settled: false } as Entry<V>;
    entry.promise = load(controller.signal).then(
      (v) => {
        entry.settled = true;
        entry.value = v;
        return v;
      },
      (e: unknown) => {
        entry.settled = true;
        // Failures are not kept: the next look retries.
        if (this.entries.get(key) === entry) this.entries.delete(key);
        throw e;
      },
    );
    this.entries.set(key, entry);
    this.evict();
    return entry.promise;
  }

  /** The loaded value, without starting anything; undefined while loading or absent. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** True when the key has a load finished or running. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  invalidate(key: string): void {
    const e = this.entries.get(key);
    if (e && !e.settled) e.controller.abort();
    this.entries.delete(key);
  }

  clear(): void {
    for (const e of this.entries.values()) if (!e.settled) e.controller.abort();
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private touch(key: string, e: Entry<V>): void {
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  private evict(): void {
    while (this.entries.size > this.maxEntries) {
      const first = this.entries.keys().next();
      if (first.done) return;
      const e = this.entries.get(first.value);
      if (e && !e.settled) return;
      this.entries.delete(first.value);
    }
  }
}

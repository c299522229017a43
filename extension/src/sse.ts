/*
 * Server-sent events (text/event-stream) split into events as chunks
 * arrive, whatever the chunk boundaries: lines end with \n, \r\n or \r,
 * "data:" lines of one event are joined with \n, comments (":") are the
 * server's keep-alives and are dropped.
 */

export interface SseEvent {
  event: string;
  data: string;
}

/** Largest event accepted; a stream that never ends an event is cut here. */
const MAX_EVENT_CHARS = 4 * 1024 * 1024;

export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private size = 0;

  /** Feeds one chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line, out);
    }
    if (this.buf.length > MAX_EVENT_CHARS) throw new Error('event stream line too long');
    return out;
  }

  /** The stream ended: a last event without its blank line still counts. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buf) this.line(this.buf, out);
    this.buf = '';
    this.dispatch(out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.size += value.length;
      if (this.size > MAX_EVENT_CHARS) throw new Error('event stream event too large');
      this.data.push(value);
    } else if (field === 'event') {
      this.event = value;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
    this.data = [];
    this.event = '';
    this.size = 0;
  }
}

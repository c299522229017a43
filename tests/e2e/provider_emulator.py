"""A provider emulator for the Model Router's tests and benchmarks.

Speaks each provider's native wire format, streaming included, and records
every request it receives (method, path, query, headers, parsed body):

  POST /v1/chat/completions, /chat/completions   OpenAI, DeepSeek, self-hosted
  POST /v1/messages                              Anthropic Messages
  POST /v1beta/models/M:generateContent          Gemini (also /v1/models/...)
  POST /v1beta/models/M:streamGenerateContent?alt=sse

The last user message may carry directives for failure cases:
  EMU:status=429     answer that status (429 adds Retry-After: 7)
  EMU:fail=N         with EMU:status: only the first N requests carrying the
                     same directives fail, the next ones are answered (add
                     EMU:id=<number> to keep one test's count to itself)
  EMU:retry-after=S  the Retry-After of a 429, in seconds (default 7)
  EMU:hang=MS        wait MS milliseconds before the status line (with
                     EMU:fail=N, only the first N requests hang)
  EMU:silence=MS     wait MS milliseconds before the first streamed chunk
  EMU:cut            stream a little, then drop the connection
  EMU:error-event    stream a little, then the provider's own error event
  EMU:bytes=N        make the answer text about N bytes long
  EMU:stopseq        Anthropic: the answer ends on the stop sequence "END"

Emulator.key_status maps an API key to a status answered to every request
carrying it (Bearer, x-api-key or x-goog-api-key), for key-pool tests.
Each recorded request has .time (time.monotonic() on arrival) and .key.

Standard library only. Run as a script for the benchmarks:
  python3 provider_emulator.py PORT
"""
import json
import re
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

REPLY = "Hello from the emulator. RESPONSE-CANARY-7f3a"


class Recorded:
    def __init__(self, method, path, query, headers, raw, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers  # lower-case name -> value
        self.raw = raw
        self.body = body
        self.time = time.monotonic()
        auth = self.headers.get("authorization", "")
        self.key = (auth[7:] if auth.startswith("Bearer ") else
                    self.headers.get("x-api-key") or self.headers.get("x-goog-api-key"))

    def header(self, name):
        return self.headers.get(name.lower())


class _Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def _directives(body):
    text = json.dumps(body) if body is not None else ""
    d = {}
    for m in re.finditer(r"EMU:([a-z-]+)(?:=(\d+))?", text):
        d[m.group(1)] = int(m.group(2)) if m.group(2) else True
    return d


def _reply_text(d):
    n = d.get("bytes")
    if not n:
        return REPLY
    return (REPLY + " ") * max(1, n // (len(REPLY) + 1))


def _pieces(text, n=4):
    step = max(1, len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        import socket
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *a):
        pass

    # -- plumbing ---------------------------------------------------------
    def _send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_sse(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self):
        self.wfile.flush()
        self.close_connection = True
        try:
            import socket
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- entry --------------------------------------------------------------
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path, _, query = self.path.partition("?")
        rec = Recorded("POST", path, query, {k.lower(): v for k, v in self.headers.items()}, raw, body)
        self.server.emulator.record(rec)
        d = _directives(body)
        emu = self.server.emulator
        key_status = emu.key_status.get(rec.key)
        if key_status:
            return self._send_json(key_status, {"error": {"message": "emulated key failure",
                                                         "type": "emulated"}})
        if ("status" in d or "hang" in d) and "fail" in d:
            tag = tuple(sorted(d.items()))
            with emu.lock:
                emu.failures[tag] = emu.failures.get(tag, 0) + 1
                failing = emu.failures[tag] <= d["fail"]
            if not failing:
                d.pop("status", None)
                d.pop("hang", None)
        if "hang" in d:
            time.sleep(d["hang"] / 1000.0)
        if "status" in d:
            ra = str(d.get("retry-after", 7))
            extra = {"Retry-After": ra} if d["status"] == 429 else {}
            return self._send_json(d["status"], {"error": {"message": "emulated failure of INPUT-ECHO",
                                                          "type": "emulated"}}, extra)
        if path.endswith("/chat/completions"):
            return self._openai(body or {}, d)
        if path.endswith("/v1/messages"):
            return self._anthropic(body or {}, d)
        m = re.match(r"^/(v1beta|v1)/models/([^/:]+):(generateContent|streamGenerateContent)$", path)
        if m:
            return self._gemini(m.group(2), m.group(3) == "streamGenerateContent", body or {}, d)
        self._send_json(404, {"error": {"message": "no such path"}})

    def do_GET(self):
        path = self.path.partition("?")[0]
        if path.endswith("/models"):
            return self._send_json(200, {"object": "list", "data": [{"id": "emu-model", "object": "model"}]})
        self._send_json(404, {"error": {"message": "no such path"}})

    # -- OpenAI ---------------------------------------------------------------
    def _openai(self, body, d):
        text = _reply_text(d)
        model = body.get("model", "emu")
        cid = "chatcmpl-emu%d" % int(time.time() * 1000)
        if not body.get("stream"):
            return self._send_json(200, {
                "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
        self._start_sse()
        if "silence" in d:
            time.sleep(d["silence"] / 1000.0)

        def ev(obj):
            self._chunk("data: " + json.dumps(obj) + "\n\n")

        base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        ev(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
        for i, piece in enumerate(_pieces(text)):
            if i == 2 and d.get("cut"):
                return self._cut()
            if i == 2 and d.get("error-event"):
                ev({"error": {"message": "emulated overload", "type": "server_error"}})
                return self._end_sse()
            ev(dict(base, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        ev(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            ev(dict(base, choices=[], usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}))
        self._chunk("data: [DONE]\n\n")
        self._end_sse()

    # -- Anthropic ------------------------------------------------------------
    def _anthropic(self, body, d):
        text = _reply_text(d)
        mid = "msg_emu%d" % int(time.time() * 1000)
        model = body.get("model", "emu")
        stop_reason, stop_seq = ("stop_sequence", "END") if d.get("stopseq") else ("end_turn", None)
        if not body.get("stream"):
            return self._send_json(200, {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": stop_reason,
                "stop_sequence": stop_seq, "usage": {"input_tokens": 13, "output_tokens": 5}})
        self._start_sse()
        if "silence" in d:
            time.sleep(d["silence"] / 1000.0)

        def ev(name, obj):
            self._chunk("event: %s\ndata: %s\n\n" % (name, json.dumps(obj)))

        ev("message_start", {"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 13, "output_tokens": 1}}})
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}})
        ev("ping", {"type": "ping"})
        for i, piece in enumerate(_pieces(text)):
            if i == 2 and d.get("cut"):
                return self._cut()
            if i == 2 and d.get("error-event"):
                ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                return self._end_sse()
            ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": piece}})
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_seq},
                             "usage": {"output_tokens": 5}})
        ev("message_stop", {"type": "message_stop"})
        self._end_sse()

    # -- Gemini ---------------------------------------------------------------
    def _gemini(self, model, stream, body, d):
        text = _reply_text(d)

        def resp(piece, finish=None, usage=False):
            c = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if finish:
                c["finishReason"] = finish
            r = {"candidates": [c], "modelVersion": model, "responseId": "gemini-emu"}
            if usage:
                r["usageMetadata"] = {"promptTokenCount": 17, "candidatesTokenCount": 6, "totalTokenCount": 23}
            return r

        if not stream:
            return self._send_json(200, resp(text, "STOP", True))
        self._start_sse()
        if "silence" in d:
            time.sleep(d["silence"] / 1000.0)
        pieces = _pieces(text)
        for i, piece in enumerate(pieces):
            if i == 2 and d.get("cut"):
                return self._cut()
            if i == 2 and d.get("error-event"):
                self._chunk("data: " + json.dumps({"error": {"code": 503, "message": "overloaded",
                                                            "status": "UNAVAILABLE"}}) + "\r\n\r\n")
                return self._end_sse()
            last = i == len(pieces) - 1
            self._chunk("data: " + json.dumps(resp(piece, "STOP" if last else None, last)) + "\r\n\r\n")
        self._end_sse()


class Emulator:
    """Use as a context manager; .url is http://127.0.0.1:PORT."""

    def __init__(self, port=0):
        self.requests = []
        self.lock = threading.Lock()
        self.key_status = {}
        self.failures = {}
        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.emulator = self
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, rec):
        with self.lock:
            self.requests.append(rec)

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def clear(self):
        with self.lock:
            self.requests.clear()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":
    emu = Emulator(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(emu.port, flush=True)
    emu.server.serve_forever()

"""POST /v1/messages, Anthropic-compatible, end to end: coopd in front of
the provider emulator. Requests in Anthropic's format reach every provider
through the same policy, sanitizer and zero-retention layer as chat
completions; answers and streams come back in Anthropic's format; bad
input and refusals get 400/401/403/429 in Anthropic's error shape.
(The official @anthropic-ai/sdk against coopd runs in test_router_sdk.)
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import run_tests  # noqa: E402
from provider_emulator import REPLY  # noqa: E402
from test_router import (EMU, FULL_POLICY, KEYS, PROMPT_CANARY, PROVIDERS, SECRET, SlowCoopd,  # noqa: E402
                         audit_rows, provider_env, write_policy)

TOKEN = "messages-admin-token-7c6b5a4f3e2d1c0b"
MODELS = {"openai": "openai/gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-flash",
          "deepseek": "deepseek/deepseek-chat", "selfhosted": "selfhosted/llama-3.1-8b"}


class Server:
    coopd = None
    llm = None

    @classmethod
    def get(cls):
        if cls.coopd is None:
            env = provider_env()
            env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
            env["COOP_API_TOKEN"] = TOKEN
            cls.coopd = SlowCoopd(env=env).__enter__()
            out = cls.coopd.run("token", "create", "--scope", "llm", "--customer", "acme")
            assert out.returncode == 0, out.stderr
            cls.llm = out.stdout.decode().strip().splitlines()[-1]
        return cls.coopd


def messages(c, model="claude-sonnet-4-5", text="hello", stream=False, extra=None, headers=None, token=TOKEN):
    body = {"model": model, "max_tokens": 64, "system": "You are terse.",
            "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    body.update(extra or {})
    h = {"anthropic-version": "2023-06-01"}
    h.update(headers or {})
    return c.post("/v1/messages", body, headers=h, token=token)


def events(body):
    """(event name, parsed data) of every SSE event; comments skipped."""
    out = []
    for block in body.decode().split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            assert data is not None and data["type"] == name, block
            out.append((name, data))
    return out


def assert_anthropic_error(r, status, etype):
    assert r.status == status, (r.status, r.body[:400])
    obj = r.json()
    assert obj["type"] == "error", obj
    assert obj["error"]["type"] == etype, obj
    assert obj["error"]["message"] and obj["error"]["code"]
    assert obj["error"]["request_id"] == r.header("X-Request-Id")
    return obj


def test_non_streaming_every_provider():
    c = Server.get()
    for p in PROVIDERS:
        r = messages(c, MODELS[p], text="hi " + SECRET)
        assert r.status == 200, (p, r.body)
        m = r.json()
        assert m["type"] == "message" and m["role"] == "assistant", m
        assert m["model"] == MODELS[p]
        assert m["id"].startswith("msg_")
        assert m["content"] == [{"type": "text", "text": REPLY}], m
        assert m["stop_reason"] == "end_turn" and m["stop_sequence"] is None
        assert m["usage"]["input_tokens"] > 0 and m["usage"]["output_tokens"] > 0, m
        rec = EMU.last()
        assert SECRET not in rec.raw.decode(), p
        assert rec.header("x-no-training") == "true"


def test_streaming_every_provider():
    c = Server.get()
    want = ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop"]
    for p in PROVIDERS:
        r = messages(c, MODELS[p], stream=True)
        assert r.status == 200, (p, r.body)
        assert r.header("Content-Type").startswith("text/event-stream")
        ev = events(r.body)
        names = [n for n, _ in ev]
        # one start, deltas, then the closing events, in Anthropic's order
        assert names[:2] == want[:2] and names[-3:] == want[-3:], (p, names)
        assert set(names[2:-3]) == {"content_block_delta"}, (p, names)
        text = "".join(d["delta"]["text"] for n, d in ev if n == "content_block_delta")
        assert text == REPLY, (p, text)
        start = ev[0][1]["message"]
        assert start["model"] == MODELS[p] and start["content"] == [] and start["role"] == "assistant"
        delta = ev[-2][1]
        assert delta["delta"]["stop_reason"] == "end_turn"
        assert delta["usage"]["output_tokens"] > 0 and delta["usage"]["input_tokens"] > 0, (p, delta)


def test_wire_to_anthropic_and_openai():
    c = Server.get()
    r = messages(c, "claude-sonnet-4-5", text="hi " + SECRET,
                 extra={"stop_sequences": ["END"], "temperature": 0.25, "top_p": 0.9,
                        "metadata": {"user_id": "user-CANARY-42"},
                        "system": [{"type": "text", "text": "Block one."}, {"type": "text", "text": "Block two."}]})
    assert r.status == 200, r.body
    rec = EMU.last()
    assert rec.path == "/v1/messages" and rec.header("x-api-key") == KEYS["anthropic"]
    assert rec.body["model"] == "claude-sonnet-4-5" and rec.body["max_tokens"] == 64
    assert rec.body["stop_sequences"] == ["END"] and rec.body["temperature"] == 0.25 and rec.body["top_p"] == 0.9
    assert "zero-retention" in rec.body["system"] and "Block one.Block two." in rec.body["system"]
    assert "metadata" not in rec.body and "user-CANARY-42" not in rec.raw.decode()
    assert SECRET not in rec.raw.decode()
    assert TOKEN not in json.dumps(rec.headers)
    r = messages(c, "openai/gpt-4o", extra={"stop_sequences": ["END"]})
    assert r.status == 200, r.body
    rec = EMU.last()
    assert rec.path == "/v1/chat/completions" and rec.header("authorization") == "Bearer " + KEYS["openai"]
    assert rec.body["store"] is False and rec.body["max_tokens"] == 64 and rec.body["stop"] == ["END"]
    assert rec.body["messages"][0]["content"].startswith("Confidentiality notice")
    assert rec.body["messages"][1] == {"role": "system", "content": "You are terse."}


def test_stop_sequence_reported():
    """Anthropic names the stop sequence that ended the answer; it comes
    through (other providers do not say which one matched: end_turn)."""
    c = Server.get()
    r = messages(c, text="EMU:stopseq", extra={"stop_sequences": ["END"]})
    assert r.status == 200, r.body
    m = r.json()
    assert m["stop_reason"] == "stop_sequence" and m["stop_sequence"] == "END", m
    r = messages(c, text="EMU:stopseq", stream=True, extra={"stop_sequences": ["END"]})
    delta = [d for n, d in events(r.body) if n == "message_delta"][0]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}, delta
    m = messages(c, "openai/gpt-4o", text="EMU:stopseq", extra={"stop_sequences": ["END"]}).json()
    assert m["stop_reason"] == "end_turn" and m["stop_sequence"] is None, m


def test_x_api_key_and_bearer():
    c = Server.get()
    r = messages(c, token=None, headers={"x-api-key": Server.llm})
    assert r.status == 200, r.body
    r = messages(c, token=Server.llm)
    assert r.status == 200, r.body
    assert_anthropic_error(messages(c, token=None), 401, "authentication_error")
    assert_anthropic_error(messages(c, token=None, headers={"x-api-key": "coop_wrong_0123456789abcdef"}),
                           401, "authentication_error")
    # x-api-key is only for this route: chat completions still want a bearer token
    r = c.post("/v1/chat/completions", {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x"}]},
               headers={"x-api-key": Server.llm})
    assert r.status == 401
    # an llm token lacks the admin scope
    r = c.get("/v1/admin/usage", headers={"x-api-key": TOKEN})
    assert r.status == 401


def test_bad_input_anthropic_shape():
    c = Server.get()
    h = {"anthropic-version": "2023-06-01", "Content-Type": "application/json"}
    bad_bodies = [
        b"{not json",
        b'{"model":"claude-x","model":"claude-y","max_tokens":5,"messages":[{"role":"user","content":"x"}]}',
        b"[]",
        b'{"model":"claude-x","max_tokens":"5","messages":[{"role":"user","content":"x"}]}',
        b'{"model":"claude-x","messages":[{"role":"user","content":"x"}]}',
        b'{"model":"claude-x","max_tokens":5,"messages":"hello"}',
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x","role":"user"}]}',
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image",'
        b'"source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}',
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x"}],'
        b'"tools":[{"name":"t","input_schema":{"type":"object"}}]}',
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x"}],"stream":"true"}',
        b'{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":2}',
        b'{"model":"claude-x","max_tokens":123456789012345678901234,"messages":[{"role":"user","content":"x"}]}',
        b'{"model":"unknownprovider/x","max_tokens":5,"messages":[{"role":"user","content":"x"}]}',
    ]
    n = len(EMU.requests)
    for body in bad_bodies:
        r = c.post("/v1/messages", body, headers=h, token=TOKEN)
        obj = assert_anthropic_error(r, 400, "invalid_request_error")
        assert "AAAA" not in r.body.decode() and "unknownprovider" not in obj["error"]["message"]
    assert len(EMU.requests) == n, "nothing may leave for a refused request"
    # a body declared above the limit: 413 in the same shape, unread
    s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
    s.sendall(("POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\n\r\n" % (TOKEN, 9 << 20)).encode())
    data = b""
    while b"}}" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:100]
    obj = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert obj["type"] == "error" and obj["error"]["type"] == "request_too_large", obj


def test_policy_and_provider_errors():
    c = Server.get()
    r = c.request("PUT", "/v1/admin/policy", body={"providers": {
        "anthropic": FULL_POLICY["providers"]["anthropic"],
        "openai": dict(FULL_POLICY["providers"]["openai"], allowed_models=["gpt-4o-mini"])}}, token=TOKEN)
    assert r.status == 200, r.body
    try:
        assert_anthropic_error(messages(c, "gemini/gemini-2.5-flash"), 403, "permission_error")
        assert_anthropic_error(messages(c, "openai/gpt-4o"), 403, "permission_error")
    finally:
        r = c.request("PUT", "/v1/admin/policy", body=FULL_POLICY, token=TOKEN)
        assert r.status == 200, r.body
    r = messages(c, text="EMU:status=429")
    obj = assert_anthropic_error(r, 429, "rate_limit_error")
    assert r.header("Retry-After") == "7"
    assert "INPUT-ECHO" not in r.body.decode() and "INPUT-ECHO" not in obj["error"]["message"]
    assert_anthropic_error(messages(c, "openai/gpt-4o", text="EMU:status=500"), 502, "api_error")


def test_fallback_route():
    """A route of the policy named as the model: its first target answers,
    in Anthropic's format whatever the target; a target the policy refuses
    is skipped for the next one; the answer keeps the route's name."""
    c = Server.get()
    doc = dict(FULL_POLICY, routes={"coop/smart": ["anthropic/claude-sonnet-4-5", "openai/gpt-4o"]})
    r = c.request("PUT", "/v1/admin/policy", body=doc, token=TOKEN)
    assert r.status == 200, r.body
    try:
        for stream in (False, True):
            n = len(EMU.requests)
            r = messages(c, "coop/smart", stream=stream)
            assert r.status == 200, r.body
            if stream:
                ev = events(r.body)
                assert ev[0][1]["message"]["model"] == "coop/smart" and ev[-1][0] == "message_stop"
            else:
                assert r.json()["model"] == "coop/smart" and r.json()["content"][0]["text"] == REPLY
            assert EMU.requests[n].path == "/v1/messages"
        # the Anthropic target refused by the policy: skipped, OpenAI answers
        doc["providers"] = dict(FULL_POLICY["providers"],
                                anthropic=dict(FULL_POLICY["providers"]["anthropic"], enabled=False))
        assert c.request("PUT", "/v1/admin/policy", body=doc, token=TOKEN).status == 200
        n = len(EMU.requests)
        r = messages(c, "coop/smart")
        assert r.status == 200 and r.json()["content"][0]["text"] == REPLY, r.body
        assert [x.path for x in EMU.requests[n:]] == ["/v1/chat/completions"]
    finally:
        assert c.request("PUT", "/v1/admin/policy", body=FULL_POLICY, token=TOKEN).status == 200


def test_stream_errors_are_error_events():
    c = Server.get()
    for model in ("claude-sonnet-4-5", "openai/gpt-4o", "gemini/gemini-2.5-flash"):
        for directive in ("EMU:cut", "EMU:error-event"):
            r = messages(c, model, text=directive, stream=True)
            assert r.status == 200, r.body
            ev = events(r.body)
            names = [n for n, _ in ev]
            assert names[-1] == "error", (model, directive, names)
            assert "message_stop" not in names
            err = ev[-1][1]["error"]
            assert err["type"] in ("api_error", "overloaded_error") and err["message"], err


def test_zz_audit_and_no_canaries():
    c = Server.get()
    ids = set()
    for p in PROVIDERS:
        for stream in (False, True):
            r = messages(c, MODELS[p], stream=stream, text="%s %s" % (PROMPT_CANARY, SECRET))
            assert r.status == 200, r.body
            ids.add(r.header("X-Request-Id"))
    deadline = time.time() + 30
    rows = []
    while time.time() < deadline:
        rows = [x for x in audit_rows(c, token=TOKEN) if x["request_id"] in ids]
        if len(rows) == len(ids):
            break
        time.sleep(0.05)
    assert len(rows) == 10, rows
    for row in rows:
        assert row["status"] == "ok" and row["status_code"] == 200, row
        assert "sanitized" in row["zero_retention"] and "aws-access-key-id" in row["sanitizer_counts"]
        assert row["input_tokens"] > 0
    assert c.stop() == 0
    c.check_log_json()
    for name in os.listdir(c.data_dir):
        path = os.path.join(c.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            for canary in (PROMPT_CANARY, SECRET, REPLY, TOKEN, Server.llm, "user-CANARY-42") + tuple(KEYS.values()):
                assert canary.encode() not in data, (canary, name)
    Server.coopd = None


if __name__ == "__main__":
    try:
        run_tests(globals())
    finally:
        if Server.coopd is not None:
            Server.coopd.stop()
        EMU.stop()

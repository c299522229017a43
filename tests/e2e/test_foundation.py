"""The server foundation end to end: the real coopd on loopback.

Health, request ids, error shapes, limits (body, headers, idle clients,
connections), bearer auth and scopes, production refusals, TLS, graceful
shutdown under load, and logs that are JSON and never hold a token.
"""
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, COOPD, assert_error_shape, free_port, run_tests  # noqa: E402

TOKEN = "coop-e2e-CANARY-TOKEN-7f3a9c1e5b"
MASTER = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes


def test_health_ready_metrics():
    with Coopd() as c:
        r = c.get("/healthz")
        assert r.status == 200 and r.json() == {"status": "ok"}
        assert r.header("Content-Type") == "application/json"
        assert len(r.header("X-Request-Id")) == 32
        assert c.get("/readyz").status == 200
        # A request is counted when it completes, just after its answer left.
        for _ in range(50):
            m = c.get("/metrics")
            text = m.body.decode()
            if 'route="/readyz",status="200"} 1' in text:
                break
            time.sleep(0.02)
        assert m.status == 200
        assert m.header("Content-Type").startswith("text/plain; version=0.0.4")
        assert 'coop_http_requests_total{method="GET",route="/healthz",status="200"} ' in text, text
        assert 'coop_http_requests_total{method="GET",route="/readyz",status="200"} 1' in text, text
        assert "coop_http_request_duration_seconds_bucket" in text


def test_request_id_accepted_or_generated():
    with Coopd() as c:
        r = c.get("/healthz", headers={"X-Request-Id": "client-req-0001"})
        assert r.header("X-Request-Id") == "client-req-0001"
        for bad in ["short", "has space in it", "x" * 65, "new\u00e9line-id"]:
            try:
                r = c.get("/healthz", headers={"X-Request-Id": bad})
            except Exception:
                continue
            assert r.header("X-Request-Id") != bad and len(r.header("X-Request-Id")) == 32


def test_error_shapes():
    with Coopd() as c:
        assert_error_shape(c.get("/nope"), 404)
        r = c.post("/healthz", body="{}")
        assert_error_shape(r, 405)
        assert "GET" in r.header("Allow")
        assert_error_shape(c.get("/v1/../healthz/.."), 404)


def test_keep_alive():
    with Coopd() as c:
        conn = c.connection()
        for _ in range(3):
            r = c.get("/healthz", conn=conn)
            assert r.status == 200
            assert (r.header("Connection") or "").lower() != "close"
        conn.close()


def raw_exchange(port, data, read_timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    chunks = []
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
            if b"\r\n\r\n" in b"".join(chunks):
                break
    except OSError:
        pass
    s.close()
    return b"".join(chunks)


def test_body_too_large_refused_before_reading():
    with Coopd() as c:
        # Declared larger than the route accepts: 413 at once, body never read.
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 31457280\r\n\r\n"
        resp = raw_exchange(c.port, head)
        assert resp.startswith(b"HTTP/1.1 413"), resp[:100]
        assert b"payload_too_large" in resp or b"Content-Length" in resp
        # Chunked, with no declared length: refused once it passes the limit.
        s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
        data = s.recv(65536)
        s.close()
        assert data.startswith(b"HTTP/1.1 413"), data[:100]
        assert c.get("/healthz").status == 200


def test_webhook_body_limit_30mb():
    """A 30 MB body sent to a webhook endpoint (limit 25 MB) gets 413."""
    with Coopd(env={"COOP_GITHUB_WEBHOOK_SECRET": "It's a Secret to Everybody"}) as c:
        s = socket.create_connection(("127.0.0.1", c.port), timeout=20)
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"X-GitHub-Event: push\r\nX-GitHub-Delivery: big-1\r\nContent-Length: %d\r\n\r\n" % (30 << 20))
        sent = 0
        chunk = b"x" * 65536
        try:
            while sent < (30 << 20):
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed without reading it all
        data = s.recv(65536)
        s.close()
        assert data.startswith(b"HTTP/1.1 413"), data[:100]
        assert b"payload_too_large" in data
        assert sent < (30 << 20), "the whole body was read"
        assert c.get("/healthz").status == 200


def test_slow_body_dropped():
    with Coopd(env={"COOP_BODY_TIMEOUT": "2", "COOP_GITHUB_WEBHOOK_SECRET": "x" * 20}) as c:
        s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n")
        t = time.time()
        dropped = False
        while time.time() - t < 6:
            try:
                s.sendall(b"{")
                time.sleep(0.25)
            except OSError:
                dropped = True
                break
        if not dropped:
            s.settimeout(3)
            try:
                dropped = s.recv(100) == b""  # closed; a timeout raises and fails the test
            except ConnectionResetError:
                dropped = True
        s.close()
        assert dropped and time.time() - t < 8, time.time() - t
        assert c.get("/healthz").status == 200


def test_huge_headers_refused():
    with Coopd() as c:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"
        resp = raw_exchange(c.port, head)
        assert resp == b"" or resp.split(b" ")[1] in (b"413", b"431", b"400"), resp[:100]
        assert c.get("/healthz").status == 200


def test_malformed_http():
    with Coopd() as c:
        for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"]:
            resp = raw_exchange(c.port, junk, read_timeout=5)
            assert resp == b"" or resp.startswith(b"HTTP/1.1 4") or resp.startswith(b"HTTP/1.0 4") \
                or resp.startswith(b"HTTP/1.1 5"), (junk, resp[:80])
        assert c.get("/healthz").status == 200


def test_idle_and_slow_clients_dropped():
    with Coopd(env={"COOP_IDLE_TIMEOUT": "1"}) as c:
        s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        t = time.time()
        data = s.recv(100)
        waited = time.time() - t
        s.close()
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        assert waited < 8, waited
        assert c.get("/healthz").status == 200


def test_connection_limit():
    with Coopd(env={"COOP_MAX_CONNECTIONS": "4"}) as c:
        socks = [socket.create_connection(("127.0.0.1", c.port), timeout=1) for _ in range(8)]
        time.sleep(0.3)
        refused = 0
        for s in socks:
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):
                    refused += 1
            except OSError:
                refused += 1
        for s in socks:
            s.close()
        assert refused >= 4, refused
        time.sleep(0.3)
        assert c.get("/healthz").status == 200


def test_rate_limit_per_token():
    env = dict(PROD)
    env["COOP_RATE_LIMIT"] = "60"  # a burst of 6, then one a second
    with Coopd(env=env, production=True) as c:
        other = c.run("token", "create", "--scope", "read").stdout.decode().strip().splitlines()[-1]
        conn = c.connection()
        statuses = [c.get("/metrics", token=TOKEN, conn=conn).status for _ in range(10)]
        assert statuses[:6] == [200] * 6, statuses
        r = c.get("/metrics", token=TOKEN, conn=conn)
        assert_error_shape(r, 429)
        assert 1 <= int(r.header("Retry-After")) <= 2
        # Another token has its own bucket; public routes are not limited.
        assert c.get("/metrics", token=other).status == 200
        assert c.get("/healthz").status == 200
        conn.close()


def run_serve(env):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("COOP_") and k != "COOP_SOURCE_DIR":
            del e[k]
    d = tempfile.mkdtemp(prefix="coop-e2e-")
    e.update({"COOP_DATA_DIR": d, "COOP_LISTEN": "127.0.0.1:%d" % free_port()})
    e.update(env)
    p = subprocess.run([COOPD, "serve"], env=e, capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode(errors="replace")


def test_production_refusals_name_the_variable():
    rc, err = run_serve({"COOP_ENV": "production", "COOP_MASTER_KEY": MASTER,
                         "COOP_TLS_TERMINATED_BY_PROXY": "1"})
    assert rc != 0 and "COOP_API_TOKEN" in err, err
    rc, err = run_serve({"COOP_ENV": "production", "COOP_API_TOKEN": TOKEN,
                         "COOP_TLS_TERMINATED_BY_PROXY": "1"})
    assert rc != 0 and "COOP_MASTER_KEY" in err, err
    rc, err = run_serve({"COOP_ENV": "production", "COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER})
    assert rc != 0 and "COOP_TLS" in err, err
    rc, err = run_serve({"COOP_ENV": "staging"})
    assert rc != 0 and "COOP_ENV" in err, err
    rc, err = run_serve({"COOP_API_TOKEN": "tiny-CANARY"})
    assert rc != 0 and "COOP_API_TOKEN" in err and "CANARY" not in err, err
    for _, text in [run_serve({"COOP_ENV": "production", "COOP_API_TOKEN": TOKEN})]:
        assert TOKEN not in text


PROD = {"COOP_ENV": "production", "COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER,
        "COOP_TLS_TERMINATED_BY_PROXY": "1"}


def test_bearer_auth_and_scopes():
    with Coopd(env=PROD, production=True) as c:
        r = c.get("/metrics")
        assert_error_shape(r, 401)
        assert r.header("WWW-Authenticate").startswith("Bearer")
        assert_error_shape(c.get("/metrics", token=TOKEN + "x"), 401)
        assert_error_shape(c.get("/metrics", token="coop_" + "0" * 64), 401)
        assert_error_shape(c.get("/metrics", headers={"Authorization": "Basic " + TOKEN}), 401)
        assert c.get("/metrics", token=TOKEN).status == 200
        assert c.get("/healthz").status == 200  # public
        assert_error_shape(c.get("/v1/repos"), 401)
        assert_error_shape(c.get("/v1/repos", token="wrong-" + TOKEN), 401)
        r = c.get("/v1/repos", token=TOKEN)
        assert r.status == 200 and r.json() == {"repos": []}, r.body

        out = c.run("token", "create", "--scope", "llm")
        assert out.returncode == 0, out.stderr
        llm_only = out.stdout.decode().strip().splitlines()[-1]
        out = c.run("token", "create", "--scope", "read", "--customer", "acme")
        read_tok = out.stdout.decode().strip().splitlines()[-1]
        assert c.get("/metrics", token=read_tok).status == 200
        assert_error_shape(c.get("/metrics", token=llm_only), 403)
        listing = c.run("token", "list").stdout.decode()
        assert "acme" in listing and read_tok not in listing and llm_only not in listing


def test_token_never_logged():
    with Coopd(env=PROD, production=True) as c:
        c.get("/metrics", token=TOKEN)
        c.get("/metrics", token=TOKEN + "-wrong")
        c.get("/nope?token=" + TOKEN, headers={"X-Api-Key": TOKEN, "Cookie": "s=" + TOKEN})
        c.post("/healthz", body='{"token":"%s"}' % TOKEN, token=TOKEN)
    log = c.log()
    assert "CANARY" not in log, [l for l in log.splitlines() if "CANARY" in l][:3]
    assert '"status":401' in log and '"route":"/metrics"' in log


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_tls():
    d = tempfile.mkdtemp(prefix="coop-tls-")
    cert, key = make_cert(d)
    env = dict(PROD)
    del env["COOP_TLS_TERMINATED_BY_PROXY"]
    env.update({"COOP_TLS_CERT": cert, "COOP_TLS_KEY": key})
    with Coopd(env=env, production=True, tls=True) as c:
        ctx = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("127.0.0.1", c.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
        assert data.startswith(b"HTTP/1.1 200") and b'{"status":"ok"}' in data
        # TLS 1.1 and older are refused.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
            with socket.create_connection(("127.0.0.1", c.port), timeout=10) as raw:
                try:
                    with old.wrap_socket(raw) as s:
                        raise AssertionError("TLS %s accepted" % s.version())
                except (ssl.SSLError, ConnectionResetError):
                    pass
        except ValueError:
            pass  # this OpenSSL cannot even offer TLS 1.1
        # Plain HTTP to the TLS port gets no HTTP answer.
        resp = raw_exchange(c.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=5)
        assert not resp.startswith(b"HTTP/1.1 200")
        assert c.get("/metrics", token=TOKEN).status == 200


def test_sigterm_under_load_exits_zero():
    c = Coopd().start()
    stop = threading.Event()
    errors = []
    done = [0]

    def hammer():
        conn = c.connection(timeout=5)
        while not stop.is_set():
            try:
                r = c.get("/healthz", conn=conn)
                if r.status == 200:
                    done[0] += 1
                elif r.status == 503 and r.json()["error"]["code"] == "shutting_down":
                    pass  # arrived after SIGTERM: refused cleanly
                else:
                    errors.append(r.status)
            except Exception:
                conn.close()
                conn = c.connection(timeout=5)
                if stop.is_set():
                    break
                time.sleep(0.01)
        conn.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.time()
    rc = c.stop(signal.SIGTERM, timeout=12)
    elapsed = time.time() - t0
    stop.set()
    for t in threads:
        t.join()
    assert rc == 0, (rc, c.log()[-2000:])
    assert elapsed < 10, elapsed
    assert done[0] > 50, done[0]
    assert not errors, errors[:5]
    c.check_log_json()
    assert '"msg":"stopped"' in c.log()


if __name__ == "__main__":
    run_tests(globals())

"""Starts the real coopd for end-to-end tests and talks to it.

Standard library only. A Coopd instance gets a free loopback port, a
temporary data directory and its own log file; every log line it writes
must parse as JSON (checked on stop).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

COOPD = os.environ.get("COOPD", os.path.join(os.path.dirname(__file__), "..", "..", "build", "coopd"))
SOURCE_DIR = os.environ.get("COOP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


# ---- PostgreSQL ---------------------------------------------------------
# With COOP_E2E_STORE=postgres, every coopd gets its store on the test
# PostgreSQL server (COOP_TEST_PG_URL, or the ctest fixture's URL file), in
# a schema of its own named after its data directory, so a restart on the
# same data directory finds the same data.

PSQL = "/usr/lib/postgresql/15/bin/psql"
PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


def pg_base_url():
    url = os.environ.get("COOP_TEST_PG_URL", "")
    path = os.environ.get("COOP_TEST_PG_URL_FILE", "")
    if not url and path and os.path.exists(path):
        with open(path) as f:
            url = f.read().strip()
    return url


def pg_sql(url, sql):
    subprocess.run([PSQL if os.path.exists(PSQL) else "psql", "-q", "-v", "ON_ERROR_STOP=1",
                    "-d", url, "-c", "SET client_min_messages = warning; " + sql],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)


def pg_schema_url(name, create=True):
    """A store URL on the test server selecting schema `name` (created)."""
    base = pg_base_url()
    if not base:
        if os.environ.get("CI") == "true":
            raise RuntimeError("no PostgreSQL server for the tests on CI")
        print("skipped: no PostgreSQL server (COOP_TEST_PG_URL)", flush=True)
        sys.exit(77)  # ctest's SKIP_RETURN_CODE
    if create:
        pg_sql(base, "CREATE SCHEMA IF NOT EXISTS %s" % name)
    sep = "&" if "?" in base else "?"
    return "%s%soptions=-c%%20search_path%%3D%s" % (base, sep, name)


def pg_drop_schema(name):
    base = pg_base_url()
    if base:
        pg_sql(base, "DROP SCHEMA IF EXISTS %s CASCADE" % name)


def pg_rows(url, query):
    """Rows of a SELECT on the PostgreSQL store at url, as lists of JSON
    values in column order (the same shape sqlite3 gives)."""
    wrapped = ("SELECT COALESCE(json_agg((SELECT json_agg(v.value ORDER BY v.ordinality)"
               " FROM json_each(row_to_json(q)) WITH ORDINALITY v)), '[]') FROM (%s) q" % query)
    out = subprocess.run([PSQL if os.path.exists(PSQL) else "psql", "-At", "-v", "ON_ERROR_STOP=1",
                          "-d", url, "-c", wrapped], check=True, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def e2e_on_postgres():
    return os.environ.get("COOP_E2E_STORE") == "postgres"


def schema_for(data_dir):
    import hashlib
    return "coop_e2e_" + hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:16]


class Coopd:
    """One coopd serve process. Use as a context manager."""

    def __init__(self, env=None, args=None, data_dir=None, tls=False, production=False):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="coop-e2e-")
        self.port = free_port()
        self.tls = tls
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("COOP_") and k not in ("COOP_SOURCE_DIR", "COOP_TEST_DATA", "COOP_TEST_PG_URL"):
                del self.env[k]
        self.env.update({
            "COOP_LISTEN": "127.0.0.1:%d" % self.port,
            "COOP_DATA_DIR": self.data_dir,
            "COOP_ENV": "production" if production else "development",
            "COOP_HTTP_THREADS": "2",
            "COOP_WORKERS": "2",
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
        })
        self.schema = None
        if e2e_on_postgres() and not (env or {}).get("COOP_STORE"):
            self.schema = schema_for(self.data_dir)
            self.env["COOP_STORE"] = pg_schema_url(self.schema)
        self.env.update(env or {})
        self.args = args or []
        self.log_path = os.path.join(self.data_dir, "coopd-%d.log" % self.port)
        self.proc = None

    # -- life cycle ---------------------------------------------------
    def start(self, wait=True):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([COOPD, "serve"] + self.args, env=self.env,
                                     stdout=self.log_file, stderr=self.log_file)
        if wait:
            try:
                self.wait_ready()
            except Exception:
                # Never leave a server behind when a test cannot use it.
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.log_file.close()
                raise
        return self

    def wait_ready(self, timeout=240):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("coopd exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self.get("/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("coopd did not become healthy:\n" + self.log())

    # A server stopped in its first seconds first finishes the sanitizer
    # stage it is compiling, which under ASan on a loaded machine takes a
    # while: the bound catches a hang, not a slow stop.
    def stop(self, sig=signal.SIGTERM, timeout=45):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("coopd did not stop within %ss" % timeout)
        if self.proc:
            self.log_file.close()
        return self.proc.returncode if self.proc else None

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None:
            self.check_log_json()
            assert rc == 0, "coopd exited %s\n%s" % (rc, self.log()[-4000:])
        if self.own_dir and exc[0] is None:
            self._log_cache = self.log()
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.schema:
                pg_drop_schema(self.schema)
        return False

    # -- logs ----------------------------------------------------------
    def log(self):
        if getattr(self, "_log_cache", None) is not None:
            return self._log_cache
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        out = []
        for line in self.log().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def check_log_json(self):
        for line in self.log().splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise AssertionError("log line is not JSON: %r" % line[:300])
            assert isinstance(obj, dict) and "time" in obj and "level" in obj and "msg" in obj, line

    # -- the store -----------------------------------------------------
    def sql(self, query):
        """Rows of a SELECT on this instance's store, SQLite or PostgreSQL,
        as lists of JSON values (text, numbers, null) in column order."""
        store = self.env.get("COOP_STORE", "")
        if store.startswith("postgres"):
            return pg_rows(store, query)
        import sqlite3
        con = sqlite3.connect(os.path.join(self.data_dir, "coop.db"))
        try:
            return [list(r) for r in con.execute(query).fetchall()]
        finally:
            con.close()

    def sql_exec(self, statement):
        """Runs one writing statement on this instance's store (tests that
        tamper with rows), SQLite or PostgreSQL."""
        store = self.env.get("COOP_STORE", "")
        if store.startswith("postgres"):
            subprocess.run([PSQL if os.path.exists(PSQL) else "psql", "-q", "-v", "ON_ERROR_STOP=1",
                            "-d", store, "-c", statement], check=True, stdin=subprocess.DEVNULL,
                           capture_output=True)
            return
        import sqlite3
        con = sqlite3.connect(os.path.join(self.data_dir, "coop.db"))
        try:
            con.execute(statement)
            con.commit()
        finally:
            con.close()

    def drop_store(self):
        """Removes the PostgreSQL schema of an instance whose data directory
        the test owns (the harness drops only those of its own)."""
        if self.schema:
            pg_drop_schema(self.schema)

    def store_dump(self):
        """Everything the store holds, as bytes: the SQLite files in the data
        directory, or a pg_dump of this instance's schema."""
        if self.schema:
            out = subprocess.run([PG_DUMP if os.path.exists(PG_DUMP) else "pg_dump", "--no-owner",
                                  "--schema=" + self.schema, "-d", pg_base_url()], check=True,
                                 stdin=subprocess.DEVNULL, capture_output=True)
            assert b"CREATE TABLE" in out.stdout
            return out.stdout
        data = b""
        for name in sorted(os.listdir(self.data_dir)):
            if name.startswith("coop.db"):
                with open(os.path.join(self.data_dir, name), "rb") as f:
                    data += f.read()
        assert data
        return data

    # -- HTTP ----------------------------------------------------------
    def connection(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, token=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data)
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def run(self, *args, input=None, env=None):
        """Runs another coopd subcommand against the same data dir and env."""
        e = dict(self.env)
        e.update(env or {})
        return subprocess.run([COOPD] + list(args), env=e, input=input, capture_output=True, timeout=300)


def assert_error_shape(resp, status):
    assert resp.status == status, (resp.status, resp.body[:500])
    obj = resp.json()
    err = obj["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    assert err["request_id"] == resp.header("X-Request-Id")


def run_tests(namespace):
    """Runs every test_* function of a module, reports, exits non-zero on failure."""
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_") and callable(f)]
    only = os.environ.get("E2E_ONLY")
    failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t = time.time()
        try:
            fn()
            print("ok   %s (%.2fs)" % (name, time.time() - t), flush=True)
        except Exception:
            failed += 1
            import traceback
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    print("%d failed of %d" % (failed, len(tests)))
    sys.exit(1 if failed else 0)

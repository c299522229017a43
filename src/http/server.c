/*
 * The HTTP server: libmicrohttpd with an epoll thread pool, and the request
 * life cycle on top of it.
 *
 * Each request goes through the access handler at least twice (the usual
 * two-phase pattern, which keeps connections alive): the first call matches
 * the route and checks the declared body size, the following calls collect
 * the body up to the route's limit, and the last one authenticates, runs the
 * handler and queues the answer. Errors found before the body is read
 * (unknown route, body too large) are answered at once, and libmicrohttpd
 * then closes the connection, which is what a client sending 30 MB to a
 * 25 MB route deserves.
 */
#include "http_int.h"
#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 96
#define MHD_MEMORY_LIMIT (32 * 1024) /* bounds the request line and headers */
#define BODY_PRESIZE_MAX (1u << 20)

struct coop_http_server {
    struct coop_http_options opt;
    struct MHD_Daemon *daemon;
    struct coop_http_route routes[MAX_ROUTES];
    size_t nroutes;
    atomic_int inflight;
    char *tls_cert_pem;
    char *tls_key_pem;
    bool auth_disabled; /* development without COOP_API_TOKEN */
    unsigned rate_per_minute; /* per token; 0: unlimited */
    atomic_bool stopping;     /* shutdown began: new requests get 503 */
};

/* ---- route matching ------------------------------------------------------- */

/* Matches path against pattern; captured {name} segments go to params. */
static bool match_pattern(const char *pattern, const char *path, struct request_state *st)
{
    const char *p = pattern, *u = path;
    int nparams = 0;
    char *out = st->param_buf;
    size_t room = sizeof st->param_buf;
    while (*p && *u) {
        if (*p == '{') {
            const char *end = strchr(u, '/');
            size_t n = end ? (size_t)(end - u) : strlen(u);
            if (n == 0 || n + 1 > room || nparams == COOP_HTTP_MAX_PARAMS)
                return false;
            memcpy(out, u, n);
            out[n] = '\0';
            st->req.params[nparams++] = out;
            out += n + 1;
            room -= n + 1;
            u += n;
            p = strchr(p, '}');
            if (!p)
                return false;
            p++;
        } else if (*p++ != *u++) {
            return false;
        }
    }
    return *p == '\0' && *u == '\0';
}

/* Finds the route; *path_known tells a 405 from a 404 when none is found. */
static const struct coop_http_route *find_route(struct coop_http_server *srv, const char *method,
                                                const char *path, struct request_state *st,
                                                bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct coop_http_route *r = &srv->routes[i];
        memset(st->req.params, 0, sizeof st->req.params);
        if (!match_pattern(r->pattern, path, st))
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
    }
    memset(st->req.params, 0, sizeof st->req.params);
    return NULL;
}

coop_err coop_http_add_route(struct coop_http_server *srv, const struct coop_http_route *route)
{
    if (srv->nroutes == MAX_ROUTES || !route->pattern || !route->method || !route->handler)
        return COOP_ERR_INVALID;
    srv->routes[srv->nroutes++] = *route;
    return COOP_ERR_OK;
}

/* ---- request ids ------------------------------------------------------------ */

static bool request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || n >= 64)
            return false;
    }
    return n >= 8;
}

/* A request id needs to be unique, not secret (clients may send their own,
 * and nothing keys on it): 32 hex digits, a random half drawn once per
 * thread and a per-thread counter, so that a request costs no getrandom(2)
 * call. Ids from different threads, restarts and instances differ by the
 * random half. */
static void new_request_id(char out[33])
{
    static _Thread_local char prefix[17];
    static _Thread_local uint64_t counter;
    static const char hex[] = "0123456789abcdef";
    if (!prefix[0])
        coop_random_hex(prefix, 8);
    uint64_t n = ++counter;
    memcpy(out, prefix, 16);
    for (int i = 31; i >= 16; i--, n >>= 4)
        out[i] = hex[n & 15];
    out[32] = '\0';
}

/* ---- responses ------------------------------------------------------------ */

static void add_common_headers(struct MHD_Response *r, const struct request_state *st,
                               const char *content_type)
{
    MHD_add_response_header(r, "Content-Type", content_type ? content_type : "application/json");
    MHD_add_response_header(r, "X-Request-Id", st->request_id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result queue_response(struct MHD_Connection *conn, struct request_state *st,
                                      struct coop_http_response *res)
{
    size_t len;
    char *body = coop_buf_steal(&res->body, &len);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    add_common_headers(r, st, res->content_type);
    for (size_t i = 0; i < res->nheaders; i++)
        MHD_add_response_header(r, res->header_names[i], res->header_values[i]);
    st->status = res->status;
    enum MHD_Result ret = MHD_queue_response(conn, res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, struct request_state *st,
                                   unsigned status, const char *code, const char *message)
{
    struct coop_http_response res;
    coop_http_response_init_(&res);
    coop_http_error(&res, &st->req, status, code, message);
    if (status == 401)
        coop_http_set_header(&res, "WWW-Authenticate", "Bearer realm=\"coop\"");
    if (status == 405 && st->allow[0])
        coop_http_set_header(&res, "Allow", st->allow);
    enum MHD_Result ret = queue_response(conn, st, &res);
    coop_http_response_dispose_(&res);
    return ret;
}

/* ---- authentication ------------------------------------------------------- */

/* Resolves the principal from the Authorization header. Returns 0 when the
 * request may go on, or the status to answer (401, 403). */
static unsigned authenticate(struct coop_http_server *srv, struct request_state *st,
                             const struct coop_http_route *route)
{
    struct coop_principal *p = &st->req.principal;
    const char *auth = coop_http_header(&st->req, "Authorization");
    const char *api_token = srv->opt.config->api_token;
    memset(p, 0, sizeof *p);
    /* Anthropic's clients send their key as x-api-key. */
    const char *api_key =
        route->scope & COOP_ROUTE_ANTHROPIC ? coop_http_header(&st->req, "x-api-key") : NULL;

    if ((auth && strncasecmp(auth, "Bearer ", 7) == 0) || (!auth && api_key)) {
        const char *tok = auth ? auth + 7 : api_key;
        while (*tok == ' ')
            tok++;
        size_t n = strnlen(tok, 1024);
        if (api_token && coop_ct_equal(tok, n, api_token, strlen(api_token))) {
            p->scopes = COOP_SCOPE_ALL;
            coop_strlcpy(p->token_id, "env", sizeof p->token_id);
        } else if (!srv->opt.store || coop_auth_token_lookup(srv->opt.store, tok, p) != COOP_ERR_OK) {
            memset(p, 0, sizeof *p);
        }
    } else if (srv->auth_disabled) {
        p->scopes = COOP_SCOPE_ALL;
        coop_strlcpy(p->token_id, "dev", sizeof p->token_id);
    }

    unsigned need = route->scope & COOP_SCOPE_ALL;
    if (need == 0 || route->self_authenticated)
        return 0;
    if ((route->scope & COOP_ROUTE_DEV_OPEN) && !srv->opt.config->production)
        return 0;
    if (p->scopes == 0)
        return 401;
    if ((p->scopes & need) == 0)
        return 403;
    return 0;
}

/* ---- the access handler --------------------------------------------------- */

static struct request_state *begin_request(struct coop_http_server *srv,
                                           struct MHD_Connection *conn, const char *url,
                                           const char *method)
{
    struct request_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->srv = srv;
    st->conn = conn;
    st->req.internal = st;
    st->req.start_ns = coop_clock_mono_ns();
    coop_strlcpy(st->method, method, sizeof st->method);
    st->req.method = st->method;
    st->path = strdup(url);
    st->req.path = st->path ? st->path : "";
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && request_id_ok(rid))
        coop_strlcpy(st->request_id, rid, sizeof st->request_id);
    else
        new_request_id(st->request_id);
    st->req.request_id = st->request_id;
    coop_buf_init(&st->body, 0);
    atomic_fetch_add(&srv->inflight, 1);
    return st;
}

/* Builds the Allow header of a path that exists under other methods. */
static void fill_allow(struct coop_http_server *srv, struct request_state *st)
{
    struct request_state scratch;
    st->allow[0] = '\0';
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (!match_pattern(srv->routes[i].pattern, st->req.path, &scratch))
            continue;
        if (st->allow[0])
            strncat(st->allow, ", ", sizeof st->allow - strlen(st->allow) - 1);
        strncat(st->allow, srv->routes[i].method, sizeof st->allow - strlen(st->allow) - 1);
    }
}

static enum MHD_Result first_call(struct coop_http_server *srv, struct request_state *st)
{
    bool path_known;
    st->route = find_route(srv, st->method, st->req.path, st, &path_known);
    if (!st->route) {
        st->route_label = "unmatched";
        if (path_known) {
            fill_allow(srv, st);
            st->early_status = 405;
        } else {
            st->early_status = 404;
        }
        return MHD_YES;
    }
    st->req.route = st->route->pattern;
    st->route_label = st->route->pattern;
    st->body.max = st->route->max_body;
    const char *cl = MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, "Content-Length");
    int64_t declared = 0;
    if (cl && (coop_parse_i64(cl, &declared) || declared < 0 ||
               (uint64_t)declared > st->route->max_body)) {
        return queue_error(st->conn, st, 413, "payload_too_large",
                           "the request body is larger than this endpoint accepts");
    }
    /* One allocation for a body of announced size, up to a bound, so that a
     * client cannot make the server reserve memory it never sends. */
    if (cl && declared > 0)
        (void)coop_buf_reserve(&st->body,
                               (size_t)(declared < BODY_PRESIZE_MAX ? declared : BODY_PRESIZE_MAX));
    return MHD_YES;
}

static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[64] = "?";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
    }
    snprintf(out, size, "a:%s", addr);
}

static enum MHD_Result run_handler(struct coop_http_server *srv, struct request_state *st)
{
    unsigned deny = authenticate(srv, st, st->route);
    if (deny == 401)
        return queue_error(st->conn, st, 401, "unauthorized", "a valid bearer token is required");
    if (deny == 403)
        return queue_error(st->conn, st, 403, "forbidden", "the token lacks the scope this needs");

    /* Webhooks are limited by their senders' own retry logic; everything
     * else is limited per token (or per client address without one). */
    if (srv->rate_per_minute && !st->route->self_authenticated && st->route->scope) {
        char who[96];
        if (st->req.principal.token_id[0] && strcmp(st->req.principal.token_id, "dev") != 0)
            snprintf(who, sizeof who, "t:%s", st->req.principal.token_id);
        else
            client_address(st->conn, who, sizeof who);
        double wait = coop_ratelimit_take(who, srv->rate_per_minute, coop_clock_mono_ns());
        if (wait > 0) {
            char retry[24];
            struct coop_http_response res;
            coop_http_response_init_(&res);
            coop_http_error(&res, &st->req, 429, "rate_limited",
                            "too many requests for this token; retry later");
            snprintf(retry, sizeof retry, "%d", (int)wait + 1);
            coop_http_set_header(&res, "Retry-After", retry);
            enum MHD_Result ret = queue_response(st->conn, st, &res);
            coop_http_response_dispose_(&res);
            return ret;
        }
    }

    static const char empty[] = "";
    st->req.body = st->body.data ? st->body.data : empty;
    st->req.body_len = st->body.len;

    struct coop_http_response res;
    coop_http_response_init_(&res);
    coop_log_set_request_id(st->request_id);
    st->route->handler(&st->req, &res, st->route->ctx);
    coop_log_set_request_id(NULL);

    enum MHD_Result ret;
    if (st->stream)
        ret = coop_http_stream_queue_(st->stream, st->conn, &res);
    else
        ret = queue_response(st->conn, st, &res);
    coop_http_response_dispose_(&res);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct coop_http_server *srv = cls;
    struct request_state *st = *con_cls;
    if (!st) {
        st = begin_request(srv, conn, url, method);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return first_call(srv, st);
    }
    if (st->stream) /* a held stream whose producer has now decided */
        return coop_http_stream_queue_(st->stream, conn, NULL);
    if (*upload_data_size) {
        /* A body trickling in slower than the deadline allows is a slow-body
         * attack or a broken client: drop the connection. */
        if (coop_clock_mono_ns() - st->req.start_ns > (int64_t)srv->opt.config->body_timeout_s * 1000000000) {
            st->status = 408;
            return MHD_NO;
        }
        if (!st->early_status && !st->body_too_large &&
            coop_buf_append(&st->body, upload_data, *upload_data_size) != COOP_ERR_OK)
            st->body_too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&srv->stopping)) {
        return queue_error(conn, st, 503, "shutting_down", "the server is shutting down");
    }
    if (st->early_status == 404)
        return queue_error(conn, st, 404, "not_found", "no such endpoint");
    if (st->early_status == 405)
        return queue_error(conn, st, 405, "method_not_allowed",
                           "this endpoint does not accept that method");
    if (st->body_too_large)
        return queue_error(conn, st, 413, "payload_too_large",
                           "the request body is larger than this endpoint accepts");
    return run_handler(srv, st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct coop_http_server *srv = cls;
    struct request_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    double secs = (double)(coop_clock_mono_ns() - st->req.start_ns) / 1e9;
    unsigned status = st->status ? st->status : 499; /* client went away first */
    if (st->stream)
        status = coop_http_stream_status_(st->stream);
    coop_http_metrics_record_(st->method, st->route_label ? st->route_label : "unmatched", status,
                              secs);
    if (!st->quiet) {
        coop_log_set_request_id(st->request_id);
        coop_log_info("request", COOP_F_STR("method", st->method),
                      COOP_F_STR("route", st->route_label ? st->route_label : "unmatched"),
                      COOP_F_INT("status", status), COOP_F_DBL("duration_ms", secs * 1000.0),
                      COOP_F_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
        coop_log_set_request_id(NULL);
    }
    if (st->stream)
        coop_http_stream_release_(st->stream);
    coop_buf_dispose(&st->body);
    free(st->path);
    free(st);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* libmicrohttpd's own diagnostics: logged without their text, which can
 * quote request bytes. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    coop_log_debug("libmicrohttpd diagnostic");
}

/* ---- life cycle ------------------------------------------------------------ */

static coop_err read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return COOP_ERR_IO;
    struct coop_buf b;
    char chunk[4096];
    size_t n;
    coop_err err = COOP_ERR_OK;
    coop_buf_init(&b, 1 << 20);
    while (!err && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        err = coop_buf_append(&b, chunk, n);
    fclose(f);
    if (err) {
        coop_buf_dispose(&b);
        return err;
    }
    *out = coop_buf_steal(&b, NULL);
    return COOP_ERR_OK;
}

/* A libmicrohttpd panic still ends the process, but with a JSON log line
 * naming where, so the log stays machine-readable. */
static void on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    coop_log_error("libmicrohttpd panic", COOP_F_STR("file", file), COOP_F_INT("line", line));
    abort();
}

coop_err coop_http_new(const struct coop_http_options *opt, struct coop_http_server **out)
{
    MHD_set_panic_func(on_mhd_panic, NULL);
    struct coop_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return COOP_ERR_NOMEM;
    srv->opt = *opt;
    srv->auth_disabled = !opt->config->api_token && !opt->config->production;
    srv->rate_per_minute = opt->config->rate_limit;
    *out = srv;
    return COOP_ERR_OK;
}

static coop_err make_address(const struct coop_config *cfg, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    const char *host = cfg->listen_host;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->listen_port);
        return COOP_ERR_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->listen_port);
        return COOP_ERR_OK;
    }
    return COOP_ERR_CONFIG;
}

coop_err coop_http_start(struct coop_http_server *srv, uint16_t *port)
{
    const struct coop_config *cfg = srv->opt.config;
    struct sockaddr_storage addr;
    if (make_address(cfg, &addr)) {
        coop_log_error("COOP_LISTEN is not a numeric address");
        return COOP_ERR_CONFIG;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (srv->opt.no_listen)
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    bool tls = cfg->tls_cert[0] != '\0';
    if (tls) {
        if (read_file(cfg->tls_cert, &srv->tls_cert_pem) ||
            read_file(cfg->tls_key, &srv->tls_key_pem)) {
            coop_log_error("cannot read the TLS certificate or key", COOP_F_STR("variable", "COOP_TLS_CERT"));
            return COOP_ERR_CONFIG;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    srv->daemon = MHD_start_daemon(
        flags, cfg->listen_port, NULL, NULL, on_request, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_MEMORY_LIMIT,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_ARRAY, tls ? tls_opts : no_opts,
        MHD_OPTION_END);
    if (!srv->daemon) {
        coop_log_error("cannot listen", COOP_F_STR("address", cfg->listen_host),
                       COOP_F_INT("port", cfg->listen_port));
        return COOP_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (port)
        *port = info ? info->port : cfg->listen_port;
    return COOP_ERR_OK;
}

coop_err coop_http_add_connection(struct coop_http_server *srv, int fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (!srv->daemon)
        return COOP_ERR_INVALID;
    return MHD_add_connection(srv->daemon, fd, (struct sockaddr *)&addr, sizeof addr) == MHD_YES
               ? COOP_ERR_OK
               : COOP_ERR_IO;
}

void coop_http_shutdown(struct coop_http_server *srv, int grace_ms)
{
    if (!srv->daemon)
        return;
    /* libmicrohttpd 0.9.75's MHD_quiesce_daemon() can abort the process in
     * epoll thread-pool mode ("Failed to remove listen FD from epoll set")
     * when the listen socket was already out of the epoll set (connection
     * limit reached), so the server stays listening and answers what
     * arrives during the grace period with 503 and Connection: close. */
    atomic_store(&srv->stopping, true);
    int64_t deadline = coop_clock_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&srv->inflight) > 0 && coop_clock_mono_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    coop_http_streams_abort_all_(srv);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
}

void coop_http_free(struct coop_http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        coop_http_shutdown(srv, 0);
    free(srv->tls_cert_pem);
    if (srv->tls_key_pem) {
        memset(srv->tls_key_pem, 0, strlen(srv->tls_key_pem));
        free(srv->tls_key_pem);
    }
    free(srv);
}

struct coop_store *coop_http_store_(struct coop_http_server *srv)
{
    return srv->opt.store;
}

const struct coop_config *coop_http_config_(struct coop_http_server *srv)
{
    return srv->opt.config;
}

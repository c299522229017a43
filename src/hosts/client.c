/*
 * The HTTP side of the code-host clients: one libcurl easy request per
 * call, with the token in an Authorization header (never in a URL, so it
 * cannot reach a log line or the ETag cache's keys), certificate
 * verification on, a timeout, a response size cap, and the rate-limit and
 * Link headers read as they arrive. ETags and the bodies they validate are
 * kept in the hosts_etags table so a later 304 answers from there.
 */
#include "hosts_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct coop_hosts_client {
    const struct coop_host_ops *ops;
    char base[COOP_HOSTS_URL_MAX];
    char *token; /* sodium_malloc'd, or NULL */
    /* With a GitHub App, the token is the installation token for project,
     * fetched on first use and again when the host answers 401. */
    struct coop_github_app *app;
    char project[512];
    struct coop_store *store;
    long timeout_ms;
    size_t max_body;
    int64_t retry_at_ms;
    /* Kept across requests so its connection (and TLS session) is reused:
     * a backfill makes one request per commit. A client is used by one
     * thread at a time (one job). */
    CURL *h;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- URL checks ---------------------------------------------------------- */

static bool host_is_loopback(const char *h, size_t n)
{
    if (n == 9 && !strncasecmp(h, "localhost", 9))
        return true;
    if (n == 5 && !strncmp(h, "[::1]", 5))
        return true;
    /* 127.0.0.0/8, written as an address (127.0.0.1.example.com is a name). */
    if (n < 7 || strncmp(h, "127.", 4))
        return false;
    for (size_t i = 4; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return false;
    return true;
}

/* https, or http to a loopback address (the emulator in tests). */
static bool url_allowed(const char *url)
{
    if (!strncmp(url, "https://", 8))
        return url[8] != '\0';
    if (strncmp(url, "http://", 7))
        return false;
    const char *h = url + 7, *end = h;
    if (*h == '[')
        end = strchr(h, ']') ? strchr(h, ']') + 1 : h;
    else
        while (*end && *end != ':' && *end != '/')
            end++;
    return host_is_loopback(h, (size_t)(end - h));
}

/* True when url is base itself or below it (base has no trailing slash). */
static bool url_under(const char *base, const char *url)
{
    size_t n = strlen(base);
    return !strncmp(url, base, n) && (url[n] == '\0' || url[n] == '/' || url[n] == '?');
}

coop_err coop_hosts_client_new(const struct coop_hosts_client_options *opt,
                               struct coop_hosts_client **out)
{
    *out = NULL;
    if (!opt || !opt->ops || !opt->base_url || !url_allowed(opt->base_url))
        return COOP_ERR_CONFIG;
    size_t n = strlen(opt->base_url);
    while (n > 0 && opt->base_url[n - 1] == '/')
        n--;
    if (n == 0 || n >= COOP_HOSTS_URL_MAX)
        return COOP_ERR_CONFIG;
    pthread_once(&curl_once, curl_init_once);
    struct coop_hosts_client *c = calloc(1, sizeof *c);
    if (!c)
        return COOP_ERR_NOMEM;
    c->ops = opt->ops;
    memcpy(c->base, opt->base_url, n);
    c->base[n] = '\0';
    c->store = opt->store;
    c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 30000;
    c->max_body = opt->max_body ? opt->max_body : COOP_HOSTS_MAX_BODY;
    c->app = opt->app;
    if (opt->app && (!opt->project || coop_strlcpy(c->project, opt->project, sizeof c->project) >=
                                          sizeof c->project)) {
        free(c);
        return COOP_ERR_CONFIG;
    }
    if (!opt->app && opt->token && *opt->token) {
        size_t tl = strlen(opt->token);
        /* A token with a line break would forge headers. */
        if (strpbrk(opt->token, "\r\n") || tl > 4096) {
            free(c);
            return COOP_ERR_CONFIG;
        }
        c->token = sodium_malloc(tl + 1);
        if (!c->token) {
            free(c);
            return COOP_ERR_NOMEM;
        }
        memcpy(c->token, opt->token, tl + 1);
        coop_log_register_secret(opt->token);
    }
    *out = c;
    return COOP_ERR_OK;
}

void coop_hosts_client_free(struct coop_hosts_client *c)
{
    if (!c)
        return;
    if (c->token)
        sodium_free(c->token);
    if (c->h)
        curl_easy_cleanup(c->h);
    free(c);
}

coop_err coop_hosts_client_base(const struct coop_hosts_client *c, struct coop_buf *url)
{
    coop_buf_reset(url);
    return coop_buf_puts(url, c->base);
}

const struct coop_host_ops *coop_hosts_client_ops(const struct coop_hosts_client *c)
{
    return c->ops;
}

int64_t coop_hosts_client_retry_at(const struct coop_hosts_client *c)
{
    return c->retry_at_ms;
}

/* ---- headers ------------------------------------------------------------- */

void coop_hosts_link_next(const char *v, size_t len, char *out, size_t out_size)
{
    out[0] = '\0';
    const char *end = v + len;
    while (v < end) {
        const char *lt = memchr(v, '<', (size_t)(end - v));
        if (!lt)
            return;
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt)
            return;
        const char *comma = memchr(gt, ',', (size_t)(end - gt));
        const char *stop = comma ? comma : end;
        /* The parameters of this link: look for rel="next" (or rel=next). */
        bool next = false;
        for (const char *p = gt; p + 3 < stop; p++) {
            if (!strncasecmp(p, "rel=", 4)) {
                const char *q = p + 4;
                if (*q == '"')
                    q++;
                /* rel may list several space-separated types. */
                while (q < stop && *q != '"' && *q != ';') {
                    const char *w = q;
                    while (q < stop && *q != ' ' && *q != '"' && *q != ';')
                        q++;
                    if (q - w == 4 && !strncasecmp(w, "next", 4))
                        next = true;
                    while (q < stop && *q == ' ')
                        q++;
                }
            }
        }
        size_t ul = (size_t)(gt - lt - 1);
        if (next && ul < out_size) {
            memcpy(out, lt + 1, ul);
            out[ul] = '\0';
            return;
        }
        v = stop + (comma ? 1 : 0);
    }
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
        return false;
    const char *v = line + n + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    *value = v;
    *vlen = (size_t)(e - v);
    return true;
}

static bool parse_num(const char *v, size_t n, int64_t *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    return coop_parse_i64(tmp, out) == COOP_ERR_OK;
}

void coop_hosts_response_header(struct coop_hosts_response *r, const char *line, size_t len,
                                int64_t now_ms)
{
    const char *v;
    size_t n;
    int64_t x;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new response (after a redirect or 100): forget the last one's. */
        r->etag[0] = r->next_url[0] = '\0';
        r->retry_at_ms = r->reset_ms = 0;
        r->remaining = -1;
        return;
    }
    if (header_is(line, len, "ETag", &v, &n)) {
        if (n < sizeof r->etag) {
            memcpy(r->etag, v, n);
            r->etag[n] = '\0';
        }
    } else if (header_is(line, len, "Link", &v, &n)) {
        coop_hosts_link_next(v, n, r->next_url, sizeof r->next_url);
    } else if (header_is(line, len, "Retry-After", &v, &n)) {
        if (parse_num(v, n, &x) && x >= 0 && x < 86400 * 7)
            r->retry_at_ms = now_ms + x * 1000;
        /* An HTTP-date Retry-After is rare on these APIs; the default applies. */
    } else if (header_is(line, len, "X-RateLimit-Remaining", &v, &n) ||
               header_is(line, len, "RateLimit-Remaining", &v, &n)) {
        if (parse_num(v, n, &x))
            r->remaining = x;
    } else if (header_is(line, len, "X-RateLimit-Reset", &v, &n) ||
               header_is(line, len, "RateLimit-Reset", &v, &n)) {
        /* GitHub and GitLab send epoch seconds. */
        if (parse_num(v, n, &x) && x > 0 && x < INT64_MAX / 1000)
            r->reset_ms = x * 1000;
    }
}

coop_err coop_hosts_classify(struct coop_hosts_response *r, int64_t now_ms)
{
    long s = r->status;
    if ((s >= 200 && s < 300) || s == 304)
        return COOP_ERR_OK;
    bool limited = s == 429;
    if (s == 403) {
        limited = r->remaining == 0 || r->retry_at_ms > 0 ||
                  (r->body.data && strstr(r->body.data, "secondary rate limit")) ||
                  (r->body.data && strstr(r->body.data, "rate limit exceeded"));
    }
    if (limited) {
        if (r->retry_at_ms <= now_ms && r->reset_ms > now_ms)
            r->retry_at_ms = r->reset_ms;
        if (r->retry_at_ms <= now_ms)
            r->retry_at_ms = now_ms + 60000;
        return COOP_ERR_RATE_LIMITED;
    }
    switch (s) {
    case 401:
        return COOP_ERR_AUTH;
    case 403:
        return COOP_ERR_FORBIDDEN;
    case 404:
    case 410:
        return COOP_ERR_NOT_FOUND;
    default:
        return COOP_ERR_UPSTREAM;
    }
}

/* ---- the ETag cache ------------------------------------------------------ */

struct cached {
    char etag[256];
    struct coop_buf *body;
    bool found;
};

static coop_err cached_row(void *ctx, const struct coop_row *row)
{
    struct cached *c = ctx;
    size_t n = 0;
    const char *etag = coop_row_text(row, 0, NULL);
    const char *body = coop_row_blob(row, 1, &n);
    coop_strlcpy(c->etag, etag ? etag : "", sizeof c->etag);
    coop_buf_reset(c->body);
    if (body && coop_buf_append(c->body, body, n))
        return COOP_ERR_OK;
    c->found = c->etag[0] != '\0';
    return COOP_ERR_OK;
}

static void etag_load(struct coop_hosts_client *c, const char *url, struct cached *out)
{
    if (!c->store)
        return;
    coop_store_query(c->store, "SELECT etag, body FROM hosts_etags WHERE url = ?",
                     COOP_PARAMS(COOP_PT(url)), cached_row, out);
}

static void etag_save(struct coop_hosts_client *c, const char *url,
                      const struct coop_hosts_response *r)
{
    if (!c->store || !r->etag[0])
        return;
    coop_err err = coop_store_exec(
        c->store,
        "INSERT INTO hosts_etags (url, etag, body, stored_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, body = excluded.body,"
        " stored_at = excluded.stored_at",
        COOP_PARAMS(COOP_PT(url), COOP_PT(r->etag), COOP_PB(r->body.data, r->body.len),
                    COOP_PI(coop_clock_now_ms())),
        NULL);
    if (err)
        coop_log_warn("hosts: etag not cached", COOP_F_ERR(err));
}

/* ---- the request --------------------------------------------------------- */

struct xfer {
    struct coop_hosts_response *r;
    bool too_large;
    int64_t now_ms;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (coop_buf_append(&x->r->body, p, n)) {
        x->too_large = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    coop_hosts_response_header(x->r, p, n, x->now_ms);
    return n;
}

void coop_hosts_response_dispose(struct coop_hosts_response *r)
{
    coop_buf_dispose(&r->body);
}

static coop_err transport_error(CURLcode rc, bool too_large)
{
    if (too_large)
        return COOP_ERR_TOO_LARGE;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return COOP_ERR_TIMEOUT;
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SEND_ERROR ||
        rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
        return COOP_ERR_UNAVAILABLE;
    return COOP_ERR_IO;
}

/* One request: method GET or POST (with an empty body); bearer is the
 * token or NULL for none. */
static coop_err perform(struct coop_hosts_client *c, const char *method, const char *url,
                        const char *bearer, const char *if_none_match,
                        struct coop_hosts_response *r)
{
    if (!c->h && !(c->h = curl_easy_init()))
        return COOP_ERR_NOMEM;
    CURL *h = c->h;
    curl_easy_reset(h); /* options go, the connection cache stays */
    struct curl_slist *hdrs = NULL;
    struct coop_buf line;
    coop_buf_init(&line, 8192);
    coop_err err = COOP_ERR_OK;
    hdrs = curl_slist_append(hdrs, c->ops->kind == COOP_HOST_GITHUB
                                       ? "Accept: application/vnd.github+json"
                                       : "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "User-Agent: coopd/" COOP_VERSION);
    if (c->ops->kind == COOP_HOST_GITHUB)
        hdrs = curl_slist_append(hdrs, "X-GitHub-Api-Version: 2022-11-28");
    if (bearer) {
        /* Built in a buffer that is wiped before it is freed. */
        if (coop_buf_printf(&line, "Authorization: Bearer %s", bearer) == COOP_ERR_OK)
            hdrs = curl_slist_append(hdrs, line.data);
        sodium_memzero(line.data, line.len);
    }
    if (if_none_match) {
        coop_buf_reset(&line);
        if (coop_buf_printf(&line, "If-None-Match: %s", if_none_match) == COOP_ERR_OK)
            hdrs = curl_slist_append(hdrs, line.data);
    }
    struct xfer x = {.r = r, .now_ms = coop_clock_now_ms()};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    /* Redirects are not followed: the Authorization header must not travel
     * to wherever a host points. GitLab's raw files and Bitbucket's src
     * answer directly. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        err = transport_error(rc, x.too_large);
        coop_log_warn("hosts: request failed", COOP_F_STR("host", c->ops->name),
                      COOP_F_STR("curl", curl_easy_strerror(rc)));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_slist_free_all(hdrs); /* the slist copy of the header is not wiped by curl */
    coop_buf_dispose(&line);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    return err;
}

/* Sets the client's token to the app's installation token for its project. */
static coop_err app_token(struct coop_hosts_client *c, bool refresh)
{
    struct coop_buf tok;
    coop_buf_init(&tok, 4096);
    coop_err err = coop_github_app_token(c->app, c, c->project, refresh, &tok);
    if (!err) {
        char *copy = sodium_malloc(tok.len + 1);
        if (!copy) {
            err = COOP_ERR_NOMEM;
        } else {
            memcpy(copy, tok.data, tok.len);
            copy[tok.len] = '\0';
            if (c->token)
                sodium_free(c->token);
            c->token = copy;
        }
    }
    if (tok.data)
        sodium_memzero(tok.data, tok.len);
    coop_buf_dispose(&tok);
    return err;
}

coop_err coop_hosts_request_(struct coop_hosts_client *c, const char *method, const char *url,
                             const char *bearer, struct coop_hosts_response *r)
{
    memset(r, 0, sizeof *r);
    r->remaining = -1;
    coop_buf_init(&r->body, c->max_body);
    if (!url_under(c->base, url) || strpbrk(url, "\r\n \t"))
        return COOP_ERR_FORBIDDEN;
    coop_err err = perform(c, method, url, bearer, NULL, r);
    if (!err)
        err = coop_hosts_classify(r, coop_clock_now_ms());
    if (err == COOP_ERR_RATE_LIMITED)
        c->retry_at_ms = r->retry_at_ms; /* the job waits as for any call */
    return err;
}

coop_err coop_hosts_get(struct coop_hosts_client *c, const char *url, bool use_etag,
                        struct coop_hosts_response *r)
{
    memset(r, 0, sizeof *r);
    r->remaining = -1;
    coop_buf_init(&r->body, c->max_body);
    if (!url_under(c->base, url) || strpbrk(url, "\r\n \t")) {
        coop_log_warn("hosts: URL outside the configured base refused",
                      COOP_F_STR("host", c->ops->name));
        return COOP_ERR_FORBIDDEN;
    }
    struct coop_buf cached_body;
    coop_buf_init(&cached_body, c->max_body);
    struct cached cache = {.body = &cached_body};
    if (use_etag)
        etag_load(c, url, &cache);
    coop_err err = COOP_ERR_OK;
    if (c->app && !c->token)
        err = app_token(c, false);
    if (!err)
        err = perform(c, "GET", url, c->token, cache.found ? cache.etag : NULL, r);
    if (!err && c->app && r->status == 401) {
        /* Revoked or expired early: one new installation token, one retry. */
        coop_log_info("hosts: GitHub App installation token refused, refreshing");
        err = app_token(c, true);
        coop_hosts_response_dispose(r);
        memset(r, 0, sizeof *r);
        r->remaining = -1;
        coop_buf_init(&r->body, c->max_body);
        if (!err)
            err = perform(c, "GET", url, c->token, cache.found ? cache.etag : NULL, r);
    }
    if (!err) {
        if (r->status == 304 && cache.found) {
            coop_buf_reset(&r->body);
            err = coop_buf_append(&r->body, cached_body.data, cached_body.len);
            r->not_modified = true;
            coop_strlcpy(r->etag, cache.etag, sizeof r->etag);
        } else if (r->status == 304) {
            r->status = 502; /* a 304 for a request that was not conditional */
        }
    }
    coop_buf_dispose(&cached_body);
    if (err)
        return err;
    err = coop_hosts_classify(r, coop_clock_now_ms());
    if (err == COOP_ERR_RATE_LIMITED) {
        c->retry_at_ms = r->retry_at_ms;
        coop_log_info("hosts: rate limited", COOP_F_STR("host", c->ops->name),
                      COOP_F_INT("status", r->status),
                      COOP_F_INT("wait_ms", r->retry_at_ms - coop_clock_now_ms()));
    }
    if (!err && use_etag && !r->not_modified && r->status == 200)
        etag_save(c, url, r);
    return err;
}

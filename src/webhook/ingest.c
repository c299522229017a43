/*
 * Ingestion: POST /webhooks/<source> verifies, parses once to refuse
 * malformed JSON, and hands the delivery to the committer. The committer
 * thread takes every delivery waiting at that moment and writes their rows
 * and jobs in one durable transaction (group commit: one fsync for many
 * requests), then wakes the waiting requests, which answer 202 (or 200 for a
 * duplicate). A request therefore never answers before its delivery is on
 * disk, and under load each commit carries as many deliveries as arrived
 * during the previous one.
 */
#include "webhook_int.h"

#include "coop/http.h"
#include "coop/jobs.h"
#include "coop/metrics.h"
#include "main/app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_GROUP 512
#define JSON_DEPTH 128

const struct coop_migration coop_webhook_migrations[] = {
    {"webhook.001",
     "CREATE TABLE coop_webhook_deliveries ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " source TEXT NOT NULL,"
     " delivery TEXT NOT NULL,"
     " event TEXT NOT NULL,"
     " received_at BIGINT NOT NULL,"
     " body BLOB NOT NULL,"
     " processed_at BIGINT,"
     " process_count INTEGER NOT NULL DEFAULT 0,"
     " events INTEGER,"
     " summary TEXT,"
     " UNIQUE (source, delivery));",
     "CREATE TABLE coop_webhook_deliveries ("
     " id BIGSERIAL PRIMARY KEY,"
     " source TEXT NOT NULL,"
     " delivery TEXT NOT NULL,"
     " event TEXT NOT NULL,"
     " received_at BIGINT NOT NULL,"
     " body BYTEA NOT NULL,"
     " processed_at BIGINT,"
     " process_count INTEGER NOT NULL DEFAULT 0,"
     " events INTEGER,"
     " summary TEXT,"
     " UNIQUE (source, delivery));"},
    /* What processing recorded lives apart from the (large) body, so that
     * recording it does not rewrite the body's pages. */
    {"webhook.002",
     "CREATE TABLE coop_webhook_processed ("
     " delivery_id INTEGER PRIMARY KEY,"
     " processed_at BIGINT NOT NULL,"
     " process_count INTEGER NOT NULL,"
     " events INTEGER NOT NULL,"
     " summary TEXT);"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN processed_at;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN process_count;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN events;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN summary;",
     "CREATE TABLE coop_webhook_processed ("
     " delivery_id BIGINT PRIMARY KEY,"
     " processed_at BIGINT NOT NULL,"
     " process_count INTEGER NOT NULL,"
     " events INTEGER NOT NULL,"
     " summary TEXT);"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN processed_at;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN process_count;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN events;"
     "ALTER TABLE coop_webhook_deliveries DROP COLUMN summary;"},
    /* Bodies are stored deflated (zlib) when that makes them smaller: a
     * 10 KB push then fits in its table page instead of spilling into
     * three overflow pages, a third of what each delivery writes. */
    {"webhook.003",
     "ALTER TABLE coop_webhook_deliveries ADD COLUMN body_encoding TEXT NOT NULL"
     " DEFAULT 'identity';",
     "ALTER TABLE coop_webhook_deliveries ADD COLUMN body_encoding TEXT NOT NULL"
     " DEFAULT 'identity';"},
    {NULL, NULL, NULL},
};

const struct coop_webhook_source *const coop_webhook_sources[] = {
    &coop_webhook_github, &coop_webhook_gitlab, &coop_webhook_bitbucket, &coop_webhook_slack, NULL,
};

const struct coop_webhook_source *coop_webhook_source_find(const char *name)
{
    for (size_t i = 0; coop_webhook_sources[i]; i++)
        if (!strcmp(coop_webhook_sources[i]->name, name))
            return coop_webhook_sources[i];
    return NULL;
}

/* ---- the committer ---------------------------------------------------------- */

/* A delivery waiting for its commit. It owns its body and the producer's
 * side of the held response stream; the committer answers and frees it. */
struct pending {
    const struct coop_webhook_source *src;
    char event[128];
    char delivery[160];
    char request_id[72];
    char *body;
    size_t len;
    bool deflated; /* body holds the zlib stream of the JSON text */
    int64_t received_ms;
    struct coop_http_stream *stream;
    bool duplicate;
    struct pending *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct pending *head, **tail;
    bool running, stop;
    pthread_t thread;
    struct coop_store *store;
    const struct coop_config *config;
} C = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

struct group {
    struct pending *items[MAX_GROUP];
    int n;
    int created;
};

static coop_err group_tx(struct coop_conn *conn, void *ctx)
{
    struct group *g = ctx;
    g->created = 0;
    for (int i = 0; i < g->n; i++) {
        struct pending *p = g->items[i];
        int64_t id = 0;
        p->duplicate = false;
        coop_err err = coop_conn_query_int(
            conn,
            "INSERT INTO coop_webhook_deliveries (source, delivery, event, received_at, body,"
            " body_encoding) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            COOP_PARAMS(COOP_PT(p->src->name), COOP_PT(p->delivery), COOP_PT(p->event),
                        COOP_PI(p->received_ms), COOP_PB(p->body, p->len),
                        COOP_PT(p->deflated ? "zlib" : "identity")),
            &id);
        if (err == COOP_ERR_NOT_FOUND) {
            p->duplicate = true;
            continue;
        }
        if (err)
            return err;
        char payload[24];
        snprintf(payload, sizeof payload, "%lld", (long long)id);
        struct coop_job_spec spec = {.kind = p->src->job_kind, .payload = payload};
        if ((err = coop_jobs_enqueue(conn, &spec, NULL, NULL)))
            return err;
        g->created++;
    }
    return COOP_ERR_OK;
}

enum result {
    RES_ACCEPTED,
    RES_DUPLICATE,
    RES_ERROR,
    RES_MALFORMED,
    RES_UNAUTHORIZED,
    RES_NOT_CONFIGURED,
    RES_CHALLENGE,
    NRESULTS
};

static const char *const result_names[NRESULTS] = {
    "accepted", "duplicate", "error", "malformed", "unauthorized", "not_configured", "challenge",
};

#define MAX_SOURCES 8

/* Series looked up once per source and result, not once per delivery. */
static struct coop_metric *_Atomic counters[MAX_SOURCES][NRESULTS];

static void count(const struct coop_webhook_source *src, enum result r)
{
    size_t i = 0;
    while (coop_webhook_sources[i] && coop_webhook_sources[i] != src)
        i++;
    struct coop_metric *m = i < MAX_SOURCES ? atomic_load(&counters[i][r]) : NULL;
    if (!m) {
        char labels[96];
        snprintf(labels, sizeof labels, "source=\"%s\",result=\"%s\"", src->name, result_names[r]);
        m = coop_metric_get(COOP_METRIC_COUNTER, "coop_webhook_deliveries_total",
                            "Webhook deliveries by source and result", labels);
        if (i < MAX_SOURCES)
            atomic_store(&counters[i][r], m);
    }
    coop_metric_add(m, 1);
}

/* Answers p's held request (202, 200 for a duplicate, 503 when the commit
 * failed) and frees p. */
static void answer(struct pending *p, coop_err err)
{
    struct coop_buf b;
    unsigned status;
    coop_buf_init(&b, 1024);
    if (err) {
        status = 503;
        coop_buf_puts(&b, "{\"error\":{\"code\":\"store_unavailable\",\"message\":\"the delivery"
                          " could not be stored; retry later\",\"request_id\":");
        coop_buf_json_str(&b, p->request_id, strlen(p->request_id));
        coop_buf_puts(&b, "}}");
    } else {
        status = p->duplicate ? 200 : 202;
        coop_buf_puts(&b, "{\"delivery\":");
        coop_buf_json_str(&b, p->delivery, strlen(p->delivery));
        coop_buf_puts(&b, p->duplicate ? ",\"duplicate\":true}" : ",\"duplicate\":false}");
    }
    count(p->src, err ? RES_ERROR : p->duplicate ? RES_DUPLICATE : RES_ACCEPTED);
    coop_http_stream_reply(p->stream, status, "application/json", b.data, b.len);
    coop_buf_dispose(&b);
    free(p->body);
    free(p);
}

static void *committer_main(void *arg)
{
    static struct group g;
    /* deliveries_total / commits_total is the mean group size. */
    struct coop_metric *commits =
        coop_metric_get(COOP_METRIC_COUNTER, "coop_webhook_commits_total",
                        "Group commits of webhook deliveries (one fsync each)", NULL);
    struct coop_metric *commit_seconds =
        coop_metric_get(COOP_METRIC_HISTOGRAM, "coop_webhook_commit_seconds",
                        "Time to write and durably commit one group of webhook deliveries", NULL);
    pthread_mutex_lock(&C.lock);
    for (;;) {
        while (!C.head && !C.stop)
            pthread_cond_wait(&C.work, &C.lock);
        if (!C.head)
            break;
        g.n = 0;
        while (C.head && g.n < MAX_GROUP) {
            g.items[g.n++] = C.head;
            C.head = C.head->next;
        }
        if (!C.head)
            C.tail = &C.head;
        pthread_mutex_unlock(&C.lock);

        int64_t t0 = coop_clock_mono_ns();
        coop_err err = coop_jobs_write_tx(C.store, group_tx, &g);
        coop_metric_observe(commit_seconds, (double)(coop_clock_mono_ns() - t0) / 1e9);
        coop_metric_add(commits, 1);
        if (err)
            coop_log_error("webhook deliveries not stored", COOP_F_ERR(err),
                           COOP_F_INT("deliveries", g.n));
        else if (g.created)
            coop_jobs_notify();
        /* Only now, with the rows durable, does any request get its 2xx. */
        for (int i = 0; i < g.n; i++)
            answer(g.items[i], err);

        pthread_mutex_lock(&C.lock);
    }
    pthread_mutex_unlock(&C.lock);
    return NULL;
}

/* Queues p for the next group commit; false when the committer has stopped
 * (p is left to the caller). */
static bool submit(struct pending *p)
{
    pthread_mutex_lock(&C.lock);
    if (!C.running || C.stop) {
        pthread_mutex_unlock(&C.lock);
        return false;
    }
    p->next = NULL;
    bool idle = C.head == NULL;
    *C.tail = p;
    C.tail = &p->next;
    if (idle)
        pthread_cond_signal(&C.work);
    pthread_mutex_unlock(&C.lock);
    return true;
}

static coop_err committer_start(struct coop_store *store)
{
    pthread_mutex_lock(&C.lock);
    C.store = store;
    C.head = NULL;
    C.tail = &C.head;
    C.stop = false;
    bool ok = pthread_create(&C.thread, NULL, committer_main, NULL) == 0;
    C.running = ok;
    pthread_mutex_unlock(&C.lock);
    return ok ? COOP_ERR_OK : COOP_ERR_INTERNAL;
}

/* Commits and answers what is queued, then stops. */
static void committer_stop(void)
{
    pthread_mutex_lock(&C.lock);
    bool was = C.running;
    C.stop = true;
    pthread_cond_broadcast(&C.work);
    pthread_mutex_unlock(&C.lock);
    if (was)
        pthread_join(C.thread, NULL);
    pthread_mutex_lock(&C.lock);
    C.running = false;
    pthread_mutex_unlock(&C.lock);
}

/* ---- the HTTP side --------------------------------------------------------------- */

static const char *req_header(const void *ctx, const char *name)
{
    return coop_http_header(ctx, name);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* GitHub's form-encoded deliveries carry the JSON in "payload=": decoded
 * into a new buffer (the signature was checked on the raw form). */
static char *form_payload(const char *body, size_t len, size_t *out_len)
{
    const char *p = NULL;
    for (size_t i = 0; i + 8 <= len; i++) {
        if ((i == 0 || body[i - 1] == '&') && !memcmp(body + i, "payload=", 8)) {
            p = body + i + 8;
            break;
        }
    }
    if (!p)
        return NULL;
    const char *end = memchr(p, '&', (size_t)(body + len - p));
    if (!end)
        end = body + len;
    char *out = malloc((size_t)(end - p) + 1);
    size_t n = 0;
    for (; out && p < end; p++) {
        if (*p == '+') {
            out[n++] = ' ';
        } else if (*p == '%' && end - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[n++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    if (out)
        out[n] = '\0';
    *out_len = n;
    return out;
}

static void answer_challenge(struct coop_http_response *res, const char *challenge)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "challenge", json_object_new_string(challenge));
    coop_http_json(res, 200, o);
    json_object_put(o);
}

/*
 * Checks the JSON and names the delivery. A source that reads headers only
 * gets the body scanned (nothing built); the others get it parsed, and
 * Slack's deprecated verification token (a secret) is removed from the
 * text to be stored, which then replaces *text (owned by *decoded).
 */
static coop_err check_and_describe(const struct coop_webhook_source *src,
                                   const struct coop_webhook_input *in, const char **text,
                                   size_t *len, char **decoded, struct coop_webhook_meta *meta)
{
    if (src->describe_from_headers) {
        char root = 0;
        coop_err err = coop_json_validate(*text, *len, JSON_DEPTH, &root);
        if (!err && root != '{')
            err = COOP_ERR_PROTOCOL;
        return err ? err : src->describe(in, NULL, meta);
    }
    struct json_object *body = NULL;
    coop_err err = coop_json_parse(*text, *len, JSON_DEPTH, false, &body);
    if (!err && !json_object_is_type(body, json_type_object))
        err = COOP_ERR_PROTOCOL;
    if (!err)
        err = src->describe(in, body, meta);
    if (!err && src == &coop_webhook_slack && json_object_object_get_ex(body, "token", NULL)) {
        json_object_object_del(body, "token");
        char *scrubbed = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        free(*decoded);
        *decoded = scrubbed;
        *text = scrubbed;
        *len = scrubbed ? strlen(scrubbed) : 0;
        if (!scrubbed)
            err = COOP_ERR_NOMEM;
    }
    json_object_put(body);
    return err;
}

/* Bodies from this size on are stored deflated, when that is smaller. */
#define DEFLATE_FROM 1024

/* Replaces p's body with its zlib stream (level 1: about 3 us per KB here,
 * against JSON's usual ratio of 4 to 5), on the request's own thread, so
 * the committer writes fewer pages. Left as it is on any failure. */
static void deflate_body(struct pending *p)
{
    if (p->len < DEFLATE_FROM)
        return;
    uLongf n = compressBound((uLong)p->len);
    unsigned char *z = malloc(n);
    if (!z)
        return;
    if (compress2(z, &n, (const Bytef *)p->body, (uLong)p->len, 1) != Z_OK || n >= p->len) {
        free(z);
        return;
    }
    free(p->body);
    p->body = (char *)z;
    p->len = n;
    p->deflated = true;
}

static void webhook_route(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    const struct coop_webhook_source *src = ctx;
    struct coop_webhook_input in = {req->body, req->body_len, req_header, req, coop_clock_now_ms()};
    coop_err err = src->verify(C.config, &in);
    if (err == COOP_ERR_CONFIG) {
        count(src, RES_NOT_CONFIGURED);
        return coop_http_error(res, req, 401, "webhook_not_configured",
                               "no webhook secret is configured for this source");
    }
    if (err) {
        count(src, RES_UNAUTHORIZED);
        return coop_http_error(res, req, 401, "invalid_signature",
                               "the webhook signature is missing, wrong or stale");
    }
    /* Checked once: malformed JSON is refused before anything is stored. */
    size_t json_len = req->body_len;
    char *decoded = NULL;
    const char *ctype = coop_http_header(req, "Content-Type");
    if (ctype && !strncasecmp(ctype, "application/x-www-form-urlencoded", 33) &&
        src == &coop_webhook_github) {
        decoded = form_payload(req->body, req->body_len, &json_len);
        if (!decoded) {
            count(src, RES_MALFORMED);
            return coop_http_error(res, req, 400, "malformed", "the form has no payload field");
        }
    }
    const char *json_text = decoded ? decoded : req->body;
    struct coop_webhook_meta meta = {0};
    err = check_and_describe(src, &in, &json_text, &json_len, &decoded, &meta);
    if (err) {
        free(decoded);
        count(src, RES_MALFORMED);
        return coop_http_error(res, req, 400, "malformed",
                               "the body is not a JSON event this source sends");
    }
    if (meta.challenge) {
        free(decoded);
        count(src, RES_CHALLENGE);
        return answer_challenge(res, meta.challenge_value);
    }
    struct pending *p = calloc(1, sizeof *p);
    if (p) {
        p->src = src;
        coop_strlcpy(p->event, meta.event, sizeof p->event);
        coop_strlcpy(p->delivery, meta.delivery, sizeof p->delivery);
        coop_strlcpy(p->request_id, req->request_id, sizeof p->request_id);
        p->received_ms = in.now_ms;
        /* The stored text: the decoded form or Slack's scrubbed copy, else
         * the request's own buffer, taken over rather than copied. */
        if (decoded) {
            p->body = decoded;
            p->len = json_len;
            decoded = NULL;
        } else {
            p->body = coop_http_take_body(req, &p->len);
        }
        if (p->body)
            deflate_body(p);
    }
    free(decoded);
    /* Held: the committer answers once the row is durable, and no server
     * thread waits for the commit meanwhile. */
    if (p && p->body)
        p->stream = coop_http_stream_start(req, res, 0, "application/json");
    if (!p || !p->body || !p->stream) {
        if (p)
            free(p->body);
        free(p);
        count(src, RES_ERROR);
        return coop_http_error(res, req, 503, "store_unavailable",
                               "the delivery could not be stored; retry later");
    }
    if (!submit(p))
        answer(p, COOP_ERR_UNAVAILABLE);
}

/* ---- processing --------------------------------------------------------------------- */

struct loaded {
    size_t max_stored; /* refuse (COOP_ERR_TOO_LARGE) a body stored larger; 0: any */
    const struct coop_webhook_source *src;
    char event[128];
    char delivery[160];
    char *body;
    size_t len;
};

/* The JSON text of a zlib stream, NUL-terminated; a stream that is corrupt
 * or inflates past the largest accepted body is COOP_ERR_PROTOCOL. */
static coop_err inflate_body(const void *z, size_t n, char **out, size_t *len)
{
    z_stream st = {0};
    if (inflateInit(&st) != Z_OK)
        return COOP_ERR_NOMEM;
    size_t cap = n * 4 + 1024, used = 0;
    char *buf = malloc(cap);
    coop_err err = buf ? COOP_ERR_OK : COOP_ERR_NOMEM;
    st.next_in = (Bytef *)z;
    st.avail_in = (uInt)n;
    int rc = Z_OK;
    while (!err && rc != Z_STREAM_END) {
        if (used + 1 >= cap) {
            size_t more = cap * 2;
            char *grown = more <= COOP_WEBHOOK_MAX_BODY + 1 ? realloc(buf, more) : NULL;
            if (!grown) {
                err = more <= COOP_WEBHOOK_MAX_BODY + 1 ? COOP_ERR_NOMEM : COOP_ERR_PROTOCOL;
                break;
            }
            buf = grown;
            cap = more;
        }
        st.next_out = (Bytef *)buf + used;
        st.avail_out = (uInt)(cap - 1 - used);
        rc = inflate(&st, Z_NO_FLUSH);
        used = cap - 1 - st.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END)
            err = COOP_ERR_PROTOCOL;
        else if (rc == Z_OK && st.avail_in == 0 && st.avail_out != 0)
            err = COOP_ERR_PROTOCOL; /* truncated */
    }
    inflateEnd(&st);
    if (err) {
        free(buf);
        return err;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return COOP_ERR_OK;
}

static coop_err load_row(void *ctx, const struct coop_row *row)
{
    struct loaded *l = ctx;
    l->src = coop_webhook_source_find(coop_row_text(row, 0, NULL));
    coop_strlcpy(l->delivery, coop_row_text(row, 1, NULL), sizeof l->delivery);
    coop_strlcpy(l->event, coop_row_text(row, 2, NULL), sizeof l->event);
    const char *encoding = coop_row_text(row, 4, NULL);
    size_t n = 0;
    const void *b = coop_row_blob(row, 3, &n);
    if (l->max_stored && n > l->max_stored)
        return COOP_ERR_TOO_LARGE;
    if (encoding && strcmp(encoding, "zlib") == 0)
        return inflate_body(b, n, &l->body, &l->len);
    if (encoding && strcmp(encoding, "identity") != 0)
        return COOP_ERR_PROTOCOL;
    l->body = malloc(n + 1);
    if (!l->body)
        return COOP_ERR_NOMEM;
    if (n)
        memcpy(l->body, b, n);
    l->body[n] = '\0';
    l->len = n;
    return COOP_ERR_OK;
}

/* coop_webhook_load_events, refusing with COOP_ERR_TOO_LARGE a body stored
 * in more than max_stored bytes (0: any size). */
static coop_err load_events(struct coop_conn *conn, const char *job_payload, size_t max_stored,
                            struct coop_event **events)
{
    int64_t id;
    *events = NULL;
    if (!job_payload || coop_parse_i64(job_payload, &id))
        return COOP_ERR_INVALID;
    struct loaded l = {.max_stored = max_stored};
    coop_err err = coop_conn_query(conn,
                                   "SELECT source, delivery, event, body, body_encoding FROM"
                                   " coop_webhook_deliveries WHERE id = ?",
                                   COOP_PARAMS(COOP_PI(id)), load_row, &l);
    if (!err && !l.body)
        err = COOP_ERR_NOT_FOUND;
    if (!err && !l.src)
        err = COOP_ERR_PROTOCOL;
    struct json_object *json = NULL;
    if (!err)
        err = coop_json_parse(l.body, l.len, JSON_DEPTH, false, &json);
    if (!err)
        err = l.src->parse(l.event, json, events);
    json_object_put(json);
    free(l.body);
    for (struct coop_event *ev = *events; !err && ev; ev = ev->next) {
        ev->delivery = ev_strdup(ev, l.delivery);
        if (ev_failed(ev))
            err = COOP_ERR_NOMEM;
    }
    if (err) {
        coop_event_free(*events);
        *events = NULL;
    }
    return err;
}

coop_err coop_webhook_load_events(struct coop_conn *conn, const char *job_payload,
                                  struct coop_event **events)
{
    return load_events(conn, job_payload, 0, events);
}

static coop_err record(struct coop_conn *conn, const char *payload, int nevents,
                       const char *summary)
{
    int64_t id;
    if (coop_parse_i64(payload, &id))
        return COOP_ERR_INVALID;
    return coop_conn_exec(
        conn,
        "INSERT INTO coop_webhook_processed (delivery_id, processed_at,"
        " process_count, events, summary) VALUES (?, ?, 1, ?, ?)"
        " ON CONFLICT (delivery_id) DO UPDATE SET"
        " process_count = coop_webhook_processed.process_count + 1,"
        " processed_at = excluded.processed_at, events = excluded.events,"
        " summary = excluded.summary",
        COOP_PARAMS(COOP_PI(id), COOP_PI(coop_clock_now_ms()), COOP_PI(nevents), COOP_PT(summary)),
        NULL);
}

/* Parsed deliveries are kept ahead for a few dozen jobs at a time; one
 * stored larger than this (deflated, about a fifth of its JSON) is parsed
 * when its job runs instead, so that a burst of very large pushes cannot
 * make the kept ones hold a lot of memory. */
#define PREPARE_MAX_BODY (64 * 1024)

/* A delivery's events, loaded and parsed before the job's transaction. */
static coop_err webhook_prepare(const struct coop_job *job, struct coop_conn *conn, void **out,
                                void *ctx)
{
    (void)ctx;
    struct coop_event *events = NULL;
    coop_err err = load_events(conn, job->payload, PREPARE_MAX_BODY, &events);
    *out = events;
    return err;
}

static void webhook_prepared_free(void *prepared)
{
    coop_event_free(prepared);
}

/* The built-in handler of webhook.<source> jobs: parse (unless prepared),
 * hand each event to the consumer (if any), record what was parsed on the
 * delivery row. */
static coop_err webhook_job(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    (void)ctx;
    struct coop_event *loaded = NULL;
    const struct coop_event *events = job->prepared;
    if (!events) {
        coop_err err = coop_webhook_load_events(conn, job->payload, &loaded);
        if (err == COOP_ERR_PROTOCOL || err == COOP_ERR_INVALID) {
            /* Retrying cannot make a payload parse: record and finish. */
            coop_log_warn("webhook delivery not parsable", COOP_F_INT("job", job->id),
                          COOP_F_ERR(err));
            return record(conn, job->payload, 0, "unparsable");
        }
        if (err) {
            coop_strlcpy(job->error,
                         err == COOP_ERR_NOT_FOUND ? "delivery row missing"
                                                   : "delivery could not be loaded",
                         sizeof job->error);
            return err;
        }
        events = loaded;
    }
    char summary[200] = "";
    int n = 0;
    coop_err err = COOP_ERR_OK;
    for (const struct coop_event *ev = events; ev; ev = ev->next, n++) {
        bool consumed;
        if ((err = coop_event_consume_(conn, ev, &consumed))) {
            coop_strlcpy(job->error, "event consumer failed", sizeof job->error);
            break;
        }
        size_t len = strlen(summary);
        snprintf(summary + len, sizeof summary - len, "%s%s", len ? "," : "",
                 coop_event_kind_name(ev->kind));
    }
    coop_event_free(loaded);
    return err ? err : record(conn, job->payload, n, summary);
}

/* ---- the module ------------------------------------------------------------------- */

static coop_err webhook_routes(struct coop_app *app)
{
    C.config = &app->config;
    for (size_t i = 0; coop_webhook_sources[i]; i++) {
        const struct coop_webhook_source *src = coop_webhook_sources[i];
        struct coop_http_route r = {.method = "POST",
                                    .pattern = src->route,
                                    .scope = COOP_ROUTE_PUBLIC,
                                    .max_body = COOP_WEBHOOK_MAX_BODY,
                                    .handler = webhook_route,
                                    .ctx = (void *)src,
                                    .self_authenticated = true};
        coop_err err = coop_http_add_route(app->http, &r);
        if (err)
            return err;
        if ((err = coop_jobs_register_handler(src->job_kind, webhook_job, NULL)) ||
            (err = coop_jobs_set_prepare(src->job_kind, webhook_prepare, webhook_prepared_free)))
            return err;
    }
    return COOP_ERR_OK;
}

/* ---- retention: deliveries are kept COOP_WEBHOOK_RETENTION_DAYS ------------------ */

#define PURGE_CHUNK 5000

static long retention_days = 30;

/* Deletes processed deliveries older than the retention, a chunk at a time;
 * unprocessed ones (a dead job) stay for an operator to look at. */
static coop_err purge_handler(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    int64_t cutoff = coop_clock_now_ms() - (int64_t)retention_days * 24 * 3600 * 1000;
    int64_t deleted = 0;
    coop_err err = coop_conn_exec(conn,
                                  "DELETE FROM coop_webhook_deliveries WHERE id IN (SELECT d.id"
                                  " FROM coop_webhook_deliveries d JOIN coop_webhook_processed p"
                                  " ON p.delivery_id = d.id WHERE d.received_at < ?"
                                  " ORDER BY d.id LIMIT ?)",
                                  COOP_PARAMS(COOP_PI(cutoff), COOP_PI(PURGE_CHUNK)), &deleted);
    if (!err)
        err = coop_conn_exec(conn,
                             "DELETE FROM coop_webhook_processed WHERE NOT EXISTS (SELECT 1 FROM"
                             " coop_webhook_deliveries d WHERE d.id = delivery_id)",
                             COOP_NOPARAMS, NULL);
    if (err)
        return err;
    if (deleted == PURGE_CHUNK) {
        struct coop_job_spec more = {.kind = "webhook.purge", .priority = -10};
        return coop_jobs_enqueue(conn, &more, NULL, NULL);
    }
    return coop_jobs_schedule_daily(conn, "webhook.purge", true);
}

static coop_err schedule_purge(struct coop_conn *conn, void *ctx)
{
    return coop_jobs_schedule_daily(conn, "webhook.purge", false);
}

static coop_err webhook_start(struct coop_app *app)
{
    char msg[160];
    coop_err err = coop_config_get_int(&app->config, "COOP_WEBHOOK_RETENTION_DAYS", 30, 1, 3650,
                                       &retention_days, msg, sizeof msg);
    if (err) {
        coop_log_error("invalid webhook setting", COOP_F_STR("detail", msg));
        return err;
    }
    if ((err = coop_jobs_register_handler("webhook.purge", purge_handler, NULL)) ||
        (err = coop_jobs_write_tx(app->store, schedule_purge, NULL)))
        return err;
    return committer_start(app->store);
}

static void webhook_stop(struct coop_app *app)
{
    committer_stop();
}

const struct coop_app_module coop_webhook_module = {
    .name = "webhook",
    .register_routes = webhook_routes,
    .start = webhook_start,
    .stop = webhook_stop,
};

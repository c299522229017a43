/*
 * The provider policy in force and its admin API: GET, PUT and DELETE
 * /v1/admin/policy.
 *
 * A policy set through PUT is stored (router_policy, one row) in the same
 * transaction as its config-change log entry, so that a change is applied
 * only once both are durable, and it survives restarts: at start a stored
 * policy takes precedence over COOP_POLICY_FILE and the built-in policy (the
 * "base" policy, kept as loaded). DELETE removes the stored policy and the
 * base one is in force again. The row's version moves on every change;
 * every instance on the store checks it every COOP_POLICY_RELOAD_MS (one
 * cheap read) and, on PostgreSQL, at once when another instance notifies
 * the change, so a provider blocked on one instance is blocked on all of
 * them within that interval. A stored document that no longer parses is
 * never passed over for a more permissive one: it stops the start, and at
 * run time the policy in force stays.
 */
#include "router_int.h"

#include "coop/audit.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLICY_CHANNEL "coop_policy"
#define DETAIL_MAX 16000     /* under the config-change log's 16 KiB */
#define WATCH_SLICE_MS 250   /* how long a stop may wait */
#define LISTEN_RETRY_MS 5000 /* between attempts to listen */
#define STORED_POLICY_MAX (4u << 20)

/* ---- the stored row ------------------------------------------------------------ */

struct stored {
    int64_t version; /* 0: no row */
    char *doc;       /* malloc'd; NULL: no stored policy */
    int64_t updated_at;
    char updated_by[128];
};

static coop_err read_row(void *ctx, const struct coop_row *row)
{
    struct stored *s = ctx;
    size_t len = 0;
    const char *doc = coop_row_text(row, 1, &len);
    const char *by = coop_row_text(row, 3, NULL);
    s->version = coop_row_int(row, 0);
    s->updated_at = coop_row_int(row, 2);
    coop_strlcpy(s->updated_by, by ? by : "", sizeof s->updated_by);
    free(s->doc);
    s->doc = NULL;
    if (doc && len > STORED_POLICY_MAX)
        return COOP_ERR_TOO_LARGE;
    if (doc && !(s->doc = strndup(doc, len)))
        return COOP_ERR_NOMEM;
    return COOP_ERR_OK;
}

static coop_err stored_read(struct coop_store *store, struct stored *out /* OUT */)
{
    memset(out, 0, sizeof *out);
    coop_err err = coop_store_query(
        store, "SELECT version, doc, updated_at, updated_by FROM router_policy WHERE id = 1",
        COOP_NOPARAMS, read_row, out);
    if (err) {
        free(out->doc);
        out->doc = NULL;
    }
    return err;
}

static coop_err read_version(void *ctx, const struct coop_row *row)
{
    *(int64_t *)ctx = coop_row_int(row, 0);
    return COOP_ERR_OK;
}

/* The stored version, 0 when nothing was ever stored. */
static coop_err stored_version(struct coop_store *store, int64_t *out /* OUT */)
{
    *out = 0;
    return coop_store_query(store, "SELECT version FROM router_policy WHERE id = 1", COOP_NOPARAMS,
                            read_version, out);
}

coop_err coop_policy_load_in_force(const struct coop_config *cfg, struct coop_store *store,
                                   struct coop_policy **out, char *err, size_t errlen)
{
    struct stored s = {0};
    if (store && stored_read(store, &s)) {
        snprintf(err, errlen, "the stored provider policy cannot be read");
        return COOP_ERR_UNAVAILABLE;
    }
    if (!s.doc)
        return coop_policy_load(cfg, out, err, errlen);
    char problem[200] = "";
    coop_err e = coop_policy_parse(s.doc, strlen(s.doc), out, problem, sizeof problem);
    free(s.doc);
    if (e)
        snprintf(err, errlen, "the stored provider policy is refused: %s", problem);
    return e ? COOP_ERR_CONFIG : COOP_ERR_OK;
}

/* ---- the policy in force -------------------------------------------------------- */

/* Puts np (taken; NULL: the base policy) in force, with where it comes
 * from (policy_sync held). */
static void apply(struct coop_router *r, struct coop_policy *np, const struct stored *s)
{
    pthread_rwlock_wrlock(&r->policy_lock);
    struct coop_policy *old = r->policy;
    r->policy = np ? np : r->base_policy;
    r->policy_from.stored = np != NULL;
    r->policy_from.version = s->version;
    r->policy_from.changed_at = s->updated_at;
    coop_strlcpy(r->policy_from.changed_by, s->updated_by, sizeof r->policy_from.changed_by);
    pthread_rwlock_unlock(&r->policy_lock);
    /* Readers hold the read lock for as long as they use a policy: none
     * sees old any more. */
    if (old != r->base_policy && old != r->policy)
        coop_policy_free(old);
}

static void log_in_force(const struct coop_router *r)
{
    const struct policy_origin *o = &r->policy_from;
    if (o->stored) {
        char at[32];
        coop_clock_format(o->changed_at, at);
        coop_log_info("provider policy in force comes from the store",
                      COOP_F_INT("version", o->version), COOP_F_STR("changed_at", at),
                      COOP_F_STR("changed_by", o->changed_by));
    } else if (coop_config_get(r->cfg, "COOP_POLICY_FILE")) {
        coop_log_info("provider policy in force comes from COOP_POLICY_FILE",
                      COOP_F_INT("stored_version", o->version));
    } else {
        coop_log_info("provider policy in force is the built-in one",
                      COOP_F_INT("stored_version", o->version));
    }
}

/* Brings the policy in force up to the store's (policy_sync held): one
 * read of the version, and the document only when it moved. A store that
 * does not answer, or a document that does not parse, leaves the policy
 * in force as it is. */
static coop_err sync_locked(struct coop_router *r)
{
    int64_t version = 0;
    struct stored s = {0};
    coop_err err = stored_version(r->store, &version);
    if (!err && version == r->policy_seen)
        return COOP_ERR_OK;
    if (!err)
        err = stored_read(r->store, &s);
    if (err) {
        if (!r->policy_store_failing)
            coop_log_warn("stored provider policy not checked; the policy in force stays",
                          COOP_F_ERR(err));
        r->policy_store_failing = true;
        return err;
    }
    r->policy_store_failing = false;
    r->policy_seen = s.version;
    r->policy_seen_doc = s.doc != NULL;
    struct coop_policy *np = NULL;
    char problem[200] = "";
    if (s.doc && coop_policy_parse(s.doc, strlen(s.doc), &np, problem, sizeof problem)) {
        coop_log_error("stored provider policy refused; the policy in force stays",
                       COOP_F_INT("version", s.version), COOP_F_STR("problem", problem));
        free(s.doc);
        return COOP_ERR_OK;
    }
    free(s.doc);
    apply(r, np, &s);
    if (np)
        coop_log_info("provider policy changed in the store", COOP_F_INT("version", s.version),
                      COOP_F_STR("changed_by", s.updated_by));
    else
        coop_log_info("stored provider policy removed", COOP_F_INT("version", s.version),
                      COOP_F_STR("changed_by", s.updated_by));
    return COOP_ERR_OK;
}

coop_err policy_admin_init(struct coop_router *r)
{
    char msg[200] = "";
    coop_err err = coop_policy_load(r->cfg, &r->base_policy, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "coopd: %s\n", msg);
        return err;
    }
    r->policy = r->base_policy;
    pthread_mutex_init(&r->policy_sync, NULL);
    r->policy_sync_init = true;
    if (!r->store)
        return COOP_ERR_OK;
    struct stored s = {0};
    if ((err = stored_read(r->store, &s))) {
        coop_log_error("the stored provider policy cannot be read", COOP_F_ERR(err));
        return err;
    }
    r->policy_seen = s.version;
    r->policy_seen_doc = s.doc != NULL;
    struct coop_policy *np = NULL;
    if (s.doc && coop_policy_parse(s.doc, strlen(s.doc), &np, msg, sizeof msg)) {
        /* Starting on the file or built-in policy instead could enable what
         * an admin disabled. */
        coop_log_error("the stored provider policy is refused, so coopd does not start",
                       COOP_F_INT("version", s.version), COOP_F_STR("problem", msg));
        free(s.doc);
        return COOP_ERR_CONFIG;
    }
    free(s.doc);
    if (np)
        apply(r, np, &s);
    else
        r->policy_from.version = s.version;
    log_in_force(r);
    return COOP_ERR_OK;
}

void policy_admin_dispose(struct coop_router *r)
{
    if (r->policy != r->base_policy)
        coop_policy_free(r->policy);
    coop_policy_free(r->base_policy);
    r->policy = r->base_policy = NULL;
    if (r->policy_sync_init)
        pthread_mutex_destroy(&r->policy_sync);
    r->policy_sync_init = false;
}

/* ---- watching the store ------------------------------------------------------------ */

struct policy_watch {
    struct coop_router *r;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    long poll_ms;
};

/* Sleeps up to ms; false when the watch is stopping. */
static bool watch_sleep(struct policy_watch *w, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stop && pthread_cond_timedwait(&w->cond, &w->mu, &ts) == 0)
        ;
    bool go_on = !w->stop;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

static bool watch_stopping(struct policy_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

static int64_t now_ms(void)
{
    return coop_clock_mono_ns() / 1000000;
}

/* Polls the version every poll_ms; on PostgreSQL also listens, so that a
 * notified change is applied at once (polling stays the fallback for a
 * notification lost while the listening connection was down). */
static void *watch_main(void *arg)
{
    struct policy_watch *w = arg;
    struct coop_router *r = w->r;
    bool pg = coop_store_dialect(r->store) == COOP_STORE_POSTGRES;
    struct coop_store_listener *l = NULL;
    int64_t next_poll = now_ms() + w->poll_ms, next_listen = 0;
    while (!watch_stopping(w)) {
        bool notified = false;
        if (pg && !l && now_ms() >= next_listen) {
            if (coop_store_listen(r->store, POLICY_CHANNEL, &l)) {
                l = NULL;
                next_listen = now_ms() + LISTEN_RETRY_MS;
            } else {
                notified = true; /* a change may have come before we listened */
            }
        }
        long slice = w->poll_ms < WATCH_SLICE_MS ? w->poll_ms : WATCH_SLICE_MS;
        if (l && !notified) {
            coop_err e = coop_store_listener_wait(l, (int)slice);
            if (e == COOP_ERR_OK)
                notified = true;
            else if (e != COOP_ERR_TIMEOUT && !watch_sleep(w, slice))
                break;
        } else if (!notified && !watch_sleep(w, slice)) {
            break;
        }
        if (notified || now_ms() >= next_poll) {
            pthread_mutex_lock(&r->policy_sync);
            sync_locked(r);
            pthread_mutex_unlock(&r->policy_sync);
            next_poll = now_ms() + w->poll_ms;
        }
    }
    coop_store_listener_free(l);
    return NULL;
}

coop_err policy_watch_start(struct coop_router *r)
{
    if (!r->store || r->policy_watch)
        return COOP_ERR_OK;
    long poll_ms = 1000;
    char err[160];
    if (coop_config_get_int(r->cfg, "COOP_POLICY_RELOAD_MS", 1000, 100, 3600000, &poll_ms, err,
                            sizeof err))
        coop_log_warn("setting out of range, default used",
                      COOP_F_STR("variable", "COOP_POLICY_RELOAD_MS"));
    struct policy_watch *w = calloc(1, sizeof *w);
    if (!w)
        return COOP_ERR_NOMEM;
    w->r = r;
    w->poll_ms = poll_ms;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return COOP_ERR_INTERNAL;
    }
    r->policy_watch = w;
    return COOP_ERR_OK;
}

void policy_watch_stop(struct coop_router *r)
{
    struct policy_watch *w = r->policy_watch;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
    r->policy_watch = NULL;
}

/* ---- GET, PUT and DELETE /v1/admin/policy --------------------------------------------- */

/* {"action","changes":[{"provider","field","from","to"}]} between two
 * policies; without the values when they would make the entry too long
 * for the log. A malloc'd string. */
static char *policy_diff(const char *action, const struct coop_policy *a,
                         const struct coop_policy *b, bool values)
{
    struct json_object *ja = coop_policy_to_json(a), *jb = coop_policy_to_json(b);
    struct json_object *pa = coop_json_obj(ja, "providers"), *pb = coop_json_obj(jb, "providers");
    struct json_object *changes = json_object_new_array();
    for (size_t i = 0; coop_providers[i]; i++) {
        const char *name = coop_providers[i]->name;
        struct json_object *oa = coop_json_obj(pa, name), *ob = coop_json_obj(pb, name);
        if (!oa && !ob)
            continue;
        struct json_object *keys = ob ? ob : oa;
        json_object_object_foreach(keys, field, v)
        {
            (void)v;
            struct json_object *va = NULL, *vb = NULL;
            if (oa)
                json_object_object_get_ex(oa, field, &va);
            if (ob)
                json_object_object_get_ex(ob, field, &vb);
            if (va && vb && json_object_equal(va, vb))
                continue;
            struct json_object *c = json_object_new_object();
            json_object_object_add(c, "provider", json_object_new_string(name));
            json_object_object_add(c, "field", json_object_new_string(field));
            if (values) {
                json_object_object_add(c, "from", json_object_get(va));
                json_object_object_add(c, "to", json_object_get(vb));
            }
            json_object_array_add(changes, c);
        }
    }
    struct json_object *ra = coop_json_obj(ja, "routes"), *rb = coop_json_obj(jb, "routes");
    if (!(ra == NULL && rb == NULL) && !(ra && rb && json_object_equal(ra, rb))) {
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "field", json_object_new_string("routes"));
        if (values) {
            json_object_object_add(c, "from", json_object_get(ra));
            json_object_object_add(c, "to", json_object_get(rb));
        }
        json_object_array_add(changes, c);
    }
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, "action", json_object_new_string(action));
    json_object_object_add(d, "changes", changes);
    char *out = strdup(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
    json_object_put(d);
    json_object_put(ja);
    json_object_put(jb);
    if (out && values && strlen(out) > DETAIL_MAX) {
        free(out);
        return policy_diff(action, a, b, false);
    }
    return out;
}

struct change {
    const char *actor;
    const char *detail;
    const char *doc; /* NULL: remove the stored policy */
    int64_t now;
    int64_t version; /* OUT */
};

/* The log entry first (it queues behind other appenders before this
 * transaction reads anything), then the row, in one transaction. */
static coop_err change_tx(struct coop_conn *conn, void *ctx)
{
    struct change *c = ctx;
    coop_err err = coop_audit_config_change_conn(conn, c->actor, "policy", c->detail);
    if (!err && c->doc)
        err =
            coop_conn_exec(conn,
                           "INSERT INTO router_policy (id, doc, version, updated_at, updated_by) "
                           "VALUES (1, ?, 1, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                           "doc = excluded.doc, version = router_policy.version + 1, "
                           "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                           COOP_PARAMS(COOP_PT(c->doc), COOP_PI(c->now), COOP_PT(c->actor)), NULL);
    else if (!err)
        err = coop_conn_exec(conn,
                             "UPDATE router_policy SET doc = NULL, version = version + 1, "
                             "updated_at = ?, updated_by = ? WHERE id = 1",
                             COOP_PARAMS(COOP_PI(c->now), COOP_PT(c->actor)), NULL);
    if (!err)
        err = coop_conn_query_int(conn, "SELECT version FROM router_policy WHERE id = 1",
                                  COOP_NOPARAMS, &c->version);
    if (!err)
        err = coop_conn_notify(conn, POLICY_CHANNEL);
    return err;
}

static void set_origin_headers(struct coop_http_response *res, const struct coop_router *r)
{
    const struct policy_origin *o = &r->policy_from;
    coop_http_set_header(res, "X-Coop-Policy-Source",
                         o->stored                                     ? "store"
                         : coop_config_get(r->cfg, "COOP_POLICY_FILE") ? "file"
                                                                       : "built-in");
    if (o->stored) {
        char v[24];
        snprintf(v, sizeof v, "%lld", (long long)o->version);
        coop_http_set_header(res, "X-Coop-Policy-Version", v);
    }
}

/* Answers the policy in force (policy_sync held, so it cannot change). */
static void answer_policy(struct coop_http_response *res, struct coop_router *r)
{
    struct json_object *j = coop_policy_to_json(r->policy);
    coop_http_json(res, 200, j);
    json_object_put(j);
    set_origin_headers(res, r);
}

void policy_get_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    pthread_mutex_lock(&r->policy_sync);
    sync_locked(r); /* an admin reads what the store holds now */
    answer_policy(res, r);
    pthread_mutex_unlock(&r->policy_sync);
    (void)req;
}

/* Logs and stores a change (np NULL: the removal of the stored policy),
 * then puts it in force; policy_sync held. False when it was answered 503
 * (np is freed then). */
static bool change(struct coop_router *r, struct coop_http_request *req,
                   struct coop_http_response *res, struct coop_policy *np)
{
    char *doc = NULL, *detail = NULL;
    coop_err err = sync_locked(r);
    if (!err && np) {
        struct json_object *j = coop_policy_to_json(np);
        doc = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        err = doc ? COOP_ERR_OK : COOP_ERR_NOMEM;
    }
    if (!err) {
        detail = policy_diff(np ? "put" : "delete", r->policy, np ? np : r->base_policy, true);
        err = detail ? COOP_ERR_OK : COOP_ERR_NOMEM;
    }
    struct change c = {req->principal.token_id, detail, doc, coop_clock_now_ms(), 0};
    if (!err)
        err = coop_store_tx(r->store, true, change_tx, &c);
    free(doc);
    free(detail);
    if (err) {
        coop_policy_free(np);
        coop_http_error(res, req, 503, "store_unavailable",
                        "the change could not be logged and stored, so it was not applied");
        return false;
    }
    struct stored s = {.version = c.version, .updated_at = c.now};
    coop_strlcpy(s.updated_by, c.actor, sizeof s.updated_by);
    apply(r, np, &s);
    r->policy_seen = c.version;
    r->policy_seen_doc = np != NULL;
    return true;
}

/* In production a policy must pass the startup compliance checks: stored,
 * one that fails them would stop the next start. why gets the first
 * failure (fixed words and a provider name). */
static bool compliant(const struct coop_router *r, const struct coop_policy *np, char *why,
                      size_t len)
{
    if (!r->cfg->production)
        return true;
    struct coop_buf out;
    coop_buf_init(&out, 1u << 16);
    int failures = coop_router_check(r->cfg, np, &out, NULL);
    const char *fail = out.data ? strstr(out.data, "FAIL ") : NULL;
    size_t n = fail ? strcspn(fail + 5, "\n") : 0;
    snprintf(why, len, "in production the policy must pass the startup compliance checks: %.*s",
             (int)(n < 160 ? n : 160), fail ? fail + 5 : "see coopd check");
    coop_buf_dispose(&out);
    return failures == 0;
}

void policy_put_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct coop_policy *np = NULL;
    char err[240] = "";
    if (coop_policy_parse(req->body, req->body_len, &np, err, sizeof err)) {
        coop_http_error(res, req, 400, "invalid_policy", err);
        return;
    }
    if (!compliant(r, np, err, sizeof err)) {
        coop_policy_free(np);
        coop_http_error(res, req, 400, "policy_not_compliant", err);
        return;
    }
    pthread_mutex_lock(&r->policy_sync);
    if (change(r, req, res, np)) {
        coop_log_info("provider policy changed", COOP_F_STR("actor", req->principal.token_id),
                      COOP_F_INT("version", r->policy_from.version));
        answer_policy(res, r);
    }
    pthread_mutex_unlock(&r->policy_sync);
}

void policy_delete_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    pthread_mutex_lock(&r->policy_sync);
    if (sync_locked(r)) {
        coop_http_error(res, req, 503, "store_unavailable",
                        "the stored policy could not be read, so nothing was changed");
    } else if (!r->policy_seen_doc) {
        answer_policy(res, r); /* nothing stored: nothing changes */
    } else if (change(r, req, res, NULL)) {
        coop_log_info("stored provider policy removed; COOP_POLICY_FILE or the built-in one "
                      "is in force",
                      COOP_F_STR("actor", req->principal.token_id),
                      COOP_F_INT("version", r->policy_from.version));
        answer_policy(res, r);
    }
    pthread_mutex_unlock(&r->policy_sync);
}

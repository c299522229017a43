/*
 * Budgets of the Model Router: per API token and per customer, a number of
 * requests per minute and a number of tokens per day (input plus output,
 * as the providers report them). Over a limit, the request is answered 429
 * with Retry-After, in the client's format, before anything leaves.
 *
 * Limits come from settings (defaults for every token and every customer)
 * and from a budgets document set through PUT /v1/admin/budgets (defaults
 * and per-customer and per-token overrides), kept in the store so it
 * survives restarts and is shared by every coopd on one database; each
 * instance reads it again every COOP_BUDGET_RELOAD_MS. Every change is
 * written to the config-change log in the same transaction.
 *
 * Tokens per day are counted in the store (usage.c), so every instance
 * sees the same day's total. Requests per minute are token buckets in this
 * process's memory (capacity: the limit; refilled continuously): with N
 * instances behind a load balancer a client may get up to N times the
 * limit. A request is admitted while the day's total is under the limit,
 * so the request that crosses it completes and the next ones are refused.
 */
#include "router_int.h"

#include "coop/metrics.h"
#include "coop/vault.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define BUDGET_MAX_BODY (1u << 20)
#define LIMIT_MAX 1000000000000LL
#define DAY_MS 86400000LL

struct limits {
    int64_t rpm; /* requests per minute; 0: unlimited */
    int64_t tpd; /* tokens per day; 0: unlimited */
};

struct bucket {
    uint64_t key;
    double tokens;
    int64_t last_ns;
};

struct router_budget {
    struct coop_store *store;
    pthread_mutex_t lock;
    struct limits token_default, customer_default; /* from settings */
    struct json_object *doc;                       /* the budgets document, or NULL */
    uint64_t gen;                                  /* bumped whenever doc is replaced */
    int64_t loaded_ns;                             /* 0: never loaded */
    int64_t reload_ns;
    struct bucket table[SLOTS];
};

/* ---- the document ---------------------------------------------------------------- */

static bool limit_value(struct json_object *v)
{
    return json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
           json_object_get_int64(v) <= LIMIT_MAX;
}

static const char *check_limits(struct json_object *l)
{
    if (!json_object_is_type(l, json_type_object))
        return "a limit set must be an object";
    json_object_object_foreach(l, key, v)
    {
        if (strcmp(key, "requests_per_minute") != 0 && strcmp(key, "tokens_per_day") != 0)
            return "a limit set holds only requests_per_minute and tokens_per_day";
        if (!limit_value(v))
            return "limits are integers from 0 (unlimited) to 10^12";
    }
    return NULL;
}

static bool token_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 40)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static const char *check_map(struct json_object *m, bool customers)
{
    if (!json_object_is_type(m, json_type_object))
        return "customers and tokens must be objects";
    json_object_object_foreach(m, id, l)
    {
        if (customers ? !coop_vault_customer_valid(id) : !token_id_ok(id))
            return customers ? "a customer id is not valid" : "a token id is not valid";
        const char *p = check_limits(l);
        if (p)
            return p;
    }
    return NULL;
}

/* NULL when doc is a valid budgets document, else what is wrong. */
static const char *check_doc(struct json_object *doc)
{
    if (!json_object_is_type(doc, json_type_object))
        return "the budgets document must be a JSON object";
    json_object_object_foreach(doc, key, v)
    {
        const char *p = NULL;
        if (strcmp(key, "customers") == 0 || strcmp(key, "tokens") == 0) {
            p = check_map(v, key[0] == 'c');
        } else if (strcmp(key, "defaults") == 0) {
            if (!json_object_is_type(v, json_type_object))
                return "defaults must be an object";
            json_object_object_foreach(v, k2, l)
            {
                if (strcmp(k2, "token") != 0 && strcmp(k2, "customer") != 0)
                    return "defaults holds only token and customer";
                if ((p = check_limits(l)) != NULL)
                    return p;
            }
        } else {
            return "the budgets document holds only defaults, customers and tokens";
        }
        if (p)
            return p;
    }
    return NULL;
}

/* One limit: the override for id, else the document's default, else the
 * setting. */
static int64_t pick(struct json_object *doc, const char *map, const char *id, const char *kind,
                    const char *field, int64_t setting)
{
    int64_t v;
    struct json_object *l = coop_json_obj(coop_json_obj(doc, map), id);
    if (l && coop_json_int(l, field, &v))
        return v;
    l = coop_json_obj(coop_json_obj(doc, "defaults"), kind);
    if (l && coop_json_int(l, field, &v))
        return v;
    return setting;
}

static struct limits limits_for(struct router_budget *b, bool customer, const char *id)
{
    const struct limits *d = customer ? &b->customer_default : &b->token_default;
    const char *map = customer ? "customers" : "tokens", *kind = customer ? "customer" : "token";
    struct limits l = {
        pick(b->doc, map, id, kind, "requests_per_minute", d->rpm),
        pick(b->doc, map, id, kind, "tokens_per_day", d->tpd),
    };
    return l;
}

static coop_err read_doc(void *ctx, const struct coop_row *row)
{
    size_t len = 0;
    const char *text = coop_row_text(row, 0, &len);
    struct json_object **out = ctx;
    if (text && coop_json_parse(text, len, 16, true, out) == COOP_ERR_OK && check_doc(*out)) {
        json_object_put(*out);
        *out = NULL;
    }
    return COOP_ERR_OK;
}

/* Reads the stored document again when it is older than the reload
 * interval (or when forced). The store is read without the lock held; a
 * document set by a PUT meanwhile (gen changed) is not replaced by what
 * was read. A store that does not answer keeps the document in force. */
static void maybe_reload(struct router_budget *b, bool force)
{
    int64_t now = coop_clock_mono_ns();
    pthread_mutex_lock(&b->lock);
    bool due = force || !b->loaded_ns || now - b->loaded_ns >= b->reload_ns;
    if (due)
        b->loaded_ns = now;
    uint64_t gen = b->gen;
    pthread_mutex_unlock(&b->lock);
    if (!due)
        return;
    struct json_object *doc = NULL;
    coop_err err = coop_store_query(b->store, "SELECT doc FROM router_budgets WHERE id = 1",
                                    COOP_NOPARAMS, read_doc, &doc);
    if (err) {
        coop_log_warn("budgets not reloaded; the ones in force stay", COOP_F_ERR(err));
        return;
    }
    pthread_mutex_lock(&b->lock);
    if (b->gen == gen) {
        json_object_put(b->doc);
        b->doc = doc;
        doc = NULL;
        b->gen++;
    }
    pthread_mutex_unlock(&b->lock);
    json_object_put(doc);
}

/* ---- requests per minute ------------------------------------------------------------ */

static uint64_t hash_key(char kind, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ (unsigned char)kind) * 1099511628211ULL;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h ? h : 1;
}

/* The bucket of key, refilled to now (lock held). A full table reuses the
 * least recently used of the probed slots. */
static struct bucket *bucket_get(struct router_budget *b, uint64_t key, int64_t rpm, int64_t now)
{
    struct bucket *found = NULL, *oldest = NULL;
    for (int probe = 0; probe < 8; probe++) {
        struct bucket *s = &b->table[(key + (uint64_t)probe) % SLOTS];
        if (s->key == key || s->key == 0) {
            found = s;
            break;
        }
        if (!oldest || s->last_ns < oldest->last_ns)
            oldest = s;
    }
    if (!found)
        found = oldest;
    if (found->key != key) {
        found->key = key;
        found->tokens = (double)rpm;
        found->last_ns = now;
    }
    found->tokens += (double)(now - found->last_ns) * (double)rpm / 60e9;
    if (found->tokens > (double)rpm)
        found->tokens = (double)rpm;
    found->last_ns = now;
    return found;
}

/* Seconds until the bucket holds one request. */
static int64_t bucket_wait(const struct bucket *k, int64_t rpm)
{
    double s = (1 - k->tokens) * 60.0 / (double)rpm;
    return (int64_t)s + 1;
}

/* ---- admission ------------------------------------------------------------------------ */

struct refusal {
    const char *code, *message, *type;
    int64_t retry_after;
};

static int64_t seconds_to_midnight(void)
{
    int64_t now = coop_clock_now_ms();
    int64_t s = (DAY_MS - now % DAY_MS + 999) / 1000;
    return s > 0 ? s : 1;
}

static bool tokens_left(struct router_budget *b, const char *customer, const char *token_id,
                        int64_t limit, struct refusal *why)
{
    int64_t used = 0;
    coop_err err = usage_tokens_today(b->store, customer, token_id, &used);
    if (err) {
        /* Failing open would let a broken store lift every budget. */
        why->code = "budget_unavailable";
        why->message = "the usage counters cannot be read, so the budget cannot be checked";
        why->type = "tokens";
        why->retry_after = 5;
        return false;
    }
    if (used < limit)
        return true;
    why->code = "tokens_per_day_exceeded";
    why->message = customer ? "the customer's token budget for today (UTC) is used up"
                            : "this API token's token budget for today (UTC) is used up";
    why->type = "tokens";
    why->retry_after = seconds_to_midnight();
    return false;
}

/* Requests per minute of the token and the customer: both are checked
 * before either is taken from. */
static bool take_request(struct router_budget *b, const char *customer, struct limits cl,
                         const char *token_id, struct limits tl, struct refusal *why)
{
    int64_t now = coop_clock_mono_ns();
    struct bucket *tk = NULL, *ck = NULL;
    pthread_mutex_lock(&b->lock);
    if (tl.rpm)
        tk = bucket_get(b, hash_key('t', token_id), tl.rpm, now);
    if (customer && cl.rpm)
        ck = bucket_get(b, hash_key('c', customer), cl.rpm, now);
    bool ok = true;
    if (tk && tk->tokens < 1) {
        why->message = "this API token's requests-per-minute limit is reached";
        why->retry_after = bucket_wait(tk, tl.rpm);
        ok = false;
    } else if (ck && ck->tokens < 1) {
        why->message = "the customer's requests-per-minute limit is reached";
        why->retry_after = bucket_wait(ck, cl.rpm);
        ok = false;
    }
    if (ok && tk)
        tk->tokens -= 1;
    if (ok && ck)
        ck->tokens -= 1;
    pthread_mutex_unlock(&b->lock);
    why->code = "requests_per_minute_exceeded";
    why->type = "requests";
    return ok;
}

static void refuse(struct coop_http_request *req, struct coop_http_response *res,
                   enum router_format format, const struct refusal *why)
{
    char retry[24];
    snprintf(retry, sizeof retry, "%lld", (long long)why->retry_after);
    if (format == ROUTER_FORMAT_ANTHROPIC) {
        coop_http_error(res, req, 429, why->code, why->message);
    } else {
        /* OpenAI's shape (type names the limit) with Coop's code and request id. */
        struct coop_buf b;
        coop_buf_init(&b, 4096);
        coop_buf_puts(&b, "{\"error\":{\"code\":");
        coop_buf_json_str(&b, why->code, strlen(why->code));
        coop_buf_puts(&b, ",\"message\":");
        coop_buf_json_str(&b, why->message, strlen(why->message));
        coop_buf_printf(&b, ",\"type\":\"%s\",\"param\":null,\"request_id\":", why->type);
        coop_buf_json_str(&b, req->request_id, strlen(req->request_id));
        coop_buf_puts(&b, "}}");
        coop_http_json_text(res, 429, b.data);
        coop_buf_dispose(&b);
    }
    coop_http_set_header(res, "Retry-After", retry);
    char labels[64];
    snprintf(labels, sizeof labels, "limit=\"%s\"", why->type);
    coop_metric_inc("coop_llm_budget_refusals_total", "LLM requests refused by a budget", labels);
}

/* A refused request is audited (and counted) like one the policy blocked,
 * under the provider and model it named when they are valid. */
static void audit_refusal(struct coop_router *r, const struct coop_http_request *req,
                          struct json_object *body)
{
    const char *model = coop_json_str(body, "model");
    const char *slash = model ? strchr(model, '/') : NULL;
    const struct coop_provider_ops *ops =
        slash ? coop_provider_find(model, (size_t)(slash - model)) : NULL;
    if (ops && model_name_ok(slash + 1))
        router_audit_refused(r, req, ops->name, slash + 1, "blocked", 429);
}

bool budget_admit(struct coop_router *r, struct coop_http_request *req,
                  struct coop_http_response *res, enum router_format format,
                  struct json_object *body)
{
    struct router_budget *b = r->budget;
    if (!b)
        return true;
    const char *customer = req->principal.customer[0] ? req->principal.customer : NULL;
    const char *token_id = req->principal.token_id;
    maybe_reload(b, false);
    pthread_mutex_lock(&b->lock);
    struct limits tl = limits_for(b, false, token_id);
    struct limits cl = customer ? limits_for(b, true, customer) : (struct limits){0, 0};
    pthread_mutex_unlock(&b->lock);
    struct refusal why = {0};
    bool ok = true;
    if (customer && cl.tpd)
        ok = tokens_left(b, customer, NULL, cl.tpd, &why);
    if (ok && tl.tpd)
        ok = tokens_left(b, NULL, token_id, tl.tpd, &why);
    if (ok && (tl.rpm || cl.rpm))
        ok = take_request(b, customer, cl, token_id, tl, &why);
    if (!ok) {
        refuse(req, res, format, &why);
        audit_refusal(r, req, body);
    }
    return ok;
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* A budget setting; a value that is not a whole number in range stops the
 * server rather than leave a budget unlimited by a typo. */
static bool setting(const struct coop_config *cfg, const char *name, long dflt, long max,
                    int64_t *out)
{
    long v = dflt;
    char err[160];
    if (coop_config_get_int(cfg, name, dflt, 0, max, &v, err, sizeof err)) {
        coop_log_error("budget setting refused: a whole number from 0 is expected",
                       COOP_F_STR("variable", name), COOP_F_INT("max", max));
        return false;
    }
    *out = v;
    return true;
}

coop_err budget_new(const struct coop_config *cfg, struct coop_store *store,
                    struct router_budget **out)
{
    struct router_budget *b = calloc(1, sizeof *b);
    if (!b)
        return COOP_ERR_NOMEM;
    b->store = store;
    pthread_mutex_init(&b->lock, NULL);
    int64_t reload_ms = 0;
    bool ok =
        setting(cfg, "COOP_BUDGET_TOKEN_RPM", 0, 100000000, &b->token_default.rpm) &&
        setting(cfg, "COOP_BUDGET_TOKEN_TOKENS_PER_DAY", 0, LIMIT_MAX, &b->token_default.tpd) &&
        setting(cfg, "COOP_BUDGET_CUSTOMER_RPM", 0, 100000000, &b->customer_default.rpm) &&
        setting(cfg, "COOP_BUDGET_CUSTOMER_TOKENS_PER_DAY", 0, LIMIT_MAX,
                &b->customer_default.tpd) &&
        setting(cfg, "COOP_BUDGET_RELOAD_MS", 5000, 3600000, &reload_ms);
    if (!ok) {
        budget_free(b);
        return COOP_ERR_CONFIG;
    }
    b->reload_ns = reload_ms * 1000000LL;
    *out = b;
    return COOP_ERR_OK;
}

void budget_free(struct router_budget *b)
{
    if (!b)
        return;
    json_object_put(b->doc);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* ---- GET/PUT /v1/admin/budgets ------------------------------------------------------------ */

static struct json_object *limits_json(struct limits l)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "requests_per_minute", json_object_new_int64(l.rpm));
    json_object_object_add(o, "tokens_per_day", json_object_new_int64(l.tpd));
    return o;
}

/* {"settings":{"token","customer"},"document":{...}}: the defaults from
 * settings and the stored document in force. */
static struct json_object *budgets_json(struct router_budget *b)
{
    struct json_object *root = json_object_new_object(), *s = json_object_new_object();
    json_object_object_add(s, "token", limits_json(b->token_default));
    json_object_object_add(s, "customer", limits_json(b->customer_default));
    json_object_object_add(root, "settings", s);
    json_object_object_add(root, "document",
                           b->doc ? json_object_get(b->doc) : json_object_new_object());
    return root;
}

void budget_get_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct router_budget *b = r->budget;
    maybe_reload(b, true); /* an admin reads what the store holds now */
    pthread_mutex_lock(&b->lock);
    struct json_object *j = budgets_json(b);
    pthread_mutex_unlock(&b->lock);
    coop_http_json(res, 200, j);
    json_object_put(j);
    (void)req;
}

struct store_doc {
    const char *actor;
    const char *detail;
    const char *text;
};

/* The log entry and the document in one transaction: a change that cannot
 * be logged is not stored, and one that cannot be stored is not logged. */
static coop_err store_doc_tx(struct coop_conn *conn, void *ctx)
{
    const struct store_doc *d = ctx;
    int64_t now = coop_clock_now_ms();
    coop_err err = coop_audit_config_change_conn(conn, d->actor, "budgets", d->detail);
    if (err)
        return err;
    return coop_conn_exec(conn,
                          "INSERT INTO router_budgets (id, doc, updated_at) VALUES (1, ?, ?) "
                          "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, "
                          "updated_at = excluded.updated_at",
                          COOP_PARAMS(COOP_PT(d->text), COOP_PI(now)), NULL);
}

void budget_put_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct router_budget *b = r->budget;
    struct json_object *doc = NULL;
    if (coop_json_parse(req->body, req->body_len, 16, true, &doc)) {
        coop_http_error(res, req, 400, "invalid_json",
                        "the body must be JSON (duplicate keys are refused)");
        return;
    }
    const char *problem = check_doc(doc);
    if (problem) {
        json_object_put(doc);
        coop_http_error(res, req, 400, "invalid_budgets", problem);
        return;
    }
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    struct coop_buf detail;
    coop_buf_init(&detail, BUDGET_MAX_BODY * 2);
    coop_buf_printf(&detail, "{\"budgets\":%s}", text);
    struct store_doc d = {req->principal.token_id, detail.data ? detail.data : "{}", text};
    coop_err err = coop_store_tx(r->store, true, store_doc_tx, &d);
    coop_buf_dispose(&detail);
    if (err) {
        json_object_put(doc);
        coop_http_error(res, req, 503, "store_unavailable",
                        "the change could not be logged and stored, so it was not applied");
        return;
    }
    pthread_mutex_lock(&b->lock);
    json_object_put(b->doc);
    b->doc = doc;
    b->gen++;
    b->loaded_ns = coop_clock_mono_ns();
    struct json_object *j = budgets_json(b);
    pthread_mutex_unlock(&b->lock);
    coop_log_info("budgets changed", COOP_F_STR("actor", req->principal.token_id));
    coop_http_json(res, 200, j);
    json_object_put(j);
}

/*
 * The router module: its state (policy, sanitizer, outbound client, audit
 * writer) and its routes. The policy's admin side is policy_admin.c.
 */
#include "router_int.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_MAX_BODY (8u << 20)
#define POLICY_MAX_BODY (1u << 20)

const struct coop_policy *router_policy_hold(struct coop_router *r)
{
    pthread_rwlock_rdlock(&r->policy_lock);
    return r->policy;
}

void router_policy_release(struct coop_router *r)
{
    pthread_rwlock_unlock(&r->policy_lock);
}

/* ---- handlers ----------------------------------------------------------------- */

static void chat_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct json_object *body = NULL;
    if (coop_json_parse(req->body, req->body_len, 64, true, &body) ||
        !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        coop_http_error(res, req, 400, "invalid_json", "the body must be a JSON object");
        return;
    }
    router_chat(r, req, res, body);
}

/* Well-known models listed for a provider whose policy names none. */
static const char *const known_models[][4] = {
    {"openai", "gpt-4o", "gpt-4o-mini", "gpt-4.1"},
    {"anthropic", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"},
    {"gemini", "gemini-2.5-pro", "gemini-2.5-flash", NULL},
    {"deepseek", "deepseek-chat", "deepseek-reasoner", NULL},
    {"selfhosted", NULL, NULL, NULL},
};

static void add_model(struct json_object *data, const char *provider, const char *model)
{
    char id[256];
    snprintf(id, sizeof id, "%s/%s", provider, model);
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "id", json_object_new_string(id));
    json_object_object_add(m, "object", json_object_new_string("model"));
    json_object_object_add(m, "created", json_object_new_int64(0));
    json_object_object_add(m, "owned_by", json_object_new_string(provider));
    json_object_array_add(data, m);
}

static void models_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct json_object *root = json_object_new_object(), *data = json_object_new_array();
    const struct coop_policy *p = router_policy_hold(r);
    for (size_t i = 0; coop_providers[i]; i++) {
        const char *name = coop_providers[i]->name;
        const struct coop_provider_policy *pp = coop_policy_provider(p, name);
        if (!pp || !pp->enabled || (strcmp(name, "deepseek") == 0 && !pp->dpa_approved))
            continue;
        for (size_t k = 0; k < pp->nmodels; k++)
            add_model(data, name, pp->models[k]);
        if (pp->nmodels)
            continue;
        for (size_t k = 0; k < sizeof known_models / sizeof known_models[0]; k++)
            if (strcmp(known_models[k][0], name) == 0)
                for (size_t j = 1; j < 4 && known_models[k][j]; j++)
                    add_model(data, name, known_models[k][j]);
    }
    /* Routes named coop/...; a provider/model route is that model. */
    for (size_t i = 0; coop_policy_route_at(p, i); i++) {
        const char *name = coop_policy_route_at(p, i)->name;
        if (strncmp(name, "coop/", 5) == 0)
            add_model(data, "coop", name + 5);
    }
    router_policy_release(r);
    json_object_object_add(root, "object", json_object_new_string("list"));
    json_object_object_add(root, "data", data);
    coop_http_json(res, 200, root);
    json_object_put(root);
    (void)req;
}

struct json_object *coop_router_policy_json(struct coop_router *r)
{
    struct json_object *j = coop_policy_to_json(router_policy_hold(r));
    router_policy_release(r);
    return j;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void router_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static coop_err check_urls(const struct coop_config *cfg)
{
    for (size_t i = 0; coop_providers[i]; i++) {
        const char *url = coop_config_get(cfg, coop_providers[i]->base_url_var);
        if (url && !coop_router_url_allowed(url)) {
            coop_log_error("provider base URL refused: https required (http only to loopback)",
                           COOP_F_STR("variable", coop_providers[i]->base_url_var));
            return COOP_ERR_CONFIG;
        }
    }
    return COOP_ERR_OK;
}

static long setting(const struct coop_config *cfg, const char *name, long dflt, long min, long max)
{
    long v = dflt;
    char err[160];
    if (coop_config_get_int(cfg, name, dflt, min, max, &v, err, sizeof err))
        coop_log_warn("setting out of range, default used", COOP_F_STR("variable", name));
    return v;
}

static void router_retry_settings(const struct coop_config *cfg, struct router_retry_cfg *rc,
                                  long timeout_ms)
{
    rc->max_attempts = (int)setting(cfg, "COOP_ROUTER_MAX_ATTEMPTS", 3, 1, 10);
    rc->backoff_ms = setting(cfg, "COOP_ROUTER_BACKOFF_MS", 250, 0, 60000);
    rc->backoff_max_ms = setting(cfg, "COOP_ROUTER_BACKOFF_MAX_MS", 4000, 0, 600000);
    if (rc->backoff_max_ms < rc->backoff_ms)
        rc->backoff_max_ms = rc->backoff_ms;
    rc->retry_after_max_ms = setting(cfg, "COOP_ROUTER_RETRY_AFTER_MAX_MS", 5000, 0, 600000);
    rc->deadline_ms = setting(cfg, "COOP_ROUTER_DEADLINE_MS", timeout_ms, 100, 3600000);
    rc->key_cooldown_ms = setting(cfg, "COOP_ROUTER_KEY_COOLDOWN_MS", 60000, 0, 86400000);
    rc->first_byte_ms = setting(cfg, "COOP_ROUTER_FIRST_BYTE_TIMEOUT_MS", 0, 0, 3600000);
}

/* The server's keys of each provider: COOP_<PROVIDER>_API_KEYS when set,
 * else the one key of <PROVIDER>_API_KEY. */
static coop_err load_pools(struct coop_router *r)
{
    for (size_t i = 0; coop_providers[i] && i < sizeof r->pools / sizeof r->pools[0]; i++) {
        const struct coop_provider_ops *ops = coop_providers[i];
        char var[64], err[96] = "";
        key_pool_var(ops, var, sizeof var);
        const char *spec = coop_config_get(r->cfg, var);
        if (!spec)
            spec = coop_config_get(r->cfg, ops->key_var);
        if (!spec)
            continue;
        if (key_pool_parse(spec, &r->pools[i], err, sizeof err)) {
            coop_log_error("provider key setting refused", COOP_F_STR("variable", var),
                           COOP_F_STR("problem", err));
            return COOP_ERR_CONFIG;
        }
    }
    return COOP_ERR_OK;
}

coop_err coop_router_new(const struct coop_config *cfg, struct coop_store *store,
                         const struct coop_sanitizer *sanitizer, struct coop_router **out)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    coop_err err = check_urls(cfg);
    if (err)
        return err;
    struct coop_router *r = calloc(1, sizeof *r);
    if (!r)
        return COOP_ERR_NOMEM;
    r->cfg = cfg;
    r->store = store;
    r->sanitizer = sanitizer;
    pthread_rwlock_init(&r->policy_lock, NULL);
    r->timeout_ms = setting(cfg, "COOP_ROUTER_TIMEOUT_MS", 300000, 100, 3600000);
    r->audit_before_answer = setting(cfg, "COOP_ROUTER_AUDIT_BEFORE_ANSWER", 1, 0, 1) != 0;
    r->connect_timeout_ms = setting(cfg, "COOP_ROUTER_CONNECT_TIMEOUT_MS", 10000, 50, 120000);
    long keepalive = setting(cfg, "COOP_ROUTER_KEEPALIVE_MS", 15000, 10, 600000);
    router_retry_settings(cfg, &r->retry, r->timeout_ms);
    err = policy_admin_init(r);
    if (err) {
        coop_router_free(r);
        return err;
    }
    pthread_once(&curl_once, router_curl_init);
    if (!sanitizer) {
        coop_log_error("the router needs the sanitizer: nothing may leave unsanitized");
        coop_router_free(r);
        return COOP_ERR_INTERNAL;
    }
    err = load_pools(r);
    if (err) {
        coop_router_free(r);
        return err;
    }
    err = budget_new(cfg, store, &r->budget);
    if (!err)
        err = client_new(keepalive, &r->client);
    if (err) {
        coop_router_free(r);
        return err;
    }
    *out = r;
    return COOP_ERR_OK;
}

coop_err coop_router_register(struct coop_router *r, struct coop_http_server *srv)
{
    const struct coop_http_route routes[] = {
        {"POST", "/v1/chat/completions", COOP_SCOPE_LLM, CHAT_MAX_BODY, chat_handler, r, false},
        {"GET", "/v1/models", COOP_SCOPE_LLM, 0, models_handler, r, false},
        {"POST", "/v1/ask", COOP_SCOPE_LLM, CHAT_MAX_BODY, router_ask_handler, r, false},
        {"GET", "/v1/admin/policy", COOP_SCOPE_ADMIN, 0, policy_get_handler, r, false},
        {"PUT", "/v1/admin/policy", COOP_SCOPE_ADMIN, POLICY_MAX_BODY, policy_put_handler, r,
         false},
        {"DELETE", "/v1/admin/policy", COOP_SCOPE_ADMIN, 0, policy_delete_handler, r, false},
        {"POST", "/v1/messages", COOP_SCOPE_LLM | COOP_ROUTE_ANTHROPIC, CHAT_MAX_BODY,
         router_messages_handler, r, false},
        {"GET", "/v1/admin/usage", COOP_SCOPE_ADMIN, 0, usage_handler, r, false},
        {"GET", "/v1/admin/budgets", COOP_SCOPE_ADMIN, 0, budget_get_handler, r, false},
        {"PUT", "/v1/admin/budgets", COOP_SCOPE_ADMIN, POLICY_MAX_BODY, budget_put_handler, r,
         false},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        coop_err err = coop_http_add_route(srv, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

void coop_router_set_vault(struct coop_router *r, struct coop_vault *vault)
{
    r->vault = vault;
}

coop_err coop_router_start(struct coop_router *r)
{
    coop_err err = audit_queue_new(r->store, &r->audit);
    if (!err)
        err = usage_writer_new(r->store,
                               setting(r->cfg, "COOP_USAGE_RETENTION_DAYS", 400, 0, 36500),
                               &r->usage);
    if (!err)
        err = client_start(r->client);
    if (!err)
        err = policy_watch_start(r);
    return err;
}

void coop_router_stop(struct coop_router *r)
{
    if (!r)
        return;
    policy_watch_stop(r);
    client_stop(r->client);
    audit_queue_free(r->audit);
    r->audit = NULL;
    usage_writer_free(r->usage);
    r->usage = NULL;
}

void coop_router_free(struct coop_router *r)
{
    if (!r)
        return;
    coop_router_stop(r);
    client_free(r->client);
    for (size_t i = 0; i < sizeof r->pools / sizeof r->pools[0]; i++)
        key_pool_free(r->pools[i]);
    budget_free(r->budget);
    policy_admin_dispose(r);
    pthread_rwlock_destroy(&r->policy_lock);
    free(r);
}

/*
 * The vault in coopd serve: opened when the module starts (app->vault, for
 * the modules started after it), and the admin API for BYOK keys:
 * PUT/DELETE /v1/admin/byok/{customer}/{provider}, GET /v1/admin/byok.
 * Every store or removal goes to the config-change log with its actor.
 * No answer and no log line carries a key: only its hash prefix.
 */
#include "vault_int.h"

#include "coop/audit.h"
#include "coop/http.h"
#include "main/app.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PUT_MAX_BODY 16384

/* Wipes a buffer the caller only lent as const: the request body and the
 * parsed key string die with the request, but not in the clear. */
static void wipe(const char *p, size_t n)
{
    if (p && n)
        sodium_memzero((void *)(uintptr_t)p, n);
}

static void log_change(struct coop_vault *v, const struct coop_http_request *req, const char *what,
                       const char *customer, const char *provider, const char *prefix,
                       bool replaced)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "customer", json_object_new_string(customer));
    json_object_object_add(d, "provider", json_object_new_string(provider));
    if (prefix) {
        json_object_object_add(d, "key_hash_prefix", json_object_new_string(prefix));
        json_object_object_add(d, "replaced", json_object_new_boolean(replaced));
        json_object_object_add(d, "master_key_id", json_object_new_string(coop_vault_master_id(v)));
    }
    coop_audit_config_change(v->store, req->principal.token_id, what,
                             json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
    json_object_put(d);
}

static bool names_ok(struct coop_http_request *req, struct coop_http_response *res)
{
    if (!coop_vault_customer_valid(req->params[0])) {
        coop_http_error(res, req, 400, "invalid_customer",
                        "customer must be 1-128 characters of A-Z a-z 0-9 . _ @ : -");
        return false;
    }
    if (!coop_vault_provider_valid(req->params[1])) {
        coop_http_error(res, req, 400, "invalid_provider",
                        "provider must be 1-64 characters of a-z 0-9 . _ -");
        return false;
    }
    return true;
}

static void put_key(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_vault *v = ((struct coop_app *)ctx)->vault;
    json_object *body = NULL;
    if (!names_ok(req, res))
        goto out;
    if (coop_json_parse(req->body, req->body_len, 4, true, &body) != COOP_ERR_OK ||
        !json_object_is_type(body, json_type_object)) {
        coop_http_error(res, req, 400, "invalid_json", "the body must be a JSON object");
        goto out;
    }
    json_object *k = NULL;
    if (!json_object_object_get_ex(body, "api_key", &k) ||
        !json_object_is_type(k, json_type_string) || json_object_object_length(body) != 1) {
        coop_http_error(res, req, 400, "invalid_request",
                        "the body must be {\"api_key\":\"...\"} and nothing else");
        goto out;
    }
    const char *key = json_object_get_string(k);
    size_t key_len = (size_t)json_object_get_string_len(k);
    char prefix[17];
    bool replaced = false;
    coop_err err =
        coop_vault_put(v, req->params[0], req->params[1], key, key_len, prefix, &replaced);
    wipe(key, key_len);
    if (err == COOP_ERR_INVALID) {
        coop_http_error(res, req, 400, "invalid_key",
                        "api_key must be 8 to 4096 printable ASCII characters without spaces");
        goto out;
    }
    if (err) {
        coop_log_error("BYOK key not stored", COOP_F_STR("customer", req->params[0]),
                       COOP_F_STR("provider", req->params[1]), COOP_F_ERR(err));
        coop_http_error(res, req, 503, "store_unavailable", "the key could not be stored");
        goto out;
    }
    log_change(v, req, "byok.put", req->params[0], req->params[1], prefix, replaced);
    coop_log_info("BYOK key stored", COOP_F_STR("customer", req->params[0]),
                  COOP_F_STR("provider", req->params[1]), COOP_F_STR("hash_prefix", prefix),
                  COOP_F_BOOL("replaced", replaced));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "customer", json_object_new_string(req->params[0]));
    json_object_object_add(o, "provider", json_object_new_string(req->params[1]));
    json_object_object_add(o, "key_hash_prefix", json_object_new_string(prefix));
    json_object_object_add(o, "master_key_id", json_object_new_string(coop_vault_master_id(v)));
    json_object_object_add(o, "replaced", json_object_new_boolean(replaced));
    coop_http_json(res, replaced ? 200 : 201, o);
    json_object_put(o);
out:
    json_object_put(body);
    wipe(req->body, req->body_len);
}

static void delete_key(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_vault *v = ((struct coop_app *)ctx)->vault;
    if (!names_ok(req, res))
        return;
    coop_err err = coop_vault_delete(v, req->params[0], req->params[1]);
    if (err == COOP_ERR_NOT_FOUND)
        return coop_http_error(res, req, 404, "not_found", "no key is stored for that pair");
    if (err)
        return coop_http_error(res, req, 503, "store_unavailable", "the key could not be removed");
    log_change(v, req, "byok.delete", req->params[0], req->params[1], NULL, false);
    coop_log_info("BYOK key removed", COOP_F_STR("customer", req->params[0]),
                  COOP_F_STR("provider", req->params[1]));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "customer", json_object_new_string(req->params[0]));
    json_object_object_add(o, "provider", json_object_new_string(req->params[1]));
    json_object_object_add(o, "deleted", json_object_new_boolean(true));
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static void list_keys(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_vault *v = ((struct coop_app *)ctx)->vault;
    json_object *rows = NULL;
    if (coop_vault_list(v, &rows) != COOP_ERR_OK)
        return coop_http_error(res, req, 503, "store_unavailable", "the keys could not be listed");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "keys", rows);
    json_object_object_add(o, "master_key_id", json_object_new_string(coop_vault_master_id(v)));
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static coop_err vault_routes(struct coop_app *app)
{
    const struct coop_http_route routes[] = {
        {.method = "PUT",
         .pattern = "/v1/admin/byok/{customer}/{provider}",
         .scope = COOP_SCOPE_ADMIN,
         .max_body = PUT_MAX_BODY,
         .handler = put_key,
         .ctx = app},
        {.method = "DELETE",
         .pattern = "/v1/admin/byok/{customer}/{provider}",
         .scope = COOP_SCOPE_ADMIN,
         .handler = delete_key,
         .ctx = app},
        {.method = "GET",
         .pattern = "/v1/admin/byok",
         .scope = COOP_SCOPE_ADMIN,
         .handler = list_keys,
         .ctx = app},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        coop_err err = coop_http_add_route(app->http, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

/* Opening at start rather than at registration means a module failing to
 * register leaves nothing to free. */
static coop_err vault_start(struct coop_app *app)
{
    char msg[200] = "";
    coop_err err = coop_vault_open(&app->config, app->store, &app->vault, msg, sizeof msg);
    if (err) {
        fprintf(stderr, "coopd: %s\n", msg);
        coop_log_error("vault cannot open", COOP_F_STR("detail", msg));
        return err;
    }
    int64_t current = 0, previous = 0, unopenable = 0;
    if (coop_vault_check(app->vault, &current, &previous, &unopenable) == COOP_ERR_OK) {
        if (unopenable > 0)
            coop_log_error("some BYOK keys are sealed under a master key this server does not "
                           "hold: their requests will fail until COOP_MASTER_KEY (or "
                           "COOP_MASTER_KEY_PREVIOUS) holds it",
                           COOP_F_INT("unopenable", unopenable));
        if (previous > 0)
            coop_log_warn("some BYOK keys are sealed under a previous master key: run coopd vault "
                          "rewrap",
                          COOP_F_INT("previous", previous));
    }
    return COOP_ERR_OK;
}

static void vault_stop(struct coop_app *app)
{
    coop_vault_free(app->vault);
    app->vault = NULL;
}

const struct coop_app_module coop_vault_module = {
    .name = "vault",
    .register_routes = vault_routes,
    .start = vault_start,
    .stop = vault_stop,
};

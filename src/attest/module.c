/*
 * Attestations in coopd serve: GET /v1/admin/retention-report,
 * POST /v1/admin/attestation (a signed DSSE envelope; ?days=N or
 * {"days":N}, default 90) and the public GET /v1/attestation/public-key.
 */
#include "attest_int.h"

#include "coop/audit.h"
#include "coop/http.h"
#include "main/app.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>

#define DEFAULT_DAYS 90

struct attest_module {
    struct coop_attest_signer *signer;
    struct coop_store *store;
    int retention_days;
};

static struct attest_module mod;

static bool days_arg(struct coop_http_request *req, struct coop_http_response *res, int *days)
{
    int64_t d = DEFAULT_DAYS;
    const char *q = coop_http_query(req, "days");
    json_object *body = NULL;
    if (q && coop_parse_i64(q, &d) != COOP_ERR_OK)
        d = -1;
    if (req->body_len > 0) {
        if (coop_json_parse(req->body, req->body_len, 4, true, &body) != COOP_ERR_OK ||
            !json_object_is_type(body, json_type_object)) {
            coop_http_error(res, req, 400, "invalid_json", "the body must be a JSON object");
            return false;
        }
        json_object *v = NULL;
        if (json_object_object_get_ex(body, "days", &v) && !coop_json_int(body, "days", &d))
            d = -1;
        json_object_put(body);
    }
    if (d < 1 || d > 3650) {
        coop_http_error(res, req, 400, "invalid_days", "days must be an integer from 1 to 3650");
        return false;
    }
    *days = (int)d;
    return true;
}

static void report(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    int days;
    if (!days_arg(req, res, &days))
        return;
    json_object *r = NULL;
    if (coop_attest_report(mod.store, coop_clock_now_ms(), days, mod.retention_days, &r))
        return coop_http_error(res, req, 503, "store_unavailable", "the report could not be built");
    coop_http_json(res, 200, r);
    json_object_put(r);
}

static void attestation(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    int days;
    if (!mod.signer)
        return coop_http_error(res, req, 503, "attestation_unavailable",
                               "no signing key is configured (COOP_SIGNING_KEY)");
    if (!days_arg(req, res, &days))
        return;
    json_object *env = NULL;
    if (coop_attest_envelope(mod.signer, mod.store, coop_clock_now_ms(), days, mod.retention_days,
                             &env))
        return coop_http_error(res, req, 503, "store_unavailable",
                               "the attestation could not be built");
    coop_log_info("attestation signed", COOP_F_INT("days", days),
                  COOP_F_STR("signer", coop_attest_key_id(mod.signer)));
    coop_http_json(res, 200, env);
    json_object_put(env);
}

static void public_key(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    if (!mod.signer)
        return coop_http_error(res, req, 503, "attestation_unavailable",
                               "no signing key is configured (COOP_SIGNING_KEY)");
    const unsigned char *pk = coop_attest_public_key(mod.signer);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    struct coop_buf pem;
    coop_buf_init(&pem, 1024);
    sodium_bin2base64(b64, sizeof b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
    coop_attest_public_pem(pk, &pem);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "public_key", json_object_new_string(b64));
    json_object_object_add(o, "key_id", json_object_new_string(coop_attest_key_id(mod.signer)));
    json_object_object_add(o, "algorithm", json_object_new_string("ed25519"));
    json_object_object_add(o, "public_key_pem", json_object_new_string(pem.data));
    coop_buf_dispose(&pem);
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static coop_err attest_routes(struct coop_app *app)
{
    const struct coop_http_route routes[] = {
        {.method = "GET",
         .pattern = "/v1/admin/retention-report",
         .scope = COOP_SCOPE_ADMIN,
         .handler = report},
        {.method = "POST",
         .pattern = "/v1/admin/attestation",
         .scope = COOP_SCOPE_ADMIN,
         .max_body = 1024,
         .handler = attestation},
        {.method = "GET",
         .pattern = "/v1/attestation/public-key",
         .scope = COOP_ROUTE_PUBLIC,
         .handler = public_key},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        coop_err err = coop_http_add_route(app->http, &routes[i]);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

/* Production without COOP_SIGNING_KEY still serves; only attestations are
 * unavailable (503), and coopd check says so. */
static coop_err attest_start(struct coop_app *app)
{
    char msg[200] = "";
    coop_err err = coop_audit_retention_days(&app->config, &mod.retention_days);
    if (err)
        return err;
    mod.store = app->store;
    if (coop_attest_signer_open(&app->config, &mod.signer, msg, sizeof msg) != COOP_ERR_OK) {
        mod.signer = NULL;
        coop_log_warn("attestations are unavailable", COOP_F_STR("detail", msg));
    }
    return COOP_ERR_OK;
}

static void attest_stop(struct coop_app *app)
{
    coop_attest_signer_free(mod.signer);
    mod.signer = NULL;
}

const struct coop_app_module coop_attest_module = {
    .name = "attest",
    .register_routes = attest_routes,
    .start = attest_start,
    .stop = attest_stop,
};

/*
 * API tokens and their scopes. A token is shown once, when created; the
 * store keeps only its SHA-256, so a copy of the database grants nothing.
 * A presented token is found by its hash: the lookup compares digests of
 * a 256-bit random value, which leaks nothing usable about any token.
 */
#include "http_int.h"

#include "coop/store.h"
#include "coop/vault.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

const struct coop_migration coop_auth_migrations[] = {
    {"auth.001",
     "CREATE TABLE api_tokens ("
     " id TEXT PRIMARY KEY,"
     " hash TEXT NOT NULL UNIQUE,"
     " scopes INTEGER NOT NULL,"
     " customer TEXT,"
     " created_at INTEGER NOT NULL,"
     " last_used_at INTEGER,"
     " revoked_at INTEGER);",
     "CREATE TABLE api_tokens ("
     " id TEXT PRIMARY KEY,"
     " hash TEXT NOT NULL UNIQUE,"
     " scopes INTEGER NOT NULL,"
     " customer TEXT,"
     " created_at BIGINT NOT NULL,"
     " last_used_at BIGINT,"
     " revoked_at BIGINT);"},
    {NULL, NULL, NULL},
};

unsigned coop_scope_parse(const char *name)
{
    if (strcmp(name, "read") == 0)
        return COOP_SCOPE_READ;
    if (strcmp(name, "llm") == 0)
        return COOP_SCOPE_LLM;
    if (strcmp(name, "admin") == 0)
        return COOP_SCOPE_ADMIN;
    return 0;
}

void coop_scope_format(unsigned scopes, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s%s%s", scopes & COOP_SCOPE_READ ? "read" : "",
             (scopes & COOP_SCOPE_READ) && (scopes & (COOP_SCOPE_LLM | COOP_SCOPE_ADMIN)) ? "," : "",
             scopes & COOP_SCOPE_LLM ? "llm" : "",
             (scopes & COOP_SCOPE_LLM) && (scopes & COOP_SCOPE_ADMIN) ? "," : "",
             scopes & COOP_SCOPE_ADMIN ? "admin" : "");
}

coop_err coop_auth_token_create(struct coop_store *store, unsigned scopes, const char *customer,
                                char token_out[80], char id_out[40])
{
    char secret[65], hash[65], id[25];
    if (scopes == 0 || (scopes & ~(unsigned)COOP_SCOPE_ALL))
        return COOP_ERR_INVALID;
    /* Customer ids name BYOK keys and appear in URLs and audit rows: the
     * vault's charset applies. */
    if (customer && !coop_vault_customer_valid(customer))
        return COOP_ERR_INVALID;
    coop_random_hex(secret, 32);
    coop_random_hex(id, 12);
    snprintf(token_out, 80, "coop_%s", secret);
    coop_sha256_hex(token_out, strlen(token_out), hash);
    snprintf(id_out, 40, "tok_%s", id);
    coop_err err = coop_store_exec(
        store,
        "INSERT INTO api_tokens (id, hash, scopes, customer, created_at) VALUES (?, ?, ?, ?, ?)",
        COOP_PARAMS(COOP_PT(id_out), COOP_PT(hash), COOP_PI(scopes), COOP_PT(customer),
                    COOP_PI(coop_clock_now_ms())),
        NULL);
    memset(secret, 0, sizeof secret);
    if (err)
        memset(token_out, 0, 80);
    return err;
}

/* last_used_at is written at most once a minute per token, so that
 * authenticating costs no write on most requests. */
#define LAST_USED_GRANULARITY_MS 60000

struct lookup {
    struct coop_principal *p;
    int64_t last_used_at;
};

static coop_err read_principal(void *ctx, const struct coop_row *row)
{
    struct lookup *l = ctx;
    struct coop_principal *p = l->p;
    l->last_used_at = coop_row_is_null(row, 3) ? 0 : coop_row_int(row, 3);
    const char *id = coop_row_text(row, 0, NULL);
    const char *customer = coop_row_text(row, 2, NULL);
    coop_strlcpy(p->token_id, id ? id : "", sizeof p->token_id);
    p->scopes = (unsigned)coop_row_int(row, 1) & COOP_SCOPE_ALL;
    coop_strlcpy(p->customer, customer ? customer : "", sizeof p->customer);
    return COOP_ERR_OK;
}

coop_err coop_auth_token_lookup(struct coop_store *store, const char *token,
                                struct coop_principal *out)
{
    char hash[65];
    size_t n = strnlen(token, 256);
    memset(out, 0, sizeof *out);
    if (n < 16 || n >= 256)
        return COOP_ERR_AUTH;
    coop_sha256_hex(token, n, hash);
    struct lookup l = {out, 0};
    coop_err err = coop_store_query(store,
                                    "SELECT id, scopes, customer, last_used_at FROM api_tokens "
                                    "WHERE hash = ? AND revoked_at IS NULL",
                                    COOP_PARAMS(COOP_PT(hash)), read_principal, &l);
    if (err)
        return err;
    if (!out->scopes)
        return COOP_ERR_AUTH;
    int64_t now = coop_clock_now_ms();
    if (l.last_used_at == 0 || now - l.last_used_at >= LAST_USED_GRANULARITY_MS) {
        /* Best effort: failing to record the time does not refuse the token. */
        coop_err e = coop_store_exec(store, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                                     COOP_PARAMS(COOP_PI(now), COOP_PT(out->token_id)), NULL);
        if (e)
            coop_log_warn("token last_used_at not recorded", COOP_F_ERR(e));
    }
    return COOP_ERR_OK;
}

coop_err coop_auth_token_revoke(struct coop_store *store, const char *id)
{
    int64_t changes = 0;
    coop_err err = coop_store_exec(
        store, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        COOP_PARAMS(COOP_PI(coop_clock_now_ms()), COOP_PT(id)), &changes);
    if (err)
        return err;
    return changes ? COOP_ERR_OK : COOP_ERR_NOT_FOUND;
}

static coop_err list_row(void *ctx, const struct coop_row *row)
{
    json_object *arr = ctx, *o = json_object_new_object();
    char scopes[32];
    coop_scope_format((unsigned)coop_row_int(row, 1), scopes, sizeof scopes);
    json_object_object_add(o, "id", json_object_new_string(coop_row_text(row, 0, NULL)));
    json_object_object_add(o, "scopes", json_object_new_string(scopes));
    const char *customer = coop_row_text(row, 2, NULL);
    json_object_object_add(o, "customer", customer ? json_object_new_string(customer) : NULL);
    json_object_object_add(o, "created_at", json_object_new_int64(coop_row_int(row, 3)));
    json_object_object_add(o, "last_used_at",
                           coop_row_is_null(row, 4) ? NULL : json_object_new_int64(coop_row_int(row, 4)));
    json_object_object_add(o, "revoked_at",
                           coop_row_is_null(row, 5) ? NULL : json_object_new_int64(coop_row_int(row, 5)));
    json_object_array_add(arr, o);
    return COOP_ERR_OK;
}

coop_err coop_auth_token_list(struct coop_store *store, struct json_object **out)
{
    json_object *arr = json_object_new_array();
    coop_err err = coop_store_query(store,
                                    "SELECT id, scopes, customer, created_at, last_used_at, "
                                    "revoked_at FROM api_tokens ORDER BY created_at, id",
                                    COOP_NOPARAMS, list_row, arr);
    if (err) {
        json_object_put(arr);
        return err;
    }
    *out = arr;
    return COOP_ERR_OK;
}

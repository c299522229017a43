/*
 * BYOK keys at rest and in use. Sealing is XChaCha20-Poly1305 (libsodium's
 * IETF construction, a random 192-bit nonce per seal) under the current
 * master key, with "coop.byok.v1\n<customer>\n<provider>" as associated
 * data: a sealed key moved to another customer's or provider's row no
 * longer opens. Each row names the master key (by id) that sealed it, so a
 * rotation can run while servers hold the old and the new key together.
 */
#include "vault_int.h"

#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MIN 8
#define KEY_MAX 4096
#define SEALED_MAX (KEY_MAX + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
/* last_used_at is written at most this often per key, so that using a key
 * costs no write on most requests. */
#define LAST_USED_GRANULARITY_MS 60000

#define BYOK_TABLE(BIG, BLOB)                                                                      \
    "CREATE TABLE byok_keys ("                                                                     \
    " customer TEXT NOT NULL,"                                                                     \
    " provider TEXT NOT NULL,"                                                                     \
    " master_id TEXT NOT NULL,"                                                                    \
    " nonce " BLOB " NOT NULL,"                                                                    \
    " sealed " BLOB " NOT NULL,"                                                                   \
    " key_hash TEXT NOT NULL,"                                                                     \
    " created_at " BIG " NOT NULL,"                                                                \
    " updated_at " BIG " NOT NULL,"                                                                \
    " last_used_at " BIG ","                                                                       \
    " PRIMARY KEY (customer, provider));"

const struct coop_migration coop_vault_migrations[] = {
    {"vault.001", BYOK_TABLE("INTEGER", "BLOB"), BYOK_TABLE("BIGINT", "BYTEA")},
    {NULL, NULL, NULL},
};

/* ---- names ---------------------------------------------------------------- */

static bool charset(const char *s, size_t max, const char *extra, bool upper)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (upper && c >= 'A' && c <= 'Z') || (c && strchr(extra, c));
        if (!ok)
            return false;
    }
    return true;
}

bool coop_vault_customer_valid(const char *customer)
{
    return charset(customer, 128, "._@:-", true);
}

bool coop_vault_provider_valid(const char *provider)
{
    return charset(provider, 64, "._-", false);
}

static bool key_valid(const char *key, size_t len)
{
    if (!key || len < KEY_MIN || len > KEY_MAX)
        return false;
    /* Printable ASCII without spaces: a key goes into an HTTP header. */
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++)
        bad |= (unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e;
    return bad == 0;
}

static size_t associated_data(char *out, size_t size, const char *customer, const char *provider)
{
    int n = snprintf(out, size, "coop.byok.v1\n%s\n%s", customer, provider);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- open and close ------------------------------------------------------- */

static void pool_drain(void);

coop_err coop_vault_open(const struct coop_config *cfg, struct coop_store *store,
                         struct coop_vault **out, char *err, size_t errlen)
{
    struct coop_vault *v = calloc(1, sizeof *v);
    if (!v)
        return COOP_ERR_NOMEM;
    coop_err e = vault_keyring_load(&v->ring, cfg, err, errlen);
    if (e) {
        free(v);
        return e;
    }
    v->store = store;
    *out = v;
    return COOP_ERR_OK;
}

void coop_vault_free(struct coop_vault *v)
{
    if (!v)
        return;
    vault_keyring_dispose(&v->ring);
    free(v);
    pool_drain();
}

const char *coop_vault_master_id(const struct coop_vault *v)
{
    return v->ring.keys[0].id;
}

/* ---- sealing -------------------------------------------------------------- */

struct sealed {
    char master_id[17];
    unsigned char nonce[NONCE_BYTES];
    unsigned char data[SEALED_MAX];
    size_t len;
    int64_t last_used_at;
    bool found;
};

static void seal(const struct vault_master *m, const char *customer, const char *provider,
                 const char *key, size_t len, struct sealed *out)
{
    char ad[256];
    size_t adlen = associated_data(ad, sizeof ad, customer, provider);
    unsigned long long clen = 0;
    randombytes_buf(out->nonce, sizeof out->nonce);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out->data, &clen, (const unsigned char *)key, len,
                                               (const unsigned char *)ad, adlen, NULL, out->nonce,
                                               m->key);
    out->len = (size_t)clen;
    coop_strlcpy(out->master_id, m->id, sizeof out->master_id);
}

/* ---- secret memory -------------------------------------------------------- */

/*
 * Opened keys live in sodium_malloc memory (guard pages, mlock). Mapping
 * and unmapping that memory costs about half a millisecond per request on
 * a virtual machine, so slots big enough for any key are kept in a small
 * pool: a slot is zeroed when its request ends and handed to the next one,
 * and it never holds a key between requests.
 */
#define SLOT_BYTES (KEY_MAX + 1)
#define POOL_SLOTS 32

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static char *pool[POOL_SLOTS];
static size_t pool_n;

static char *slot_take(void)
{
    char *p = NULL;
    pthread_mutex_lock(&pool_mu);
    if (pool_n > 0)
        p = pool[--pool_n];
    pthread_mutex_unlock(&pool_mu);
    return p ? p : sodium_malloc(SLOT_BYTES);
}

static void slot_give(char *p)
{
    if (!p)
        return;
    sodium_memzero(p, SLOT_BYTES);
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_SLOTS) {
        pool[pool_n++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    sodium_free(p); /* NULL when pooled */
}

static void pool_drain(void)
{
    pthread_mutex_lock(&pool_mu);
    while (pool_n > 0)
        sodium_free(pool[--pool_n]);
    pthread_mutex_unlock(&pool_mu);
}

/* Opens into sodium_malloc memory; COOP_ERR_CRYPTO when it does not. */
static coop_err unseal(const struct coop_vault *v, const char *customer, const char *provider,
                       const struct sealed *s, struct coop_vault_secret **out)
{
    const struct vault_master *m = vault_keyring_find(&v->ring, s->master_id);
    if (!m) {
        coop_log_error("BYOK key is sealed under a master key this server does not hold: "
                       "COOP_MASTER_KEY is not the key it was stored with",
                       COOP_F_STR("customer", customer), COOP_F_STR("provider", provider),
                       COOP_F_STR("sealed_under", s->master_id),
                       COOP_F_STR("current_master", v->ring.keys[0].id));
        return COOP_ERR_CRYPTO;
    }
    if (s->len < crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        s->len - crypto_aead_xchacha20poly1305_ietf_ABYTES >= SLOT_BYTES)
        return COOP_ERR_CRYPTO;
    struct coop_vault_secret *sec = calloc(1, sizeof *sec);
    char *data = slot_take();
    if (!sec || !data) {
        free(sec);
        slot_give(data);
        return COOP_ERR_NOMEM;
    }
    char ad[256];
    size_t adlen = associated_data(ad, sizeof ad, customer, provider);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)data, &mlen, NULL, s->data,
                                                   s->len, (const unsigned char *)ad, adlen,
                                                   s->nonce, m->key) != 0) {
        slot_give(data);
        free(sec);
        coop_log_error("BYOK key failed authentication: wrong master key or altered row",
                       COOP_F_STR("customer", customer), COOP_F_STR("provider", provider),
                       COOP_F_STR("sealed_under", s->master_id));
        return COOP_ERR_CRYPTO;
    }
    data[mlen] = '\0';
    sec->data = data;
    sec->len = (size_t)mlen;
    *out = sec;
    return COOP_ERR_OK;
}

void coop_vault_secret_free(struct coop_vault_secret *s)
{
    if (!s)
        return;
    slot_give(s->data); /* zeroed before reuse or sodium_free */
    free(s);
}

/* ---- store operations ----------------------------------------------------- */

static coop_err read_sealed(void *ctx, const struct coop_row *row)
{
    struct sealed *s = ctx;
    size_t nlen = 0, dlen = 0;
    const char *id = coop_row_text(row, 0, NULL);
    const void *nonce = coop_row_blob(row, 1, &nlen);
    const void *data = coop_row_blob(row, 2, &dlen);
    if (!id || !nonce || !data || nlen != NONCE_BYTES || dlen > SEALED_MAX)
        return COOP_ERR_CRYPTO;
    coop_strlcpy(s->master_id, id, sizeof s->master_id);
    memcpy(s->nonce, nonce, nlen);
    memcpy(s->data, data, dlen);
    s->len = dlen;
    s->last_used_at = coop_row_is_null(row, 3) ? 0 : coop_row_int(row, 3);
    s->found = true;
    return COOP_ERR_OK;
}

static coop_err load_sealed(struct coop_conn *conn, const char *customer, const char *provider,
                            struct sealed *s)
{
    memset(s, 0, sizeof *s);
    coop_err err =
        coop_conn_query(conn,
                        "SELECT master_id, nonce, sealed, last_used_at FROM byok_keys "
                        "WHERE customer = ? AND provider = ?",
                        COOP_PARAMS(COOP_PT(customer), COOP_PT(provider)), read_sealed, s);
    if (err == COOP_ERR_CRYPTO)
        coop_log_error("BYOK row is malformed", COOP_F_STR("customer", customer),
                       COOP_F_STR("provider", provider));
    if (!err && !s->found)
        err = COOP_ERR_NOT_FOUND;
    return err;
}

struct put_ctx {
    const char *customer, *provider;
    const struct sealed *s;
    const char *hash;
    bool replaced;
};

static coop_err put_tx(struct coop_conn *conn, void *ctx)
{
    struct put_ctx *p = ctx;
    int64_t existing = 0, now = coop_clock_now_ms();
    coop_err err = coop_conn_query_int(
        conn, "SELECT COUNT(*) FROM byok_keys WHERE customer = ? AND provider = ?",
        COOP_PARAMS(COOP_PT(p->customer), COOP_PT(p->provider)), &existing);
    if (err)
        return err;
    p->replaced = existing > 0;
    return coop_conn_exec(
        conn,
        "INSERT INTO byok_keys (customer, provider, master_id, nonce, sealed, key_hash, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (customer, provider) DO UPDATE SET master_id = excluded.master_id, "
        "nonce = excluded.nonce, sealed = excluded.sealed, key_hash = excluded.key_hash, "
        "created_at = excluded.created_at, updated_at = excluded.updated_at, last_used_at = NULL",
        COOP_PARAMS(COOP_PT(p->customer), COOP_PT(p->provider), COOP_PT(p->s->master_id),
                    COOP_PB(p->s->nonce, NONCE_BYTES), COOP_PB(p->s->data, p->s->len),
                    COOP_PT(p->hash), COOP_PI(now), COOP_PI(now)),
        NULL);
}

coop_err coop_vault_put(struct coop_vault *v, const char *customer, const char *provider,
                        const char *key, size_t key_len, char hash_prefix[17], bool *replaced)
{
    if (!coop_vault_customer_valid(customer) || !coop_vault_provider_valid(provider) ||
        !key_valid(key, key_len))
        return COOP_ERR_INVALID;
    char full[65];
    coop_sha256_hex(key, key_len, full);
    coop_strlcpy(hash_prefix, full, 17);
    struct sealed *s = malloc(sizeof *s);
    if (!s)
        return COOP_ERR_NOMEM;
    memset(s, 0, sizeof *s);
    seal(&v->ring.keys[0], customer, provider, key, key_len, s);
    struct put_ctx p = {customer, provider, s, hash_prefix, false};
    coop_err err = coop_store_tx(v->store, true, put_tx, &p);
    free(s);
    if (!err && replaced)
        *replaced = p.replaced;
    return err;
}

coop_err coop_vault_delete(struct coop_vault *v, const char *customer, const char *provider)
{
    if (!coop_vault_customer_valid(customer) || !coop_vault_provider_valid(provider))
        return COOP_ERR_INVALID;
    int64_t changes = 0;
    coop_err err =
        coop_store_exec(v->store, "DELETE FROM byok_keys WHERE customer = ? AND provider = ?",
                        COOP_PARAMS(COOP_PT(customer), COOP_PT(provider)), &changes);
    if (!err && changes == 0)
        err = COOP_ERR_NOT_FOUND;
    return err;
}

static json_object *time_or_null(const struct coop_row *row, int col)
{
    if (coop_row_is_null(row, col))
        return NULL;
    char t[32];
    coop_clock_format(coop_row_int(row, col), t);
    return json_object_new_string(t);
}

static coop_err list_row(void *ctx, const struct coop_row *row)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "customer", json_object_new_string(coop_row_text(row, 0, NULL)));
    json_object_object_add(o, "provider", json_object_new_string(coop_row_text(row, 1, NULL)));
    json_object_object_add(o, "key_hash_prefix",
                           json_object_new_string(coop_row_text(row, 2, NULL)));
    json_object_object_add(o, "master_key_id", json_object_new_string(coop_row_text(row, 3, NULL)));
    json_object_object_add(o, "created_at", time_or_null(row, 4));
    json_object_object_add(o, "updated_at", time_or_null(row, 5));
    json_object_object_add(o, "last_used_at", time_or_null(row, 6));
    json_object_array_add(ctx, o);
    return COOP_ERR_OK;
}

coop_err coop_vault_list(struct coop_vault *v, json_object **out)
{
    json_object *arr = json_object_new_array();
    coop_err err = coop_store_query(v->store,
                                    "SELECT customer, provider, key_hash, master_id, created_at, "
                                    "updated_at, last_used_at FROM byok_keys "
                                    "ORDER BY customer, provider",
                                    COOP_NOPARAMS, list_row, arr);
    if (err) {
        json_object_put(arr);
        return err;
    }
    *out = arr;
    return COOP_ERR_OK;
}

struct open_ctx {
    const struct coop_vault *v;
    const char *customer, *provider;
    struct sealed *s;
};

static coop_err open_tx(struct coop_conn *conn, void *ctx)
{
    struct open_ctx *o = ctx;
    return load_sealed(conn, o->customer, o->provider, o->s);
}

coop_err coop_vault_open_key(struct coop_vault *v, const char *customer, const char *provider,
                             struct coop_vault_secret **out)
{
    *out = NULL;
    if (!coop_vault_customer_valid(customer) || !coop_vault_provider_valid(provider))
        return COOP_ERR_NOT_FOUND;
    struct sealed *s = malloc(sizeof *s);
    if (!s)
        return COOP_ERR_NOMEM;
    struct open_ctx o = {v, customer, provider, s};
    coop_err err = coop_store_tx(v->store, false, open_tx, &o);
    if (!err)
        err = unseal(v, customer, provider, s, out);
    int64_t now = coop_clock_now_ms();
    if (!err && (s->last_used_at == 0 || now - s->last_used_at >= LAST_USED_GRANULARITY_MS)) {
        /* Best effort: a failed timestamp write does not fail the request. */
        coop_err e = coop_store_exec(
            v->store, "UPDATE byok_keys SET last_used_at = ? WHERE customer = ? AND provider = ?",
            COOP_PARAMS(COOP_PI(now), COOP_PT(customer), COOP_PT(provider)), NULL);
        if (e)
            coop_log_warn("BYOK last_used_at not recorded", COOP_F_ERR(e));
    }
    free(s);
    return err;
}

/* ---- check and rotation --------------------------------------------------- */

struct check_ctx {
    const struct coop_vault *v;
    int64_t current, previous, unopenable;
};

static coop_err check_row(void *ctx, const struct coop_row *row)
{
    struct check_ctx *c = ctx;
    const char *id = coop_row_text(row, 0, NULL);
    int64_t n = coop_row_int(row, 1);
    const struct vault_master *m = id ? vault_keyring_find(&c->v->ring, id) : NULL;
    if (m == &c->v->ring.keys[0])
        c->current += n;
    else if (m)
        c->previous += n;
    else
        c->unopenable += n;
    return COOP_ERR_OK;
}

coop_err coop_vault_check(struct coop_vault *v, int64_t *current, int64_t *previous,
                          int64_t *unopenable)
{
    struct check_ctx c = {.v = v};
    coop_err err =
        coop_store_query(v->store, "SELECT master_id, COUNT(*) FROM byok_keys GROUP BY master_id",
                         COOP_NOPARAMS, check_row, &c);
    *current = c.current;
    *previous = c.previous;
    *unopenable = c.unopenable;
    return err;
}

struct rewrap_ctx {
    struct coop_vault *v;
    const char *customer, *provider;
    bool done;
};

static coop_err rewrap_tx(struct coop_conn *conn, void *ctx)
{
    struct rewrap_ctx *r = ctx;
    const struct vault_master *cur = &r->v->ring.keys[0];
    struct sealed *s = malloc(sizeof *s), *n = malloc(sizeof *n);
    struct coop_vault_secret *sec = NULL;
    coop_err err = (s && n) ? load_sealed(conn, r->customer, r->provider, s) : COOP_ERR_NOMEM;
    r->done = false;
    if (!err && strcmp(s->master_id, cur->id) == 0)
        goto out; /* resealed meanwhile */
    if (!err)
        err = unseal(r->v, r->customer, r->provider, s, &sec);
    if (!err) {
        memset(n, 0, sizeof *n);
        seal(cur, r->customer, r->provider, sec->data, sec->len, n);
        err = coop_conn_exec(conn,
                             "UPDATE byok_keys SET master_id = ?, nonce = ?, sealed = ? "
                             "WHERE customer = ? AND provider = ? AND master_id = ?",
                             COOP_PARAMS(COOP_PT(n->master_id), COOP_PB(n->nonce, NONCE_BYTES),
                                         COOP_PB(n->data, n->len), COOP_PT(r->customer),
                                         COOP_PT(r->provider), COOP_PT(s->master_id)),
                             NULL);
        r->done = !err;
    }
out:
    coop_vault_secret_free(sec);
    free(s);
    free(n);
    return err == COOP_ERR_NOT_FOUND ? COOP_ERR_OK : err;
}

static coop_err collect_stale(void *ctx, const struct coop_row *row)
{
    json_object *pair = json_object_new_array();
    json_object_array_add(pair, json_object_new_string(coop_row_text(row, 0, NULL)));
    json_object_array_add(pair, json_object_new_string(coop_row_text(row, 1, NULL)));
    json_object_array_add(ctx, pair);
    return COOP_ERR_OK;
}

coop_err coop_vault_rewrap(struct coop_vault *v, int64_t *rewrapped, int64_t *failed)
{
    json_object *stale = json_object_new_array();
    *rewrapped = *failed = 0;
    coop_err err = coop_store_query(
        v->store,
        "SELECT customer, provider FROM byok_keys WHERE master_id <> ? ORDER BY customer, provider",
        COOP_PARAMS(COOP_PT(v->ring.keys[0].id)), collect_stale, stale);
    for (size_t i = 0; !err && i < json_object_array_length(stale); i++) {
        json_object *pair = json_object_array_get_idx(stale, i);
        struct rewrap_ctx r = {
            .v = v,
            .customer = json_object_get_string(json_object_array_get_idx(pair, 0)),
            .provider = json_object_get_string(json_object_array_get_idx(pair, 1)),
        };
        coop_err e = coop_store_tx(v->store, true, rewrap_tx, &r);
        if (e == COOP_ERR_CRYPTO)
            (*failed)++;
        else if (e)
            err = e;
        else if (r.done)
            (*rewrapped)++;
    }
    json_object_put(stale);
    return err;
}

/*
 * GitHub App authentication, as an option to a personal token: the app
 * signs a short JWT (RS256, OpenSSL libcrypto; libsodium has no RSA) with
 * its private key, exchanges it for an installation access token
 * (POST /app/installations/{id}/access_tokens), and the REST clients use
 * that token until shortly before its expires_at, or until the host
 * answers 401 with it. The installation is configured or looked up per
 * repository (GET /repos/{owner}/{repo}/installation).
 *
 * The private key stays inside OpenSSL; JWTs and tokens live in buffers
 * wiped after use or in sodium_malloc'd memory, and tokens are registered
 * with the log scrubber. Errors name the settings, never the values.
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INSTALLATIONS 32
#define MAX_PROJECTS 256
#define JWT_MAX 4096

struct app_token {
    int64_t installation;
    char *token; /* sodium_malloc'd */
    int64_t expires_ms;
};

struct app_project {
    char *project;
    int64_t installation;
};

struct coop_github_app {
    char id[32];
    int64_t installation; /* configured; 0: per repository */
    EVP_PKEY *key;
    pthread_mutex_t lock;
    struct app_token tokens[MAX_INSTALLATIONS];
    struct app_project projects[MAX_PROJECTS];
    size_t n_projects;
};

/* ---- the key and the JWT ---------------------------------------------------- */

static bool app_id_valid(const char *id)
{
    int64_t n;
    return id && *id && strlen(id) < 32 && coop_parse_i64(id, &n) == COOP_ERR_OK && n > 0;
}

coop_err coop_github_app_new(const char *app_id, const char *key_file, int64_t installation_id,
                             struct coop_github_app **out, char *why, size_t why_size)
{
    *out = NULL;
    if (!app_id_valid(app_id)) {
        snprintf(why, why_size, "COOP_GITHUB_APP_ID must be the app's numeric id");
        return COOP_ERR_CONFIG;
    }
    if (!key_file || !*key_file) {
        snprintf(why, why_size,
                 "COOP_GITHUB_APP_PRIVATE_KEY_FILE is required with COOP_GITHUB_APP_ID");
        return COOP_ERR_CONFIG;
    }
    if (installation_id < 0) {
        snprintf(why, why_size, "COOP_GITHUB_APP_INSTALLATION_ID must be a positive number");
        return COOP_ERR_CONFIG;
    }
    BIO *bio = BIO_new_file(key_file, "r");
    if (!bio) {
        ERR_clear_error();
        snprintf(why, why_size, "COOP_GITHUB_APP_PRIVATE_KEY_FILE cannot be read");
        return COOP_ERR_CONFIG;
    }
    /* No passphrase callback: an encrypted key is refused, not prompted for. */
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    ERR_clear_error(); /* the queue may quote what was read */
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048) {
        EVP_PKEY_free(key);
        snprintf(why, why_size,
                 "COOP_GITHUB_APP_PRIVATE_KEY_FILE does not hold an unencrypted RSA private key"
                 " (PEM, 2048 bits or more) as GitHub generates for an app");
        return COOP_ERR_CONFIG;
    }
    struct coop_github_app *app = calloc(1, sizeof *app);
    if (!app) {
        EVP_PKEY_free(key);
        return COOP_ERR_NOMEM;
    }
    coop_strlcpy(app->id, app_id, sizeof app->id);
    app->installation = installation_id;
    app->key = key;
    pthread_mutex_init(&app->lock, NULL);
    *out = app;
    return COOP_ERR_OK;
}

void coop_github_app_free(struct coop_github_app *app)
{
    if (!app)
        return;
    for (size_t i = 0; i < MAX_INSTALLATIONS; i++)
        if (app->tokens[i].token)
            sodium_free(app->tokens[i].token);
    for (size_t i = 0; i < app->n_projects; i++)
        free(app->projects[i].project);
    EVP_PKEY_free(app->key);
    pthread_mutex_destroy(&app->lock);
    free(app);
}

static coop_err put_b64url(struct coop_buf *out, const unsigned char *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *tmp = malloc(cap);
    if (!tmp)
        return COOP_ERR_NOMEM;
    sodium_bin2base64(tmp, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    coop_err err = coop_buf_puts(out, tmp);
    free(tmp);
    return err;
}

coop_err coop_github_app_jwt(struct coop_github_app *app, int64_t now_s, struct coop_buf *out)
{
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char claims[128];
    /* iat a minute back for clock drift; GitHub refuses exp beyond 10 minutes. */
    int n = snprintf(claims, sizeof claims, "{\"iat\":%lld,\"exp\":%lld,\"iss\":\"%s\"}",
                     (long long)(now_s - 60), (long long)(now_s + 540), app->id);
    if (n < 0 || (size_t)n >= sizeof claims)
        return COOP_ERR_INTERNAL;
    coop_buf_reset(out);
    coop_err err = put_b64url(out, (const unsigned char *)header, sizeof header - 1);
    if (!err)
        err = coop_buf_puts(out, ".");
    if (!err)
        err = put_b64url(out, (const unsigned char *)claims, (size_t)n);
    if (err)
        return err;
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, app->key) == 1 &&
              EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)out->data, out->len) == 1 &&
              sig_len <= sizeof sig &&
              EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)out->data, out->len) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (!ok)
        return COOP_ERR_CRYPTO;
    err = coop_buf_puts(out, ".");
    return err ? err : put_b64url(out, sig, sig_len);
}

/* ---- the cache ----------------------------------------------------------------- */

/* Under the lock: the token slot of an installation (found, or a free or the
 * oldest one). */
static struct app_token *slot_for(struct coop_github_app *app, int64_t installation)
{
    struct app_token *pick = &app->tokens[0];
    for (size_t i = 0; i < MAX_INSTALLATIONS; i++) {
        struct app_token *t = &app->tokens[i];
        if (t->installation == installation)
            return t;
        if (!t->installation || (pick->installation && t->expires_ms < pick->expires_ms))
            pick = t;
    }
    return pick;
}

static bool cached_token(struct coop_github_app *app, int64_t installation, struct coop_buf *out)
{
    bool hit = false;
    pthread_mutex_lock(&app->lock);
    struct app_token *t = slot_for(app, installation);
    if (t->installation == installation && t->token &&
        t->expires_ms - coop_clock_now_ms() > COOP_GITHUB_APP_TOKEN_MARGIN_MS) {
        coop_buf_reset(out);
        hit = coop_buf_puts(out, t->token) == COOP_ERR_OK;
    }
    pthread_mutex_unlock(&app->lock);
    return hit;
}

static coop_err keep_token(struct coop_github_app *app, int64_t installation, const char *token,
                           int64_t expires_ms)
{
    size_t n = strlen(token);
    char *copy = sodium_malloc(n + 1);
    if (!copy)
        return COOP_ERR_NOMEM;
    memcpy(copy, token, n + 1);
    pthread_mutex_lock(&app->lock);
    struct app_token *t = slot_for(app, installation);
    if (t->token) {
        /* The replaced token is expiring or refused: the scrubber's
         * room goes to the new one (a long-running coopd gets one an hour). */
        coop_log_unregister_secret(t->token);
        sodium_free(t->token);
    }
    *t = (struct app_token){installation, copy, expires_ms};
    pthread_mutex_unlock(&app->lock);
    return COOP_ERR_OK;
}

static int64_t known_installation(struct coop_github_app *app, const char *project)
{
    int64_t id = app->installation;
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; !id && i < app->n_projects; i++)
        if (!strcmp(app->projects[i].project, project))
            id = app->projects[i].installation;
    pthread_mutex_unlock(&app->lock);
    return id;
}

static void keep_installation(struct coop_github_app *app, const char *project, int64_t id)
{
    pthread_mutex_lock(&app->lock);
    if (app->n_projects < MAX_PROJECTS) {
        char *p = strdup(project);
        if (p)
            app->projects[app->n_projects++] = (struct app_project){p, id};
    }
    pthread_mutex_unlock(&app->lock);
}

/* ---- the host's answers ------------------------------------------------------- */

static coop_err app_call(struct coop_github_app *app, struct coop_hosts_client *c,
                         const char *method, const char *url, struct json_object **body)
{
    *body = NULL;
    struct coop_buf jwt;
    coop_buf_init(&jwt, JWT_MAX);
    coop_err err = coop_github_app_jwt(app, coop_clock_now_ms() / 1000, &jwt);
    struct coop_hosts_response r;
    if (!err) {
        err = coop_hosts_request_(c, method, url, jwt.data, &r);
        if (!err)
            err = hosts_json_object(r.body.data, r.body.len, body);
        coop_hosts_response_dispose(&r);
    }
    sodium_memzero(jwt.data, jwt.len);
    coop_buf_dispose(&jwt);
    return err;
}

static coop_err lookup_installation(struct coop_github_app *app, struct coop_hosts_client *c,
                                    const char *project, int64_t *id)
{
    if ((*id = known_installation(app, project)))
        return COOP_ERR_OK;
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    coop_err err = coop_hosts_client_base(c, &url);
    if (!err)
        err = coop_buf_puts(&url, "/repos/");
    if (!err)
        err = hosts_url_escape(&url, project, true);
    if (!err)
        err = coop_buf_puts(&url, "/installation");
    struct json_object *body = NULL;
    if (!err)
        err = app_call(app, c, "GET", url.data, &body);
    coop_buf_dispose(&url);
    struct json_object *v;
    if (!err && (!json_object_object_get_ex(body, "id", &v) ||
                 !json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0))
        err = COOP_ERR_PROTOCOL;
    if (!err) {
        *id = json_object_get_int64(v);
        keep_installation(app, project, *id);
    }
    json_object_put(body);
    if (err)
        coop_log_warn("hosts: GitHub App installation lookup failed", COOP_F_STR("repo", project),
                      COOP_F_ERR(err));
    return err;
}

static coop_err new_token(struct coop_github_app *app, struct coop_hosts_client *c,
                          int64_t installation, struct coop_buf *out)
{
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    coop_err err = coop_hosts_client_base(c, &url);
    if (!err)
        err =
            coop_buf_printf(&url, "/app/installations/%lld/access_tokens", (long long)installation);
    struct json_object *body = NULL;
    if (!err)
        err = app_call(app, c, "POST", url.data, &body);
    coop_buf_dispose(&url);
    const char *token = NULL, *expires = NULL;
    int64_t expires_ms = 0;
    if (!err) {
        token = coop_json_str(body, "token");
        expires = coop_json_str(body, "expires_at");
        if (!token || !*token || strlen(token) > 1024 || strpbrk(token, "\r\n") || !expires ||
            coop_clock_parse(expires, &expires_ms))
            err = COOP_ERR_PROTOCOL;
    }
    if (!err) {
        coop_log_register_secret(token);
        err = keep_token(app, installation, token, expires_ms);
    }
    if (!err) {
        coop_buf_reset(out);
        err = coop_buf_puts(out, token);
        coop_log_info("hosts: GitHub App installation token obtained",
                      COOP_F_INT("installation", installation),
                      COOP_F_INT("valid_s", (expires_ms - coop_clock_now_ms()) / 1000));
    } else {
        coop_log_warn("hosts: GitHub App installation token not obtained",
                      COOP_F_INT("installation", installation), COOP_F_ERR(err));
    }
    if (body && token) {
        /* json-c keeps the token in its string: wipe it before the put. */
        sodium_memzero((char *)token, strlen(token));
    }
    json_object_put(body);
    return err;
}

coop_err coop_github_app_token(struct coop_github_app *app, struct coop_hosts_client *c,
                               const char *project, bool refresh, struct coop_buf *out)
{
    int64_t installation;
    coop_err err = lookup_installation(app, c, project, &installation);
    if (err)
        return err;
    if (!refresh && cached_token(app, installation, out))
        return COOP_ERR_OK;
    return new_token(app, c, installation, out);
}

/* ---- from the configuration --------------------------------------------------- */

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct coop_github_app *configured;

coop_err coop_github_app_from_config(const struct coop_config *cfg, struct coop_github_app **out,
                                     char *why, size_t why_size)
{
    *out = NULL;
    const char *id = coop_config_get(cfg, "COOP_GITHUB_APP_ID");
    if (!id)
        return COOP_ERR_OK;
    int64_t installation = 0;
    const char *inst = coop_config_get(cfg, "COOP_GITHUB_APP_INSTALLATION_ID");
    if (inst && (coop_parse_i64(inst, &installation) || installation <= 0)) {
        snprintf(why, why_size, "COOP_GITHUB_APP_INSTALLATION_ID must be a positive number");
        return COOP_ERR_CONFIG;
    }
    pthread_mutex_lock(&config_lock);
    coop_err err = COOP_ERR_OK;
    if (!configured)
        err = coop_github_app_new(id, coop_config_get(cfg, "COOP_GITHUB_APP_PRIVATE_KEY_FILE"),
                                  installation, &configured, why, why_size);
    *out = configured;
    pthread_mutex_unlock(&config_lock);
    return err;
}

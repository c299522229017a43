/*
 * Configuration: flags, then environment, then the optional JSON file.
 * Every refusal names the variable; no message ever carries a value.
 */
#include "coop/config.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

coop_err coop_config_override(struct coop_config *cfg, const char *name, const char *value)
{
    if (cfg->noverrides == sizeof cfg->override_names / sizeof *cfg->override_names)
        return COOP_ERR_TOO_LARGE;
    cfg->override_names[cfg->noverrides] = name;
    cfg->override_values[cfg->noverrides] = value;
    cfg->noverrides++;
    return COOP_ERR_OK;
}

const char *coop_config_get(const struct coop_config *cfg, const char *name)
{
    for (size_t i = cfg->noverrides; i > 0; i--)
        if (strcmp(cfg->override_names[i - 1], name) == 0)
            return cfg->override_values[i - 1][0] ? cfg->override_values[i - 1] : NULL;
    const char *v = getenv(name);
    if (v && *v)
        return v;
    const char *f = coop_json_str(cfg->file, name);
    return f && *f ? f : NULL;
}

coop_err coop_config_get_int(const struct coop_config *cfg, const char *name, long dflt, long min,
                             long max, long *out, char *err, size_t errlen)
{
    const char *v = coop_config_get(cfg, name);
    int64_t n;
    if (!v) {
        *out = dflt;
        return COOP_ERR_OK;
    }
    if (coop_parse_i64(v, &n) || n < min || n > max) {
        snprintf(err, errlen, "%s must be an integer between %ld and %ld", name, min, max);
        return COOP_ERR_CONFIG;
    }
    *out = (long)n;
    return COOP_ERR_OK;
}

static coop_err load_file(struct coop_config *cfg, char *err, size_t errlen)
{
    const char *path = NULL;
    for (size_t i = cfg->noverrides; i > 0 && !path; i--)
        if (strcmp(cfg->override_names[i - 1], "COOP_CONFIG") == 0)
            path = cfg->override_values[i - 1];
    if (!path)
        path = getenv("COOP_CONFIG");
    if (!path || !*path)
        return COOP_ERR_OK;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "COOP_CONFIG: cannot open the configuration file");
        return COOP_ERR_CONFIG;
    }
    struct coop_buf b;
    char chunk[4096];
    size_t n;
    coop_err e = COOP_ERR_OK;
    coop_buf_init(&b, 1 << 20);
    while (!e && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = coop_buf_append(&b, chunk, n);
    fclose(f);
    if (!e)
        e = coop_json_parse(b.data ? b.data : "", b.len, 16, true, &cfg->file);
    coop_buf_dispose(&b);
    if (e || !json_object_is_type(cfg->file, json_type_object)) {
        snprintf(err, errlen, "COOP_CONFIG: the file must hold one JSON object of strings");
        return COOP_ERR_CONFIG;
    }
    return COOP_ERR_OK;
}

static coop_err parse_listen(struct coop_config *cfg, const char *v, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    int64_t port;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof cfg->listen_host ||
        coop_parse_i64(colon + 1, &port) || port < 0 || port > 65535) {
        snprintf(err, errlen, "COOP_LISTEN must be address:port (for example 127.0.0.1:8080)");
        return COOP_ERR_CONFIG;
    }
    const char *host = v;
    size_t hlen = (size_t)(colon - v);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    memcpy(cfg->listen_host, host, hlen);
    cfg->listen_host[hlen] = '\0';
    cfg->listen_port = (uint16_t)port;
    return COOP_ERR_OK;
}

static coop_err copy_path(char *dst, size_t size, const char *v, const char *name, char *err,
                          size_t errlen)
{
    if (strlen(v) >= size) {
        snprintf(err, errlen, "%s is too long", name);
        return COOP_ERR_CONFIG;
    }
    coop_strlcpy(dst, v, size);
    return COOP_ERR_OK;
}

static coop_err load_core(struct coop_config *cfg, char *err, size_t errlen)
{
    const char *v;
    coop_err e;

    v = coop_config_get(cfg, "COOP_ENV");
    if (!v || strcmp(v, "development") == 0) {
        cfg->production = false;
    } else if (strcmp(v, "production") == 0) {
        cfg->production = true;
    } else {
        snprintf(err, errlen, "COOP_ENV must be development or production");
        return COOP_ERR_CONFIG;
    }
    v = coop_config_get(cfg, "COOP_LISTEN");
    if ((e = parse_listen(cfg, v ? v : "127.0.0.1:8080", err, errlen)))
        return e;
    v = coop_config_get(cfg, "COOP_DATA_DIR");
    if ((e = copy_path(cfg->data_dir, sizeof cfg->data_dir, v ? v : "./var", "COOP_DATA_DIR", err,
                       errlen)))
        return e;
    v = coop_config_get(cfg, "COOP_STORE");
    if (v) {
        if (strncmp(v, "sqlite:", 7) != 0 && strcmp(v, "memory") != 0 &&
            strncmp(v, "postgresql://", 13) != 0 && strncmp(v, "postgres://", 11) != 0) {
            snprintf(err, errlen,
                     "COOP_STORE must be sqlite:PATH, memory, or a postgresql:// URL");
            return COOP_ERR_CONFIG;
        }
        cfg->store_url = strdup(v);
    } else {
        size_t n = strlen(cfg->data_dir) + 16;
        cfg->store_url = malloc(n);
        if (cfg->store_url)
            snprintf(cfg->store_url, n, "sqlite:%s/coop.db", cfg->data_dir);
    }
    if (!cfg->store_url)
        return COOP_ERR_NOMEM;
    return COOP_ERR_OK;
}

static coop_err load_security(struct coop_config *cfg, char *err, size_t errlen)
{
    const char *v;
    coop_err e;

    v = coop_config_get(cfg, "COOP_API_TOKEN");
    if (v) {
        size_t n = strlen(v);
        if (n < 16 || n > 512) {
            snprintf(err, errlen, "COOP_API_TOKEN must be 16 to 512 characters");
            return COOP_ERR_CONFIG;
        }
        cfg->api_token = sodium_malloc(n + 1);
        if (!cfg->api_token)
            return COOP_ERR_NOMEM;
        memcpy(cfg->api_token, v, n + 1);
        coop_log_register_secret(v);
    }
    static const char *const secret_names[] = {
        "COOP_MASTER_KEY", "COOP_SIGNING_KEY", "COOP_GITHUB_WEBHOOK_SECRET",
        "COOP_GITLAB_WEBHOOK_TOKEN", "COOP_GITLAB_SIGNING_KEY", "COOP_BITBUCKET_WEBHOOK_SECRET",
        "COOP_SLACK_SIGNING_SECRET", "COOP_GITHUB_TOKEN", "COOP_GITLAB_TOKEN",
        "COOP_BITBUCKET_TOKEN", "COOP_SLACK_BOT_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY",
        "GEMINI_API_KEY", "DEEPSEEK_API_KEY", "COOP_SELFHOSTED_API_KEY",
    };
    for (size_t i = 0; i < sizeof secret_names / sizeof *secret_names; i++)
        if ((v = coop_config_get(cfg, secret_names[i])))
            coop_log_register_secret(v);

    const char *cert = coop_config_get(cfg, "COOP_TLS_CERT");
    const char *key = coop_config_get(cfg, "COOP_TLS_KEY");
    if (!cert != !key) {
        snprintf(err, errlen, "COOP_TLS_CERT and COOP_TLS_KEY must be set together");
        return COOP_ERR_CONFIG;
    }
    if (cert) {
        if ((e = copy_path(cfg->tls_cert, sizeof cfg->tls_cert, cert, "COOP_TLS_CERT", err, errlen)) ||
            (e = copy_path(cfg->tls_key, sizeof cfg->tls_key, key, "COOP_TLS_KEY", err, errlen)))
            return e;
        if (access(cfg->tls_cert, R_OK) != 0) {
            snprintf(err, errlen, "COOP_TLS_CERT: the file cannot be read");
            return COOP_ERR_CONFIG;
        }
        if (access(cfg->tls_key, R_OK) != 0) {
            snprintf(err, errlen, "COOP_TLS_KEY: the file cannot be read");
            return COOP_ERR_CONFIG;
        }
    }
    v = coop_config_get(cfg, "COOP_TLS_TERMINATED_BY_PROXY");
    if (v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
        snprintf(err, errlen, "COOP_TLS_TERMINATED_BY_PROXY must be 0 or 1");
        return COOP_ERR_CONFIG;
    }
    cfg->tls_by_proxy = v && strcmp(v, "1") == 0;
    return COOP_ERR_OK;
}

static coop_err load_limits(struct coop_config *cfg, char *err, size_t errlen)
{
    long n, cores = sysconf(_SC_NPROCESSORS_ONLN);
    coop_err e;
    const char *v = coop_config_get(cfg, "COOP_LOG_LEVEL");
    cfg->log_level = COOP_LOG_INFO;
    if (v && coop_log_level_parse(v, &cfg->log_level)) {
        snprintf(err, errlen, "COOP_LOG_LEVEL must be error, warn, info or debug");
        return COOP_ERR_CONFIG;
    }
    if (cores < 1)
        cores = 1;
    if ((e = coop_config_get_int(cfg, "COOP_HTTP_THREADS", cores, 1, 256, &n, err, errlen)))
        return e;
    cfg->threads = (int)n;
    if ((e = coop_config_get_int(cfg, "COOP_WORKERS", cores, 0, 256, &n, err, errlen)))
        return e;
    cfg->workers = (int)n;
    if ((e = coop_config_get_int(cfg, "COOP_MAX_CONNECTIONS", 1024, 1, 100000, &n, err, errlen)))
        return e;
    cfg->max_connections = (unsigned)n;
    if ((e = coop_config_get_int(cfg, "COOP_IDLE_TIMEOUT", 30, 1, 3600, &n, err, errlen)))
        return e;
    cfg->idle_timeout_s = (unsigned)n;
    if ((e = coop_config_get_int(cfg, "COOP_MAX_CONNECTIONS_PER_IP", 0, 0, 100000, &n, err, errlen)))
        return e;
    cfg->max_connections_per_ip = (unsigned)n;
    if ((e = coop_config_get_int(cfg, "COOP_BODY_TIMEOUT", 60, 1, 3600, &n, err, errlen)))
        return e;
    cfg->body_timeout_s = (unsigned)n;
    if ((e = coop_config_get_int(cfg, "COOP_RATE_LIMIT", 6000, 0, 10000000, &n, err, errlen)))
        return e;
    cfg->rate_limit = (unsigned)n;
    return COOP_ERR_OK;
}

coop_err coop_config_load(struct coop_config *cfg, char *err, size_t errlen)
{
    coop_err e;
    err[0] = '\0';
    if ((e = load_file(cfg, err, errlen)) || (e = load_core(cfg, err, errlen)) ||
        (e = load_security(cfg, err, errlen)) || (e = load_limits(cfg, err, errlen)))
        return e;
    return COOP_ERR_OK;
}

void coop_config_dispose(struct coop_config *cfg)
{
    free(cfg->store_url);
    cfg->store_url = NULL;
    if (cfg->api_token)
        sodium_free(cfg->api_token);
    cfg->api_token = NULL;
    if (cfg->file)
        json_object_put(cfg->file);
    cfg->file = NULL;
}

/*
 * config (part of core): the settings of DESIGN.md section 3, read from
 * command-line overrides, then the environment, then an optional JSON file
 * (an object of variable names to string values), in that order.
 *
 * Invalid values are refused with a message that names the variable and
 * never its value. Secret settings (tokens, keys) are held in locked memory
 * and registered with the logger so they cannot leak through a log line.
 */
#ifndef COOP_CONFIG_H
#define COOP_CONFIG_H

#include "coop/core.h"

#include <limits.h>

struct json_object;

struct coop_config {
    bool production;
    char listen_host[64];
    uint16_t listen_port;
    char data_dir[PATH_MAX];
    char *store_url;   /* heap; may hold a password: never log it */
    char *api_token;   /* sodium_malloc'd, or NULL */
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    bool tls_by_proxy;
    enum coop_log_level log_level;
    int threads;            /* HTTP thread pool; default: online cores */
    int workers;            /* job worker threads */
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned max_connections_per_ip; /* 0: no per-address cap */
    unsigned body_timeout_s; /* a request body must arrive within this */
    unsigned rate_limit; /* requests per minute per token; 0: unlimited */
    struct json_object *file; /* the --config file's object, or NULL */
    /* Overrides set by flags: name/value pairs, checked before getenv. */
    const char *override_names[16];
    const char *override_values[16];
    size_t noverrides;
};

/* Adds a flag override (the strings must outlive cfg). */
coop_err coop_config_override(struct coop_config *cfg, const char *name, const char *value);

/*
 * Reads every setting; on error writes one line naming the variable into
 * err (never the value) and returns COOP_ERR_CONFIG. Call after the
 * overrides are added. cfg must be zeroed or have come from a failed load.
 */
coop_err coop_config_load(struct coop_config *cfg, char *err, size_t errlen);

/* Frees what load allocated and wipes the secrets. */
void coop_config_dispose(struct coop_config *cfg);

/*
 * Any setting by its variable name (COOP_GITHUB_WEBHOOK_SECRET, ...):
 * override, then environment, then file; NULL when unset or empty. The
 * string stays valid until cfg is disposed or the environment changes.
 */
const char *coop_config_get(const struct coop_config *cfg, const char *name);

/* A positive integer setting with a default and bounds. */
coop_err coop_config_get_int(const struct coop_config *cfg, const char *name, long dflt, long min,
                             long max, long *out /* OUT */, char *err, size_t errlen);

#endif

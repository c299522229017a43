/*
 * audit: one row per LLM request, metadata only (never a key, a prompt, a
 * response or code), joined in a hash chain so that a changed or removed
 * row is detectable; and the config-change log. Rows older than the
 * retention period (90 days by default) are purged by a periodic job, the
 * chain staying verifiable from the oldest kept row (its anchor is kept).
 */
#ifndef COOP_AUDIT_H
#define COOP_AUDIT_H

#include "coop/core.h"
#include "coop/store.h"

/* The metadata of DESIGN.md section 6. Strings are borrowed for the call. */
struct coop_audit_row {
    const char *customer;   /* NULL when the token has none */
    const char *provider;   /* "openai", "anthropic", ... */
    const char *model;
    int64_t timestamp_ms;
    const char *request_id;
    const char *status;     /* "ok", "error", "blocked", "cancelled" */
    int status_code;        /* the HTTP status coopd answered */
    bool byok;
    /* Which zero-retention measures were applied, as a comma-separated
     * list of fixed names ("system_instruction,headers,annotation,store_false"). */
    const char *zero_retention;
    /* Sanitizer counts as compact JSON {"rule-id":n,...}; NULL when none. */
    const char *sanitizer_counts;
    int64_t latency_ms;
    int64_t input_tokens;
    int64_t output_tokens;
    /* Extended by the router's resilience features; NULL when unused. */
    const char *target;     /* provider/model that answered */
    int attempts;
};

/* Appends one row (and extends the chain) in its own transaction. */
coop_err coop_audit_append(struct coop_store *store, const struct coop_audit_row *row);

/*
 * Appends one entry to the config-change log (and its chain) in its own
 * transaction: who (a token id, "env", "dev" or "startup"), what changed (a
 * fixed name such as "policy"), and detail (compact JSON describing the
 * change: names and values of settings, never a key or a secret). Strings
 * are borrowed for the call.
 */
coop_err coop_audit_config_change(struct coop_store *store, const char *actor, const char *what,
                                  const char *detail);

extern const struct coop_migration coop_audit_migrations[];

#endif

/*
 * audit: one row per LLM request, metadata only (never a key, a prompt, a
 * response or code), joined in a hash chain so that a changed or removed
 * row is detectable; and the config-change log. Rows older than the
 * retention period (90 days by default) are purged by a periodic job, the
 * chain staying verifiable from the oldest kept row (its anchor is kept).
 */
#ifndef COOP_AUDIT_H
#define COOP_AUDIT_H

#include "coop/config.h"
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
    /* The steps of a retried or routed request, as compact JSON: an array
     * of {"target","result","status"?,"key"?,"reason"?} with fixed words
     * and numbers only (a key appears as its index in the pool). */
    const char *route;
};

/* Appends one row (and extends the chain) in its own transaction. */
coop_err coop_audit_append(struct coop_store *store, const struct coop_audit_row *row);

/* Appends n rows, in order, in one transaction: all of them or none (a row
 * with a field too long for its column refuses the batch). At most
 * COOP_AUDIT_BATCH_MAX rows. */
#define COOP_AUDIT_BATCH_MAX 256
coop_err coop_audit_append_many(struct coop_store *store, const struct coop_audit_row *rows,
                                size_t n);

/*
 * Appends one entry to the config-change log (and its chain) in its own
 * transaction: who (a token id, "env", "dev" or "startup"), what changed (a
 * fixed name such as "policy"), and detail (compact JSON describing the
 * change: names and values of settings, never a key or a secret). Strings
 * are borrowed for the call.
 */
coop_err coop_audit_config_change(struct coop_store *store, const char *actor, const char *what,
                                  const char *detail);
/* The same entry appended inside the caller's write transaction on conn,
 * so that a change and its log entry are committed together or not at all. */
coop_err coop_audit_config_change_conn(struct coop_conn *conn, const char *actor,
                                       const char *what, const char *detail);

/* ---- the hash chains ---------------------------------------------------- */

/*
 * Two chains: COOP_AUDIT_CHAIN_LLM (the request rows) and
 * COOP_AUDIT_CHAIN_CONFIG (the config-change log). Each entry has a
 * sequence number, and hash = SHA-256(prev_hash_hex "\n" canonical) where
 * canonical is a JSON array of the entry's fields in a fixed order (see
 * docs/security.md). The first entry's prev_hash is 64 zeros; after a
 * purge, the anchor keeps the hash of the last removed entry.
 */
#define COOP_AUDIT_CHAIN_LLM "llm"
#define COOP_AUDIT_CHAIN_CONFIG "config"

struct coop_audit_chain_state {
    int64_t head_seq;        /* 0 while the chain is empty */
    char head_hash[65];
    int64_t anchor_seq;      /* the oldest entry that may be kept */
    char anchor_hash[65];    /* its expected prev_hash */
};

coop_err coop_audit_chain_state(struct coop_store *store, const char *chain,
                                struct coop_audit_chain_state *out /* OUT */);

struct coop_audit_verify_result {
    bool intact;
    int64_t entries;      /* entries checked */
    int64_t first_seq;    /* 0 when none */
    int64_t last_seq;
    char head_hash[65];
    int64_t bad_seq;      /* the first entry found wrong, or 0 */
    char reason[160];     /* why, for people (never row contents) */
};

/*
 * Recomputes one chain from its anchor to its head in one read
 * transaction. Returns COOP_ERR_OK when the check ran (out->intact tells
 * the result); an error only when the store failed.
 */
coop_err coop_audit_verify(struct coop_store *store, const char *chain,
                           struct coop_audit_verify_result *out /* OUT */);

/* ---- retention ----------------------------------------------------------- */

#define COOP_AUDIT_RETENTION_DAYS_DEFAULT 90

/* COOP_AUDIT_RETENTION_DAYS (1-3650, default 90); logs a refusal. */
coop_err coop_audit_retention_days(const struct coop_config *cfg, int *days /* OUT */);

/*
 * Deletes, from both chains, the entries recorded before now_ms minus
 * retention_days, oldest first and only as a prefix (so the kept part
 * stays a chain), and moves each anchor to the first kept entry. *deleted
 * (may be NULL) gets the number of entries removed.
 */
coop_err coop_audit_purge(struct coop_store *store, int64_t now_ms, int retention_days,
                          int64_t *deleted /* OUT, may be NULL */);

/*
 * A thread that purges at start and then every interval_s seconds, using
 * coop_clock_now_ms(). stop joins it.
 */
struct coop_audit_purger;
coop_err coop_audit_purger_start(struct coop_store *store, int retention_days, int interval_s,
                                 struct coop_audit_purger **out /* OUT */);
void coop_audit_purger_stop(struct coop_audit_purger *p);

/* ---- reading ------------------------------------------------------------- */

struct json_object;

/*
 * Request rows with since_ms <= timestamp < until_ms (0: unbounded),
 * newest first, at most limit, starting below cursor (sequence number; 0:
 * from the newest). *rows is a new JSON array owned by the caller;
 * *next_cursor is 0 when there is nothing more.
 */
coop_err coop_audit_list(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                         int64_t cursor, int limit, struct json_object **rows /* OUT */,
                         int64_t *next_cursor /* OUT */);
/* The config-change log, same conventions. */
coop_err coop_audit_config_list(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                                int64_t cursor, int limit, struct json_object **rows /* OUT */,
                                int64_t *next_cursor /* OUT */);

/* Request totals over [since_ms, until_ms), for the retention report. */
struct coop_audit_totals {
    int64_t requests;          /* every row */
    int64_t sent;              /* rows whose status is not "blocked" */
    int64_t sent_zero_retention; /* sent with at least one zero-retention measure */
    int64_t byok;
    int64_t blocked;
    int64_t errors;            /* status "error" */
    int64_t first_ms, last_ms; /* 0 when no row */
};
coop_err coop_audit_totals(struct coop_store *store, int64_t since_ms, int64_t until_ms,
                           struct coop_audit_totals *out /* OUT */);

extern const struct coop_migration coop_audit_migrations[];

#endif

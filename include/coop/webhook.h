/*
 * webhook: deliveries from code hosts and Slack. Each source (GitHub,
 * GitLab, Bitbucket Cloud and Data Center, Slack) is a `const struct
 * coop_webhook_source` that checks the signature on the raw body bytes,
 * names the event and its dedupe key, and parses the payload into Coop's
 * events (coop/event.h).
 *
 * Ingestion (POST /webhooks/<source>): verify, check the JSON once to refuse
 * malformed bodies, then hold the response (a held HTTP stream: no server
 * thread waits) and hand the delivery to the committer thread, which
 * writes the delivery rows and jobs of many concurrent requests in one
 * durable transaction (group commit) and answers each request once its
 * row is committed: only then is 202 sent. A delivery seen before (same
 * source and dedupe key) is answered 200 with "duplicate":true and gets no
 * job.
 *
 * Processing: jobs of kind "webhook.<source>" (payload: the delivery row
 * id). The built-in handler parses the stored body and hands each event to
 * the consumer set with coop_event_set_consumer(), inside the transaction
 * that completes the job, and records what it parsed on the delivery row.
 * A module that wants the whole job may instead register its own handler
 * for those kinds (coop_jobs_register_handler replaces it) and use
 * coop_webhook_load_events().
 */
#ifndef COOP_WEBHOOK_H
#define COOP_WEBHOOK_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/event.h"
#include "coop/store.h"

struct json_object;

#define COOP_WEBHOOK_MAX_BODY (25u * 1024u * 1024u)
#define COOP_WEBHOOK_WINDOW_MS (5 * 60 * 1000) /* timestamped schemes: +-5 minutes */

/* What a source is given: the raw body and a way to read request headers. */
struct coop_webhook_input {
    const char *body; /* raw bytes as received */
    size_t len;
    /* Returns a header's value (case-insensitive name) or NULL. */
    const char *(*header)(const void *ctx, const char *name);
    const void *header_ctx;
    int64_t now_ms; /* for timestamp windows */
};

/* What a source reads from a verified, parsed delivery. */
struct coop_webhook_meta {
    char event[128];    /* the host's event name */
    char delivery[160]; /* the dedupe key */
    /* Slack url_verification: answer 200 with this challenge, store nothing. */
    bool challenge;
    char challenge_value[256];
};

struct coop_webhook_source {
    int version;          /* 1 */
    const char *name;     /* "github" */
    const char *route;    /* "/webhooks/github" */
    const char *job_kind; /* "webhook.github" */
    /*
     * Checks the delivery's signature against the secrets configured in
     * cfg, on the raw bytes, in constant time. COOP_ERR_OK when it holds;
     * COOP_ERR_CONFIG when no secret is configured (the delivery is
     * refused); COOP_ERR_AUTH for a missing, malformed, wrong or stale one.
     */
    coop_err (*verify)(const struct coop_config *cfg, const struct coop_webhook_input *in);
    /* Event name and dedupe key of a verified delivery whose body is a
     * JSON object (body NULL with describe_from_headers);
     * COOP_ERR_PROTOCOL when the event cannot be named. */
    coop_err (*describe)(const struct coop_webhook_input *in, struct json_object *body,
                         struct coop_webhook_meta *out /* OUT */);
    /* One of the coop_event_parse_* functions. */
    coop_err (*parse)(const char *event_name, struct json_object *payload,
                      struct coop_event **out /* OUT */);
    /* Set when describe() reads the headers only: ingestion then calls it
     * with body NULL and checks the body with coop_json_validate() (a JSON
     * object, nothing built) instead of parsing it; the worker parses it. */
    bool describe_from_headers;
};

extern const struct coop_webhook_source coop_webhook_github;
extern const struct coop_webhook_source coop_webhook_gitlab;
extern const struct coop_webhook_source coop_webhook_bitbucket;
extern const struct coop_webhook_source coop_webhook_slack;
/* NULL-terminated. */
extern const struct coop_webhook_source *const coop_webhook_sources[];
const struct coop_webhook_source *coop_webhook_source_find(const char *name);

/* ---- signature schemes (each checked against its published test vectors) ---- */

/* GitHub and Bitbucket: header "sha256=<hex HMAC-SHA256(secret, body)>". */
coop_err coop_webhook_verify_hub(const char *secret, const void *body, size_t len,
                                 const char *header);
/* Slack: "v0=<hex HMAC-SHA256(secret, "v0:" ts ":" body)>", ts within the window. */
coop_err coop_webhook_verify_slack(const char *secret, const char *timestamp, const void *body,
                                   size_t len, const char *signature, int64_t now_ms);
/*
 * Standard Webhooks: secret "whsec_<base64 key>"; signature header holds
 * space-separated "v1,<base64 HMAC-SHA256(key, id "." ts "." body)>"
 * entries, any of which may match; ts (seconds) within the window.
 */
coop_err coop_webhook_verify_standard(const char *secret, const char *id, const char *timestamp,
                                      const void *body, size_t len, const char *signature,
                                      int64_t now_ms);

/* ---- processing ------------------------------------------------------------------ */

/*
 * Loads the delivery a webhook job refers to and parses it into *events
 * (NULL when the event is not one Coop uses), with ev->delivery set; the
 * caller frees them with coop_event_free(). conn is the job's transaction.
 */
coop_err coop_webhook_load_events(struct coop_conn *conn, const char *job_payload,
                                  struct coop_event **events /* OUT */);

/* The schema of the deliveries table (listed in src/store/schema.c). */
extern const struct coop_migration coop_webhook_migrations[];

#endif

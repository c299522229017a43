/*
 * sanitize: secret redaction for everything that leaves for an LLM
 * provider. Rules (each with a stable id and a one-line description) load
 * once; Vectorscan finds candidate regions over the whole text and PCRE2
 * (JIT) confirms the exact span. Every secret is replaced by
 * "[REDACTED:<rule-id>]". Nothing removed is logged or stored.
 *
 * Thread safety: a struct coop_sanitizer is immutable after creation and
 * shared by all threads; each thread gets its own scratch space internally.
 */
#ifndef COOP_SANITIZE_H
#define COOP_SANITIZE_H

#include "coop/core.h"

struct coop_sanitizer;

enum coop_sanitize_group {
    COOP_SANITIZE_SECRETS = 1u << 0, /* always on */
    COOP_SANITIZE_PII = 1u << 1,     /* emails, IP addresses: off unless policy enables it */
};

struct coop_sanitize_rule_info {
    const char *id;          /* stable, e.g. "aws-access-key-id" */
    const char *description; /* one line */
    unsigned group;          /* COOP_SANITIZE_SECRETS or COOP_SANITIZE_PII */
    const char *family;      /* what it protects, e.g. "aws", "github", "generic" */
};

/* Per-request result: how many redactions each rule made. */
#define COOP_SANITIZE_MAX_COUNTS 64
struct coop_sanitize_counts {
    size_t n;
    struct {
        const char *rule_id; /* static string */
        unsigned count;
    } by_rule[COOP_SANITIZE_MAX_COUNTS];
    unsigned total;
};

/*
 * Creates the sanitizer and starts compiling the built-in rule set on a
 * thread of its own (it takes seconds, which a server start should not wait
 * for); the result is shared by all threads. Every use waits for the
 * compilation; if the rules fail to compile, every use fails, so nothing is
 * let through unchecked.
 */
coop_err coop_sanitizer_new(struct coop_sanitizer **out /* OUT */);
/* Waits for the compilation to finish; its result. */
coop_err coop_sanitizer_wait(const struct coop_sanitizer *s);
void coop_sanitizer_free(struct coop_sanitizer *s);

/* The rules, for GET /v1/admin/sanitizer/rules and the attestation. */
size_t coop_sanitize_rules(const struct coop_sanitize_rule_info **out /* OUT */);

/*
 * Redacts one text (a message's content; any bytes, NUL included). The
 * result goes to out (appended); counts (may be NULL) are added to, so one
 * struct can sum a whole request. groups selects the rule groups
 * (COOP_SANITIZE_SECRETS always applies).
 *
 * Returns COOP_ERR_TOO_LARGE when out cannot hold the result (out is then
 * left as it was), COOP_ERR_NOMEM when scratch memory runs out. Any error
 * means the text must not be sent.
 */
coop_err coop_sanitize_payload(const struct coop_sanitizer *s, unsigned groups, const char *text,
                               size_t len, struct coop_buf *out,
                               struct coop_sanitize_counts *counts /* IN/OUT, may be NULL */);

/*
 * Adds GET /v1/admin/sanitizer/rules (admin scope): the rules applied before
 * anything is transmitted, {"rules":[{"id","description","group","family"}]}.
 */
struct coop_http_server;
coop_err coop_sanitize_register_routes(struct coop_http_server *srv);

#endif

/*
 * sanitize internals: the rule table (rules.c), the filters that decide
 * whether a confirmed span is a real secret or a placeholder (filters.c),
 * and the engine's PCRE2-only mode used by the benchmark as its baseline.
 */
#ifndef COOP_SANITIZE_INT_H
#define COOP_SANITIZE_INT_H

#include "coop/sanitize.h"

#include <stdbool.h>
#include <stdint.h>

/* How a confirmed span is judged (filters.c). */
enum sanitize_check {
    SANITIZE_CHECK_TOKEN,      /* a prefixed token: not a placeholder, min entropy */
    SANITIZE_CHECK_GENERIC,    /* a value assigned to a secret-like name */
    SANITIZE_CHECK_PASSWORD,   /* a value assigned to a password-like name */
    SANITIZE_CHECK_PEM,        /* a private key block with a real body */
    SANITIZE_CHECK_CONNECTION, /* Password=... inside a connection string */
    SANITIZE_CHECK_URL,        /* the password part of scheme://user:pass@host */
    SANITIZE_CHECK_HEADER,     /* the credential of an Authorization-like header */
    SANITIZE_CHECK_EMAIL,
    SANITIZE_CHECK_IPV4,
};

/*
 * One rule. The Vectorscan prefilter reports only where a candidate ends;
 * the PCRE2 pattern then runs over [end - back, end + fwd] (widened when a
 * match reaches the edge) and its first set capture group, or the whole
 * match when it has none, is the span replaced. Where spans of different
 * rules overlap they become one redaction named after the rule with the
 * lowest priority number.
 */
struct sanitize_rule {
    struct coop_sanitize_rule_info info;
    const char *prefilter;    /* Vectorscan, block mode, no start of match */
    unsigned prefilter_flags; /* HS_FLAG_* */
    const char *pattern;      /* PCRE2, bytes (no UTF mode) */
    uint32_t pattern_flags;   /* PCRE2_* */
    unsigned back, fwd;
    unsigned priority;
    enum sanitize_check check;
    double min_entropy; /* bits per byte over the span */
    unsigned min_len;
    bool no_words; /* TOKEN: refuse values made of words (sk-proj-my-team-name) */
};

extern const struct sanitize_rule coop_sanitize_rule_table[];
extern const size_t coop_sanitize_rule_count;

/* True when the span text[0..len) confirmed by rule r is to be redacted;
 * quoted says the span sits right after a quote character. */
bool coop_sanitize_accept(const struct sanitize_rule *r, const char *text, size_t len, bool quoted);

/* Shannon entropy of the bytes, in bits per byte. */
double coop_sanitize_entropy(const char *text, size_t len);

/*
 * The same redaction as coop_sanitize_payload() without the Vectorscan
 * prefilter: every enabled rule's PCRE2 pattern runs over the whole text.
 * Only for measuring what the prefilter buys.
 */
coop_err coop_sanitize_payload_pcre2_only(const struct coop_sanitizer *s, unsigned groups,
                                          const char *text, size_t len, struct coop_buf *out,
                                          struct coop_sanitize_counts *counts);

#endif

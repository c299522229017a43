/*
 * Inside the audit module: the description of a chain (its table and its
 * hashed columns, in canonical order) shared by appending, verifying,
 * purging and listing.
 */
#ifndef COOP_AUDIT_INT_H
#define COOP_AUDIT_INT_H

#include "coop/audit.h"

#define AUDIT_MAX_COLUMNS 20

struct audit_column {
    const char *name;
    bool text; /* TEXT, else an integer */
    /* Added after the chain's first version: left out of the canonical
     * form when NULL, so entries written before it verify unchanged. */
    bool optional;
};

struct audit_chain {
    const char *name; /* COOP_AUDIT_CHAIN_* */
    const char *table;
    const char *tag; /* first element of the canonical form */
    const struct audit_column *columns;
    size_t ncolumns;
};

/* One column's value; strings are borrowed. */
struct audit_value {
    bool null;
    int64_t i;
    const char *s;
    size_t n;
};

extern const struct audit_chain audit_chain_llm;
extern const struct audit_chain audit_chain_config;

const struct audit_chain *audit_chain_find(const char *name);
const char *audit_zero_hash(void);

coop_err audit_entry_hash(const struct audit_chain *c, int64_t seq, int64_t recorded_at,
                          const struct audit_value *v, const char *prev_hash, char out[65]);
coop_err audit_state_conn(struct coop_conn *conn, const char *chain,
                          struct coop_audit_chain_state *out /* OUT */);
/* Appends inside the caller's write transaction. */
coop_err audit_chain_append(struct coop_conn *conn, const struct audit_chain *c,
                            const struct audit_value *v, int64_t recorded_at);

#endif

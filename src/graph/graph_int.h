/*
 * What the graph's files share and nobody else sees: small helpers over the
 * store for single values, and the file identity bookkeeping.
 */
#ifndef COOP_GRAPH_INT_H
#define COOP_GRAPH_INT_H

#include "coop/graph.h"

/* Row callback storing column 0 as an int64 (ctx: int64_t *); stops after one row. */
coop_err coop_graph_row_int_(void *ctx, const struct coop_row *row);

/* A text value copied out of a row into a bounded buffer. */
struct coop_graph_text_ {
    char *buf;
    size_t size;
    bool found;
};
coop_err coop_graph_row_text_(void *ctx, const struct coop_row *row);

/* The host part of a repository id ("github.com/octo/x" -> "github.com"). */
void coop_graph_repo_host_(const char *repo, char *out, size_t size);

/* Milliseconds as RFC 3339 UTC with milliseconds ("2024-01-02T03:04:05.678Z")
 * into out, without stdio; returns the length. */
size_t coop_graph_format_time_(int64_t ms, char out[32]);
/* Milliseconds as RFC 3339, or JSON null for 0. */
struct json_object *coop_graph_time_json_(int64_t ms);

/* A pooled connection inside one read transaction: a question's several
 * statements then share one snapshot and one set of file locks. */
coop_err coop_graph_read_begin_(struct coop_store *s, struct coop_conn **c /* OUT */);
void coop_graph_read_end_(struct coop_store *s, struct coop_conn *c);

/* Drops cached answers of a repository (truck factor, CODEOWNERS). */
void coop_graph_cache_clear_(void);

#endif

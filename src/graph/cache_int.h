/*
 * The graph's in-memory cache of whole-repository answers (cache.c).
 * Entries are reference counted: get/keep hand out a reference the caller
 * gives back with put.
 */
#ifndef COOP_GRAPH_CACHE_INT_H
#define COOP_GRAPH_CACHE_INT_H

#include "graph_int.h"

/* What a scan of every living file under a prefix yields. */
struct coop_graph_scan_person_ {
    int64_t person;
    int64_t files;   /* files this person authors (DOA) */
    int64_t changes; /* changes to files under the prefix */
    int64_t last_change;
};

struct coop_graph_scan_ {
    int64_t repo, version;
    char *prefix;
    int64_t files;
    struct coop_graph_scan_person_ *people; /* by files authored, descending */
    size_t n_people;
    int64_t *removed; /* the truck factor's people, in order */
    size_t truck_factor;
    unsigned refs;
};

struct coop_graph_scan_ *coop_graph_scan_get_(int64_t repo, int64_t version, const char *prefix);
/* Puts s into the cache (the caller keeps its own reference). */
void coop_graph_scan_keep_(struct coop_graph_scan_ *s);
void coop_graph_scan_put_(struct coop_graph_scan_ *s);

struct coop_graph_co_ref_;
struct coop_graph_co_ref_ *coop_graph_co_get_(int64_t repo, int64_t version);
/* Takes co; returns the caller's reference (NULL on memory failure). */
struct coop_graph_co_ref_ *coop_graph_co_keep_(int64_t repo, int64_t version, const char *file,
                                               struct coop_codeowners *co);
struct coop_codeowners *coop_graph_co_parsed_(struct coop_graph_co_ref_ *ref,
                                              const char **file /* OUT */);
void coop_graph_co_put_(struct coop_graph_co_ref_ *ref);

/* Finished answers (JSON text) to questions about one repository, keyed by
 * (store serial, repository, its version, the question as key). Appends
 * the answer to out and returns true on a hit. */
bool coop_graph_answer_get_(uint64_t store, int64_t repo, int64_t version, const char *key,
                            size_t key_len, struct coop_buf *out);
/* Keeps a copy of text; answers above a size bound are not kept. */
void coop_graph_answer_keep_(uint64_t store, int64_t repo, int64_t version, const char *key,
                             size_t key_len, const char *text, size_t len);

#endif

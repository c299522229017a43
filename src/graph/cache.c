/*
 * Answers that depend on a whole repository (truck factor, the authors of
 * a directory) and parsed CODEOWNERS are kept in memory, keyed by the
 * repository's version (bumped by every commit), so repeated questions
 * cost one indexed read of that version. Any thread may call in.
 */
#include "cache_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TF_SLOTS 32
#define CO_SLOTS 32

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct coop_graph_scan_ *tf_slots[TF_SLOTS];
static unsigned tf_next;

struct co_slot {
    int64_t repo, version;
    char *file;
    struct coop_codeowners *co;
    unsigned refs;
};
static struct co_slot *co_slots[CO_SLOTS];
static unsigned co_next;

void coop_graph_scan_put_(struct coop_graph_scan_ *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&lock);
    if (!last)
        return;
    free(s->prefix);
    free(s->people);
    free(s->removed);
    free(s);
}

struct coop_graph_scan_ *coop_graph_scan_get_(int64_t repo, int64_t version, const char *prefix)
{
    struct coop_graph_scan_ *hit = NULL;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < TF_SLOTS; i++) {
        struct coop_graph_scan_ *s = tf_slots[i];
        if (s && s->repo == repo && s->version == version && strcmp(s->prefix, prefix) == 0) {
            hit = s;
            hit->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return hit;
}

void coop_graph_scan_keep_(struct coop_graph_scan_ *s)
{
    pthread_mutex_lock(&lock);
    s->refs++; /* the cache's reference */
    struct coop_graph_scan_ *old = tf_slots[tf_next];
    tf_slots[tf_next] = s;
    tf_next = (tf_next + 1) % TF_SLOTS;
    pthread_mutex_unlock(&lock);
    coop_graph_scan_put_(old);
}

static void co_put_locked(struct co_slot *s, bool *free_it)
{
    *free_it = --s->refs == 0;
}

static void co_free(struct co_slot *s)
{
    coop_codeowners_free(s->co);
    free(s->file);
    free(s);
}

struct coop_graph_co_ref_ *coop_graph_co_get_(int64_t repo, int64_t version)
{
    struct co_slot *hit = NULL;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < CO_SLOTS; i++) {
        struct co_slot *s = co_slots[i];
        if (s && s->repo == repo && s->version == version) {
            hit = s;
            hit->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return (struct coop_graph_co_ref_ *)hit;
}

struct coop_graph_co_ref_ *coop_graph_co_keep_(int64_t repo, int64_t version, const char *file,
                                               struct coop_codeowners *co)
{
    struct co_slot *s = calloc(1, sizeof *s);
    if (!s || !(s->file = strdup(file))) {
        free(s);
        coop_codeowners_free(co);
        return NULL;
    }
    s->repo = repo;
    s->version = version;
    s->co = co;
    s->refs = 2; /* the caller's and the cache's */
    bool free_old = false;
    pthread_mutex_lock(&lock);
    struct co_slot *old = co_slots[co_next];
    co_slots[co_next] = s;
    co_next = (co_next + 1) % CO_SLOTS;
    if (old)
        co_put_locked(old, &free_old);
    pthread_mutex_unlock(&lock);
    if (free_old)
        co_free(old);
    return (struct coop_graph_co_ref_ *)s;
}

struct coop_codeowners *coop_graph_co_parsed_(struct coop_graph_co_ref_ *ref, const char **file)
{
    struct co_slot *s = (struct co_slot *)ref;
    *file = s->file;
    return s->co;
}

void coop_graph_co_put_(struct coop_graph_co_ref_ *ref)
{
    if (!ref)
        return;
    struct co_slot *s = (struct co_slot *)ref;
    bool free_it;
    pthread_mutex_lock(&lock);
    co_put_locked(s, &free_it);
    pthread_mutex_unlock(&lock);
    if (free_it)
        co_free(s);
}

void coop_graph_cache_clear_(void)
{
    struct coop_graph_scan_ *tf[TF_SLOTS];
    struct co_slot *co[CO_SLOTS];
    bool free_co[CO_SLOTS] = {0};
    pthread_mutex_lock(&lock);
    memcpy(tf, tf_slots, sizeof tf);
    memset(tf_slots, 0, sizeof tf_slots);
    memcpy(co, co_slots, sizeof co);
    memset(co_slots, 0, sizeof co_slots);
    for (unsigned i = 0; i < CO_SLOTS; i++)
        if (co[i])
            co_put_locked(co[i], &free_co[i]);
    pthread_mutex_unlock(&lock);
    for (unsigned i = 0; i < TF_SLOTS; i++)
        coop_graph_scan_put_(tf[i]);
    for (unsigned i = 0; i < CO_SLOTS; i++)
        if (free_co[i])
            co_free(co[i]);
}

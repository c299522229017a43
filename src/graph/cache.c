/*
 * Answers that depend on a whole repository (truck factor, the authors of
 * a directory) and parsed CODEOWNERS are kept in memory, keyed by the
 * repository's version (bumped by every commit), so repeated questions
 * cost one indexed read of that version. Any thread may call in.
 *
 * Finished answers to per-file questions (a page of history) are kept the
 * same way, in a direct-mapped table with a bounded size per answer, so
 * that memory stays under ANSWER_SLOTS * ANSWER_MAX. Every question still
 * reads the repository's version from the store in its own transaction,
 * so an answer is only reused while the data it came from is unchanged,
 * whichever instance wrote the change.
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

#define ANSWER_SLOTS 256
#define ANSWER_MAX (16 * 1024)
#define ANSWER_LOCKS 8

struct answer {
    uint64_t store;
    int64_t repo, version;
    size_t key_len, len;
    char *key; /* key_len bytes, then the text, in one allocation */
    char *text;
};
static struct answer *answers[ANSWER_SLOTS];
/* Striped so that the HTTP threads rarely wait for each other. */
static pthread_mutex_t answer_locks[ANSWER_LOCKS] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};

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

static unsigned answer_slot(uint64_t store, int64_t repo, const char *key, size_t key_len)
{
    uint64_t h = 1469598103934665603ULL ^ store ^ ((uint64_t)repo << 32);
    for (size_t i = 0; i < key_len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return (unsigned)(h % ANSWER_SLOTS);
}

bool coop_graph_answer_get_(uint64_t store, int64_t repo, int64_t version, const char *key,
                            size_t key_len, struct coop_buf *out)
{
    unsigned i = answer_slot(store, repo, key, key_len);
    pthread_mutex_t *lock_i = &answer_locks[i % ANSWER_LOCKS];
    bool hit = false;
    pthread_mutex_lock(lock_i);
    const struct answer *a = answers[i];
    if (a && a->store == store && a->repo == repo && a->version == version &&
        a->key_len == key_len && memcmp(a->key, key, key_len) == 0)
        hit = coop_buf_append(out, a->text, a->len) == COOP_ERR_OK;
    pthread_mutex_unlock(lock_i);
    return hit;
}

void coop_graph_answer_keep_(uint64_t store, int64_t repo, int64_t version, const char *key,
                             size_t key_len, const char *text, size_t len)
{
    if (len > ANSWER_MAX || key_len > ANSWER_MAX)
        return;
    struct answer *a = malloc(sizeof *a + key_len + len);
    if (!a)
        return;
    a->store = store;
    a->repo = repo;
    a->version = version;
    a->key_len = key_len;
    a->len = len;
    a->key = (char *)(a + 1);
    a->text = a->key + key_len;
    memcpy(a->key, key, key_len);
    memcpy(a->text, text, len);
    unsigned i = answer_slot(store, repo, key, key_len);
    pthread_mutex_t *lock_i = &answer_locks[i % ANSWER_LOCKS];
    pthread_mutex_lock(lock_i);
    struct answer *old = answers[i];
    answers[i] = a;
    pthread_mutex_unlock(lock_i);
    free(old);
}

static void answers_clear(void)
{
    for (unsigned i = 0; i < ANSWER_SLOTS; i++) {
        pthread_mutex_t *lock_i = &answer_locks[i % ANSWER_LOCKS];
        pthread_mutex_lock(lock_i);
        struct answer *old = answers[i];
        answers[i] = NULL;
        pthread_mutex_unlock(lock_i);
        free(old);
    }
}

void coop_graph_cache_clear_(void)
{
    answers_clear();
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

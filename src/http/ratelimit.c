/*
 * Per-token rate limiting: a token bucket per API token (or, for requests
 * without one, per client address), refilled continuously at the configured
 * rate per minute with a burst of a tenth of it. Over the limit, the server
 * answers 429 with Retry-After. Buckets live in a fixed open-addressing
 * table; when it is full the least recently used slot is reused, so memory
 * stays bounded whatever the number of clients.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 4096

struct bucket {
    uint64_t key;
    double tokens;
    int64_t last_ns;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket table[SLOTS];

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

double coop_ratelimit_take(const char *who, unsigned per_minute, int64_t now_ns)
{
    if (per_minute == 0)
        return 0;
    double rate = per_minute / 60e9; /* tokens per ns */
    double burst = per_minute / 10.0 < 1 ? 1 : per_minute / 10.0;
    uint64_t key = hash_key(who);
    pthread_mutex_lock(&lock);
    struct bucket *b = NULL, *oldest = NULL;
    for (int probe = 0; probe < 8; probe++) {
        struct bucket *s = &table[(key + (uint64_t)probe) % SLOTS];
        if (s->key == key || s->key == 0) {
            b = s;
            break;
        }
        if (!oldest || s->last_ns < oldest->last_ns)
            oldest = s;
    }
    if (!b)
        b = oldest;
    if (b->key != key) {
        b->key = key;
        b->tokens = burst;
        b->last_ns = now_ns;
    }
    b->tokens += (double)(now_ns - b->last_ns) * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ns = now_ns;
    double wait_s = 0;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        wait_s = (1 - b->tokens) / rate / 1e9;
    }
    pthread_mutex_unlock(&lock);
    return wait_s;
}

void coop_ratelimit_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(table, 0, sizeof table);
    pthread_mutex_unlock(&lock);
}

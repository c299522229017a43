/*
 * Key pools: the server's keys for one provider (COOP_<PROVIDER>_API_KEYS,
 * comma-separated, each with an optional ":weight"), chosen at random by
 * weight among the keys not cooling down. A key the provider answered
 * 429 or 401 for cools down for a while and the next attempt takes
 * another. A customer's own (BYOK) key never enters a pool.
 *
 * Keys live in sodium memory and are wiped when the pool is freed; what
 * leaves this file about a key is its index (position in the setting),
 * never its text.
 */
#include "router_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_key {
    char *key; /* sodium_malloc'd */
    unsigned weight;
    int64_t cool_until_ns;
};

struct key_pool {
    pthread_mutex_t lock;
    size_t n;
    struct pool_key keys[KEY_POOL_MAX];
};

static void wipe_free(char *s)
{
    if (s)
        sodium_free(s);
}

void key_pool_free(struct key_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        wipe_free(p->keys[i].key);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static coop_err add_key(struct key_pool *p, const char *s, size_t len, unsigned weight)
{
    if (p->n == KEY_POOL_MAX)
        return COOP_ERR_INVALID;
    char *k = sodium_malloc(len + 1);
    if (!k)
        return COOP_ERR_NOMEM;
    memcpy(k, s, len);
    k[len] = '\0';
    p->keys[p->n].key = k;
    p->keys[p->n].weight = weight;
    p->keys[p->n].cool_until_ns = 0;
    p->n++;
    return COOP_ERR_OK;
}

/* One "key[:weight]" item; the weight is the digits after the last ':'. */
static coop_err parse_item(struct key_pool *p, const char *s, size_t len, char *err, size_t errlen)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    unsigned weight = 1;
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon) {
        size_t dl = len - (size_t)(colon + 1 - s);
        unsigned w = 0;
        bool digits = dl > 0 && dl <= 4;
        for (size_t i = 0; digits && i < dl; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                digits = false;
            else
                w = w * 10 + (unsigned)(colon[1 + i] - '0');
        }
        if (digits) {
            if (w == 0 || w > 1000) {
                coop_strlcpy(err, "a key weight must be between 1 and 1000", errlen);
                return COOP_ERR_INVALID;
            }
            weight = w;
            len = (size_t)(colon - s);
        }
    }
    if (len == 0 || len > 4096) {
        coop_strlcpy(err, "an empty or overlong key", errlen);
        return COOP_ERR_INVALID;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f) {
            coop_strlcpy(err, "a key holds a space or a control character", errlen);
            return COOP_ERR_INVALID;
        }
    coop_err e = add_key(p, s, len, weight);
    if (e == COOP_ERR_INVALID)
        coop_strlcpy(err, "more than 32 keys", errlen);
    return e;
}

coop_err key_pool_parse(const char *spec, struct key_pool **out, char *err, size_t errlen)
{
    if (sodium_init() < 0)
        return COOP_ERR_INTERNAL;
    struct key_pool *p = calloc(1, sizeof *p);
    if (!p)
        return COOP_ERR_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    coop_err e = COOP_ERR_OK;
    for (const char *s = spec ? spec : ""; !e;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        e = parse_item(p, s, len, err, errlen);
        if (!comma)
            break;
        s = comma + 1;
    }
    if (e) {
        key_pool_free(p);
        return e;
    }
    *out = p;
    return COOP_ERR_OK;
}

size_t key_pool_size(const struct key_pool *p)
{
    return p ? p->n : 0;
}

int key_pool_pick(struct key_pool *p, int64_t now_ns, uint32_t rnd, int avoid)
{
    if (!p || p->n == 0)
        return -1;
    pthread_mutex_lock(&p->lock);
    uint64_t total = 0;
    for (size_t i = 0; i < p->n; i++)
        if ((int)i != avoid && p->keys[i].cool_until_ns <= now_ns)
            total += p->keys[i].weight;
    int pick = -1;
    if (total) {
        uint64_t r = rnd % total;
        for (size_t i = 0; i < p->n && pick < 0; i++) {
            if ((int)i == avoid || p->keys[i].cool_until_ns > now_ns)
                continue;
            if (r < p->keys[i].weight)
                pick = (int)i;
            else
                r -= p->keys[i].weight;
        }
    } else {
        /* Every key is cooling down (or the only other one is avoided):
         * the one free soonest is the best bet. */
        for (size_t i = 0; i < p->n; i++)
            if (pick < 0 || p->keys[i].cool_until_ns < p->keys[pick].cool_until_ns)
                pick = (int)i;
    }
    pthread_mutex_unlock(&p->lock);
    return pick;
}

bool key_pool_has_other(struct key_pool *p, int64_t now_ns, int avoid)
{
    bool found = false;
    if (!p)
        return false;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n && !found; i++)
        found = (int)i != avoid && p->keys[i].cool_until_ns <= now_ns;
    pthread_mutex_unlock(&p->lock);
    return found;
}

void key_pool_cool(struct key_pool *p, int i, int64_t until_ns)
{
    if (!p || i < 0 || (size_t)i >= p->n)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->keys[i].cool_until_ns < until_ns)
        p->keys[i].cool_until_ns = until_ns;
    pthread_mutex_unlock(&p->lock);
}

const char *key_pool_key(const struct key_pool *p, int i)
{
    if (!p || i < 0 || (size_t)i >= p->n)
        return NULL;
    return p->keys[i].key;
}

unsigned key_pool_weight(const struct key_pool *p, int i)
{
    if (!p || i < 0 || (size_t)i >= p->n)
        return 0;
    return p->keys[i].weight;
}

void key_pool_var(const struct coop_provider_ops *ops, char *out, size_t size)
{
    /* OPENAI_API_KEY -> COOP_OPENAI_API_KEYS; COOP_SELFHOSTED_API_KEY ->
     * COOP_SELFHOSTED_API_KEYS. */
    bool coop = strncmp(ops->key_var, "COOP_", 5) == 0;
    snprintf(out, size, "%s%sS", coop ? "" : "COOP_", ops->key_var);
}

/* Internal to the http module: per-token token buckets. */
#ifndef COOP_HTTP_RATELIMIT_H
#define COOP_HTTP_RATELIMIT_H

#include <stdint.h>

/* Takes one request from who's bucket; returns 0 when allowed, otherwise
 * the seconds until one would be. per_minute 0 means unlimited. */
double coop_ratelimit_take(const char *who, unsigned per_minute, int64_t now_ns);
/* Forgets every bucket (tests). */
void coop_ratelimit_reset(void);

#endif

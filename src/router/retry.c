/*
 * When a failed provider call is tried again, and after how long: the
 * failure classes (what may be retried on the same target, what may move
 * on to the next target of a route or the next key of a pool, what is
 * final), exponential backoff with jitter, and Retry-After as providers
 * send it (delta-seconds, an HTTP date, or OpenAI's retry-after-ms).
 *
 * Pure functions of their arguments (the random part comes in as a
 * number), so they are tested without a clock or a network.
 */
#include "router_int.h"

#include <curl/curl.h>
#include <string.h>

long router_backoff_ms(const struct router_retry_cfg *c, int n, uint32_t rnd)
{
    if (n < 1 || c->backoff_ms <= 0)
        return 0;
    long d = c->backoff_ms;
    for (int i = 1; i < n && d < c->backoff_max_ms; i++)
        d *= 2;
    if (d > c->backoff_max_ms)
        d = c->backoff_max_ms;
    /* Equal jitter: half fixed (a floor the provider can count on), half
     * random (so clients that failed together do not retry together). */
    long half = d / 2;
    return half + (long)(rnd % (uint32_t)(d - half + 1));
}

long router_retry_after_ms(const char *value, int64_t now_s)
{
    while (value && (*value == ' ' || *value == '\t'))
        value++;
    if (!value || !*value)
        return -1;
    if (*value >= '0' && *value <= '9') {
        long s = 0;
        const char *p = value;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (s > 86400L * 366)
                return -1;
            s = s * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        return *p ? -1 : s * 1000;
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return (int64_t)t <= now_s ? 0 : (long)(((int64_t)t - now_s) * 1000);
}

enum router_failure router_classify(int curl_code, long status, bool got_bytes)
{
    /* Not a switch: CURLcode has a hundred values and these are the few
     * that say something about trying again. */
    CURLcode c = (CURLcode)curl_code;
    if (c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_RESOLVE_PROXY ||
        c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR || c == CURLE_GOT_NOTHING)
        return ROUTER_FAIL_RETRY;
    /* Retried only before the provider's first byte: a call cut or timed
     * out in the middle of an answer is not started again. */
    if (c == CURLE_RECV_ERROR || c == CURLE_PARTIAL_FILE || c == CURLE_OPERATION_TIMEDOUT)
        return got_bytes ? ROUTER_FAIL_FINAL : ROUTER_FAIL_RETRY;
    /* This endpoint will not get better by asking again; another target
     * of a route may be fine. */
    if (c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CONNECT_ERROR)
        return ROUTER_FAIL_NEXT;
    /* Our own aborts (answer too large, client gone, shutting down) and
     * anything unexpected end the request. */
    if (c != CURLE_OK)
        return ROUTER_FAIL_FINAL;
    if (status >= 200 && status <= 299)
        return ROUTER_OK;
    if (status == 408 || status == 429 ||
        (status >= 500 && status <= 599 && status != 501 && status != 505))
        return ROUTER_FAIL_RETRY;
    if (status == 401 || status == 403 || status == 404 || status == 501 || status == 505)
        return ROUTER_FAIL_NEXT;
    return ROUTER_FAIL_FINAL;
}

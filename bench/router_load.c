/*
 * The load generator of the router benchmark: POSTs one body to one URL
 * with libcurl's multi interface over keep-alive connections, CONC at a
 * time, N times after a warm-up, and prints the p50 and p99 of either the
 * whole exchange (non-streaming) or the time to the first body byte
 * (streaming), in milliseconds: "p50 p99".
 * Usage: bench-router_load URL BODY_FILE CONC N ttfb|total [HEADER...]
 */
#include "bench_args.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    CURL *e;
    double start;
    double first;
    int got;
};

static char *body;
static long body_len;
static int ttfb;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t on_data(char *p, size_t s, size_t n, void *ud)
{
    struct slot *sl = ud;
    if (!sl->got) {
        sl->got = 1;
        sl->first = now();
    }
    return s * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL BODY_FILE CONC N ttfb|total [HEADER...]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    FILE *f = fopen(argv[2], "rb");
    if (!f)
        return 2;
    fseek(f, 0, SEEK_END);
    body_len = ftell(f);
    fseek(f, 0, SEEK_SET);
    body = malloc((size_t)body_len + 1);
    if (fread(body, 1, (size_t)body_len, f) != (size_t)body_len)
        return 2;
    fclose(f);
    int conc = bench_arg_int(argc, argv, 3, 1), total = bench_arg_int(argc, argv, 4, 1);
    ttfb = strcmp(argv[5], "ttfb") == 0;
    int warm = conc * 4 < 200 ? 200 : conc * 4;
    if (getenv("BENCH_SMOKE"))
        warm = conc; /* a smoke run only shows that the path works */
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 6; i < argc; i++)
        hl = curl_slist_append(hl, argv[i]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc + 8);
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    double *lat = calloc((size_t)total, sizeof *lat);
    int started = 0, done = 0, measured = 0;
    for (int i = 0; i < conc; i++) {
        CURL *e = curl_easy_init();
        slots[i].e = e;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, body_len);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        /* A request that never ends counts as failed instead of hanging the run. */
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
        slots[i].start = now();
        curl_multi_add_handle(m, e);
        started++;
    }
    int failed = 0;
    while (done < warm + total) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct slot *sl;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200)
                failed++;
            double t = ttfb ? sl->first : now();
            if (done >= warm && measured < total)
                lat[measured++] = t - sl->start;
            done++;
            curl_multi_remove_handle(m, sl->e);
            if (started < warm + total) {
                sl->got = 0;
                sl->start = now();
                curl_multi_add_handle(m, sl->e);
                started++;
            }
        }
        if (done < warm + total)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    qsort(lat, (size_t)measured, sizeof *lat, cmp);
    printf("%.3f %.3f %d\n", lat[measured / 2], lat[(size_t)(measured * 0.99)], failed);
    for (int i = 0; i < conc; i++) {
        curl_multi_remove_handle(m, slots[i].e);
        curl_easy_cleanup(slots[i].e);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(hl);
    curl_global_cleanup();
    free(slots);
    free(lat);
    free(body);
    return failed ? 1 : 0;
}

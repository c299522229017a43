/*
 * The outbound client: one router thread drives every provider call
 * through libcurl's multi interface. Calls arrive from HTTP handlers on a
 * locked list and a curl_multi_wakeup; the thread adds them, moves data as
 * it arrives (translated straight into the client's stream), sends
 * keep-alive comments during provider silence and finishes each call when
 * its transfer ends. Connections are reused across calls (the multi
 * handle's cache); certificates are always verified.
 */
#include "router_int.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct router_client {
    CURLM *multi;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    struct call *pending; /* submitted, not yet added */
    bool stop;
    long keepalive_ms;
    struct call *active; /* added to the multi handle (thread-only) */
    CURL *spare[64];     /* reset easy handles kept for reuse (thread-only) */
    size_t nspare;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct call *call = userdata;
    size_t n = size * nmemb;
    if (call->upstream_status == 0) {
        long code = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &code);
        call->upstream_status = code;
    }
    return call_data(call, ptr, n) ? n : 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct call *call = userdata;
    size_t n = size * nitems;
    static const char ra[] = "retry-after:";
    if (n > sizeof ra - 1 && strncasecmp(buf, ra, sizeof ra - 1) == 0) {
        size_t k = 0;
        for (size_t i = sizeof ra - 1; i < n && k + 1 < sizeof call->retry_after; i++)
            if (buf[i] >= '0' && buf[i] <= '9')
                call->retry_after[k++] = buf[i];
        call->retry_after[k] = '\0';
    }
    return n;
}

static coop_err setup_easy(struct router_client *c, struct call *call)
{
    CURL *e = c->nspare ? c->spare[--c->nspare] : curl_easy_init();
    if (!e)
        return COOP_ERR_NOMEM;
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i < call->req.nheaders; i++) {
        struct curl_slist *n = curl_slist_append(hl, call->req.headers[i]);
        if (!n) {
            curl_slist_free_all(hl);
            curl_easy_cleanup(e);
            return COOP_ERR_NOMEM;
        }
        hl = n;
    }
    /* No "Expect: 100-continue" round trip on larger bodies. */
    struct curl_slist *n = curl_slist_append(hl, "Expect:");
    if (n)
        hl = n;
    curl_easy_setopt(e, CURLOPT_URL, call->req.url.data);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->req.body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->req.body.len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, call->router->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, call->router->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* The slist lives as long as the handle: kept through CURLOPT_PRIVATE's
     * neighbour, freed in finish. */
    call->easy = e;
    call->headers_list = hl;
    return COOP_ERR_OK;
}

static void finish_one(struct router_client *c, CURL *e, CURLcode code)
{
    struct call *call = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&call);
    curl_multi_remove_handle(c->multi, e);
    for (struct call **pp = &c->active; *pp; pp = &(*pp)->next)
        if (*pp == call) {
            *pp = call->next;
            break;
        }
    if (call->upstream_status == 0) {
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        call->upstream_status = status;
    }
    curl_slist_free_all(call->headers_list);
    call->headers_list = NULL;
    if (c->nspare < sizeof c->spare / sizeof c->spare[0]) {
        curl_easy_reset(e);
        c->spare[c->nspare++] = e;
    } else {
        curl_easy_cleanup(e);
    }
    call->easy = NULL;
    call_finish(call, (int)code);
}

static void add_pending(struct router_client *c)
{
    pthread_mutex_lock(&c->lock);
    struct call *list = c->pending;
    c->pending = NULL;
    pthread_mutex_unlock(&c->lock);
    while (list) {
        struct call *call = list;
        list = list->next;
        call->next = NULL;
        coop_err err = setup_easy(c, call);
        if (!err && curl_multi_add_handle(c->multi, call->easy) != CURLM_OK)
            err = COOP_ERR_INTERNAL;
        if (err) {
            if (call->easy) {
                curl_slist_free_all(call->headers_list);
                call->headers_list = NULL;
                curl_easy_cleanup(call->easy);
                call->easy = NULL;
            }
            call_finish(call, (int)CURLE_OUT_OF_MEMORY);
            continue;
        }
        call->next = c->active;
        c->active = call;
    }
}

static void *thread_main(void *arg)
{
    struct router_client *c = arg;
    int64_t interval_ns = (int64_t)c->keepalive_ms * 1000000;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop)
            break;
        add_pending(c);
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                finish_one(c, m->easy_handle, m->data.result);
        int64_t now = coop_clock_mono_ns();
        for (struct call *call = c->active; call; call = call->next)
            call_keepalive(call, now, interval_ns);
        long wait_ms = c->keepalive_ms < 1000 ? c->keepalive_ms : 1000;
        curl_multi_poll(c->multi, NULL, 0, (int)(wait_ms > 0 ? wait_ms : 1000), NULL);
    }
    /* Stopping: every call still running ends with an error event. */
    add_pending(c);
    while (c->active) {
        CURL *e = c->active->easy;
        finish_one(c, e, CURLE_ABORTED_BY_CALLBACK);
    }
    return NULL;
}

coop_err client_new(long keepalive_ms, struct router_client **out)
{
    struct router_client *c = calloc(1, sizeof *c);
    if (!c)
        return COOP_ERR_NOMEM;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return COOP_ERR_NOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 256L);
    pthread_mutex_init(&c->lock, NULL);
    c->keepalive_ms = keepalive_ms;
    *out = c;
    return COOP_ERR_OK;
}

coop_err client_start(struct router_client *c)
{
    if (pthread_create(&c->thread, NULL, thread_main, c))
        return COOP_ERR_INTERNAL;
    c->running = true;
    return COOP_ERR_OK;
}

void client_submit(struct router_client *c, struct call *call)
{
    pthread_mutex_lock(&c->lock);
    call->next = c->pending;
    c->pending = call;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
}

void client_stop(struct router_client *c)
{
    if (!c || !c->running)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_mutex_unlock(&c->lock);
    curl_multi_wakeup(c->multi);
    pthread_join(c->thread, NULL);
    c->running = false;
}

void client_free(struct router_client *c)
{
    if (!c)
        return;
    client_stop(c);
    /* Calls submitted after the thread stopped still get an answer. */
    add_pending(c);
    while (c->active)
        finish_one(c, c->active->easy, CURLE_ABORTED_BY_CALLBACK);
    while (c->nspare)
        curl_easy_cleanup(c->spare[--c->nspare]);
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

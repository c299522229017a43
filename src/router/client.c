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
#include <stdio.h>
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
    struct call *active;  /* added to the multi handle (thread-only) */
    struct call *waiting; /* to be tried again, soonest first (thread-only) */
    CURL *spare[64];      /* reset easy handles kept for reuse (thread-only) */
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

/* Value of header name (lower case, with the colon) in buf, copied to
 * out without surrounding blanks; false when buf is another header. */
static bool header_value(const char *buf, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(buf, name, nl) != 0)
        return false;
    size_t i = nl, k = 0;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
        i++;
    while (i < n && buf[i] != '\r' && buf[i] != '\n' && k + 1 < size)
        out[k++] = buf[i++];
    while (k && (out[k - 1] == ' ' || out[k - 1] == '\t'))
        k--;
    out[k] = '\0';
    return true;
}

static void set_retry_after(struct call *call, long ms)
{
    call->retry_after_ms = ms;
    snprintf(call->retry_after, sizeof call->retry_after, "%ld", (ms / 1000 + 1) % 100000000);
    if (ms % 1000 == 0)
        snprintf(call->retry_after, sizeof call->retry_after, "%ld", (ms / 1000) % 100000000);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct call *call = userdata;
    size_t n = size * nitems;
    char v[128];
    call->got_headers = true;
    if (header_value(buf, n, "retry-after:", v, sizeof v)) {
        /* retry-after-ms (OpenAI), when also present, is the finer one. */
        long ms = router_retry_after_ms(v, coop_clock_now_ms() / 1000);
        if (ms >= 0 && call->retry_after_ms < 0)
            set_retry_after(call, ms);
    } else if (header_value(buf, n, "retry-after-ms:", v, sizeof v)) {
        long ms = router_retry_after_ms(v, 0);
        if (ms >= 0)
            set_retry_after(call, ms / 1000);
    } else if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx, say): forget the last one's. */
        call->retry_after_ms = -1;
        call->retry_after[0] = '\0';
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
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, call_timeout_ms(call, coop_clock_mono_ns()));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    /* The slist lives as long as the handle: kept through CURLOPT_PRIVATE's
     * neighbour, freed in finish. */
    call->easy = e;
    call->headers_list = hl;
    call->attempt_ns = coop_clock_mono_ns();
    return COOP_ERR_OK;
}

/* Puts call on the timer list: it is tried again at at_ns, by this
 * thread, without anyone sleeping. */
static void wait_until(struct router_client *c, struct call *call, int64_t at_ns)
{
    call->retry_at_ns = at_ns;
    struct call **pp = &c->waiting;
    while (*pp && (*pp)->retry_at_ns <= at_ns)
        pp = &(*pp)->next;
    call->next = *pp;
    *pp = call;
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
    int64_t at = 0;
    if (code != CURLE_ABORTED_BY_CALLBACK &&
        call_retry(call, (int)code, coop_clock_mono_ns(), &at)) {
        wait_until(c, call, at);
        return;
    }
    call_finish(call, (int)code);
}

static void start_transfer(struct router_client *c, struct call *call);

static void add_pending(struct router_client *c)
{
    pthread_mutex_lock(&c->lock);
    struct call *list = c->pending;
    c->pending = NULL;
    pthread_mutex_unlock(&c->lock);
    while (list) {
        struct call *call = list;
        list = list->next;
        start_transfer(c, call);
    }
}

/* Starts the due waiting calls' next attempts. */
static void resume_due(struct router_client *c, int64_t now_ns)
{
    while (c->waiting && c->waiting->retry_at_ns <= now_ns) {
        struct call *call = c->waiting;
        c->waiting = call->next;
        call->next = NULL;
        if (call_resume(call))
            start_transfer(c, call);
    }
}

static void start_transfer(struct router_client *c, struct call *call)
{
    {
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
            return;
        }
        call->next = c->active;
        c->active = call;
    }
}

/* Ends the attempts whose provider has not sent a status line within
 * COOP_ROUTER_FIRST_BYTE_TIMEOUT_MS, as timeouts (which are retried). */
static void first_byte_timeouts(struct router_client *c, int64_t now_ns)
{
    for (struct call *call = c->active; call;) {
        struct call *next = call->next;
        long limit = call->router->retry.first_byte_ms;
        if (limit > 0 && !call->got_headers && now_ns - call->attempt_ns >= limit * 1000000LL)
            finish_one(c, call->easy, CURLE_OPERATION_TIMEDOUT);
        call = next;
    }
}

static void finish_waiting(struct router_client *c)
{
    while (c->waiting) {
        struct call *call = c->waiting;
        c->waiting = call->next;
        call->next = NULL;
        call_finish(call, (int)CURLE_ABORTED_BY_CALLBACK);
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
        first_byte_timeouts(c, now);
        resume_due(c, now);
        for (struct call *call = c->active; call; call = call->next)
            call_keepalive(call, now, interval_ns);
        for (struct call *call = c->waiting; call; call = call->next)
            call_keepalive(call, now, interval_ns);
        long wait_ms = c->keepalive_ms < 1000 ? c->keepalive_ms : 1000;
        if (wait_ms <= 0)
            wait_ms = 1000;
        if (c->waiting) {
            int64_t due_ms = (c->waiting->retry_at_ns - now + 999999) / 1000000;
            if (due_ms < wait_ms)
                wait_ms = due_ms > 0 ? (long)due_ms : 0;
        }
        if (c->active && c->active->router->retry.first_byte_ms > 0 &&
            c->active->router->retry.first_byte_ms < wait_ms)
            wait_ms = c->active->router->retry.first_byte_ms / 4 + 1;
        curl_multi_poll(c->multi, NULL, 0, (int)wait_ms, NULL);
    }
    /* Stopping: every call still running ends with an error event. */
    add_pending(c);
    finish_waiting(c);
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
    finish_waiting(c);
    while (c->nspare)
        curl_easy_cleanup(c->spare[--c->nspare]);
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

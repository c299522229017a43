/*
 * Streaming responses (SSE for the Model Router, long answers). The
 * producer writes from its own thread into a bounded queue; libmicrohttpd
 * pulls from it through a content reader. When the queue is empty the
 * reader suspends the connection and returns 0, and the next write resumes
 * it: no server thread waits and nothing busy-loops.
 *
 * A stream started with status 0 is held: the status line and headers wait
 * until the producer knows them (coop_http_stream_set_status, or the first
 * write or the end, which mean 200). The handler returns with the
 * connection suspended and no response queued; the producer's first
 * action resumes it and the server queues the response then. This lets a
 * proxied call answer with the upstream's status without a server thread
 * waiting for it.
 *
 * A stream has two owners, the producer (until coop_http_stream_end) and
 * the connection (until the request completes); the last to let go frees it.
 */
#include "http_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_QUEUE_MAX (8u << 20)

struct coop_http_stream {
    pthread_mutex_t lock;
    struct coop_buf queue;
    size_t head; /* bytes of queue already sent */
    struct MHD_Connection *conn;
    unsigned status;
    const char *content_type;
    char request_id[72];
    bool ended;
    bool gone;
    bool suspended;
    bool queued;
    bool held;      /* status and headers not decided yet */
    bool parked;    /* held, and the connection suspended waiting for it */
    int refs;
    size_t nheaders;
    char *header_names[COOP_HTTP_MAX_HEADERS];
    char *header_values[COOP_HTTP_MAX_HEADERS];
    struct coop_http_stream *next, *prev;
};

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct coop_http_stream *all_streams;

static void unref(struct coop_http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int left = --s->refs;
    pthread_mutex_unlock(&s->lock);
    if (left > 0)
        return;
    pthread_mutex_lock(&all_lock);
    if (s->prev)
        s->prev->next = s->next;
    else if (all_streams == s)
        all_streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&all_lock);
    coop_buf_dispose(&s->queue);
    for (size_t i = 0; i < s->nheaders; i++) {
        free(s->header_names[i]);
        free(s->header_values[i]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Call with s->lock held. */
static void wake(struct coop_http_stream *s)
{
    s->held = false;
    if (s->parked && s->conn && !s->gone) {
        s->parked = false;
        MHD_resume_connection(s->conn);
        return;
    }
    if (s->suspended && s->conn && !s->gone) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

struct coop_http_stream *coop_http_stream_start(struct coop_http_request *req,
                                                struct coop_http_response *res, unsigned status,
                                                const char *content_type)
{
    struct request_state *st = req->internal;
    if (st->stream)
        return NULL;
    struct coop_http_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    coop_buf_init(&s->queue, STREAM_QUEUE_MAX);
    s->conn = st->conn;
    s->status = status ? status : 200;
    s->held = status == 0;
    s->content_type = content_type;
    coop_strlcpy(s->request_id, st->request_id, sizeof s->request_id);
    s->refs = 2;
    st->stream = s;
    pthread_mutex_lock(&all_lock);
    s->next = all_streams;
    if (all_streams)
        all_streams->prev = s;
    all_streams = s;
    pthread_mutex_unlock(&all_lock);
    return s;
}

coop_err coop_http_stream_write(struct coop_http_stream *s, const void *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    coop_err err = COOP_ERR_OK;
    if (s->gone || s->ended) {
        err = COOP_ERR_IO;
    } else {
        if (s->head > 0 && s->head == s->queue.len) {
            coop_buf_reset(&s->queue);
            s->head = 0;
        }
        err = coop_buf_append(&s->queue, data, len);
        wake(s);
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

coop_err coop_http_stream_set_status(struct coop_http_stream *s, unsigned status,
                                     const char *content_type)
{
    pthread_mutex_lock(&s->lock);
    coop_err err = COOP_ERR_OK;
    if (!s->held) {
        err = COOP_ERR_CONFLICT;
    } else {
        s->status = status;
        if (content_type)
            s->content_type = content_type;
        wake(s);
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

void coop_http_stream_reply(struct coop_http_stream *s, unsigned status, const char *content_type,
                            const void *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    if (s->held) {
        s->status = status;
        if (content_type)
            s->content_type = content_type;
    }
    if (!s->gone && !s->ended && len) {
        if (s->head > 0 && s->head == s->queue.len) {
            coop_buf_reset(&s->queue);
            s->head = 0;
        }
        coop_buf_append(&s->queue, data, len);
    }
    s->ended = true;
    wake(s);
    pthread_mutex_unlock(&s->lock);
    unref(s);
}

coop_err coop_http_stream_add_header(struct coop_http_stream *s, const char *name,
                                     const char *value)
{
    pthread_mutex_lock(&s->lock);
    coop_err err = COOP_ERR_OK;
    if (!s->held || s->queued) {
        err = COOP_ERR_CONFLICT;
    } else if (s->nheaders >= COOP_HTTP_MAX_HEADERS) {
        err = COOP_ERR_TOO_LARGE;
    } else {
        char *n = strdup(name), *v = strdup(value);
        if (!n || !v) {
            free(n);
            free(v);
            err = COOP_ERR_NOMEM;
        } else {
            s->header_names[s->nheaders] = n;
            s->header_values[s->nheaders++] = v;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

bool coop_http_stream_closed(struct coop_http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    bool gone = s->gone;
    pthread_mutex_unlock(&s->lock);
    return gone;
}

void coop_http_stream_end(struct coop_http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    wake(s);
    pthread_mutex_unlock(&s->lock);
    unref(s);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct coop_http_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    size_t avail = s->queue.len - s->head;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, s->queue.data + s->head, n);
        s->head += n;
        if (s->head == s->queue.len) {
            coop_buf_reset(&s->queue);
            s->head = 0;
        }
        pthread_mutex_unlock(&s->lock);
        return (ssize_t)n;
    }
    if (s->ended || s->gone) {
        pthread_mutex_unlock(&s->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Keeps copies of the handler's extra headers for when the response is
 * queued later. */
static void keep_headers(struct coop_http_stream *s, const struct coop_http_response *res)
{
    for (size_t i = 0; i < res->nheaders && s->nheaders < COOP_HTTP_MAX_HEADERS; i++) {
        char *n = strdup(res->header_names[i]), *v = strdup(res->header_values[i]);
        if (!n || !v) {
            free(n);
            free(v);
            continue;
        }
        s->header_names[s->nheaders] = n;
        s->header_values[s->nheaders++] = v;
    }
}

enum MHD_Result coop_http_stream_queue_(struct coop_http_stream *s, struct MHD_Connection *conn,
                                        const struct coop_http_response *res)
{
    pthread_mutex_lock(&s->lock);
    if (res)
        keep_headers(s, res);
    if (s->queued) {
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    if (s->held) {
        /* Nothing decided yet: park the connection; the producer's first
         * action resumes it and the server calls back here. */
        s->parked = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    s->queued = true;
    /* A stream that already ended (a held reply) goes out as one buffer
     * with a Content-Length: no chunked encoding, no second reader call. */
    struct MHD_Response *r =
        s->ended && !s->gone
            ? MHD_create_response_from_buffer(s->queue.len - s->head, s->queue.data + s->head,
                                              MHD_RESPMEM_MUST_COPY)
            : NULL;
    pthread_mutex_unlock(&s->lock);
    if (!r)
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, s, NULL);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            s->content_type ? s->content_type : "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    MHD_add_response_header(r, "X-Request-Id", s->request_id);
    for (size_t i = 0; i < s->nheaders; i++)
        MHD_add_response_header(r, s->header_names[i], s->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, s->status, r);
    MHD_destroy_response(r);
    return ret;
}

unsigned coop_http_stream_status_(struct coop_http_stream *s)
{
    return s->status;
}

void coop_http_stream_release_(struct coop_http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->gone = true;
    s->conn = NULL;
    pthread_mutex_unlock(&s->lock);
    unref(s);
}

void coop_http_streams_abort_all_(struct coop_http_server *srv)
{
    (void)srv;
    pthread_mutex_lock(&all_lock);
    for (struct coop_http_stream *s = all_streams; s; s = s->next) {
        pthread_mutex_lock(&s->lock);
        if (s->held && !s->ended) {
            /* Nothing was decided for it: it did not succeed, and a 2xx
             * here would tell a webhook sender its delivery was stored. */
            s->status = 503;
            s->content_type = "application/json";
            coop_buf_reset(&s->queue);
            s->head = 0;
            coop_buf_puts(&s->queue, "{\"error\":{\"code\":\"shutting_down\",\"message\":"
                                     "\"the server is shutting down\",\"request_id\":");
            coop_buf_json_str(&s->queue, s->request_id, strlen(s->request_id));
            coop_buf_puts(&s->queue, "}}");
        }
        s->ended = true;
        wake(s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&all_lock);
}

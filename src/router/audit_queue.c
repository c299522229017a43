/*
 * The router's audit rows go through one writer thread: the router thread
 * and the HTTP threads queue a copy and move on, the writer appends what
 * has queued up in one durable transaction (coop_audit_append_many). Rows
 * are metadata only: never a key, a prompt, a response or code.
 *
 * An answer is not complete before its audit row is durable: a call's last
 * bytes (or just the end of its stream) travel with the row, and the writer
 * sends them once the row is committed. A crash can cut an answer short; it
 * cannot leave an answer delivered and unaudited.
 */
#include "router_int.h"

#include "coop/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_QUEUE_MAX 100000

struct audit_item {
    struct audit_item *next;
    struct coop_audit_row row;
    char customer[128], provider[32], model[128], request_id[72], zero_retention[128];
    char target[160];
    char *sanitizer_counts;
    char *route;
    struct router_answer_end end; /* sent once the row is written */
};

struct audit_queue {
    struct coop_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct audit_item *head, *tail;
    size_t n;
    bool stop;
};

void router_answer_send(struct router_answer_end *end)
{
    if (end->stream) {
        if (end->reply)
            coop_http_stream_reply(end->stream, end->status, end->content_type, end->data, end->len);
        else
            coop_http_stream_end(end->stream);
        end->stream = NULL;
    }
    free(end->data);
    end->data = NULL;
}

static void release(struct audit_item *it)
{
    router_answer_send(&it->end);
    free(it->sanitizer_counts);
    free(it->route);
    free(it);
}

/* Writes the rows of a list (in order, one transaction), then sends the
 * answers they hold back and frees the list. A batch the store refuses is
 * written row by row, so one bad row loses only itself. */
static void write_list(struct audit_queue *q, struct audit_item *list)
{
    struct coop_audit_row rows[COOP_AUDIT_BATCH_MAX];
    size_t n = 0;
    for (struct audit_item *it = list; it && n < COOP_AUDIT_BATCH_MAX; it = it->next)
        rows[n++] = it->row; /* the writer takes at most a batch */
    if (n == 0 || coop_audit_append_many(q->store, rows, n))
        for (struct audit_item *it = list; it; it = it->next)
            if (coop_audit_append(q->store, &it->row))
                coop_log_error("audit row not written", COOP_F_STR("request_id", it->request_id));
    while (list) {
        struct audit_item *next = list->next;
        release(list);
        list = next;
    }
}

static void *writer(void *arg)
{
    struct audit_queue *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (!q->head && q->stop)
            break;
        /* Up to a batch's worth, in queue order. */
        struct audit_item *list = q->head, *last = list;
        size_t n = 1;
        while (last->next && n < COOP_AUDIT_BATCH_MAX) {
            last = last->next;
            n++;
        }
        q->head = last->next;
        last->next = NULL;
        if (!q->head)
            q->tail = NULL;
        q->n -= n;
        pthread_mutex_unlock(&q->lock);
        write_list(q, list);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

coop_err audit_queue_new(struct coop_store *store, struct audit_queue **out)
{
    struct audit_queue *q = calloc(1, sizeof *q);
    if (!q)
        return COOP_ERR_NOMEM;
    q->store = store;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    if (pthread_create(&q->thread, NULL, writer, q)) {
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q);
        return COOP_ERR_INTERNAL;
    }
    *out = q;
    return COOP_ERR_OK;
}

#define COPY(field)                                                                                \
    do {                                                                                           \
        coop_strlcpy(it->field, row->field ? row->field : "", sizeof it->field);                   \
        it->row.field = row->field ? it->field : NULL;                                             \
    } while (0)

void audit_queue_push(struct audit_queue *q, const struct coop_audit_row *row)
{
    audit_queue_push_answer(q, row, NULL);
}

void audit_queue_push_answer(struct audit_queue *q, const struct coop_audit_row *row,
                             struct router_answer_end *end)
{
    struct audit_item *it = calloc(1, sizeof *it);
    if (!it) {
        coop_log_error("audit row dropped: out of memory");
        if (end)
            router_answer_send(end);
        return;
    }
    if (end)
        it->end = *end;
    it->row = *row;
    COPY(customer);
    COPY(provider);
    COPY(model);
    COPY(request_id);
    COPY(zero_retention);
    if (row->sanitizer_counts)
        it->sanitizer_counts = strdup(row->sanitizer_counts);
    it->row.sanitizer_counts = it->sanitizer_counts;
    COPY(target);
    if (row->route)
        it->route = strdup(row->route);
    it->row.route = it->route;
    pthread_mutex_lock(&q->lock);
    if (q->n >= AUDIT_QUEUE_MAX) {
        /* The store cannot keep up: write this one here rather than drop it. */
        pthread_mutex_unlock(&q->lock);
        write_list(q, it);
        return;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void audit_queue_free(struct audit_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}

void router_finish_audit(struct call *call)
{
    struct coop_router *r = call->router;
    int64_t ms = (coop_clock_mono_ns() - call->start_ns) / 1000000;
    struct coop_audit_row row = {
        .customer = call->customer[0] ? call->customer : NULL,
        .provider = call->provider,
        .model = call->model,
        .timestamp_ms = coop_clock_now_ms(),
        .request_id = call->request_id,
        .status = call->status,
        .status_code = call->status_code ? call->status_code : 499,
        .byok = call->byok,
        .zero_retention = call->zero_retention,
        .sanitizer_counts = call->sanitizer_counts,
        .latency_ms = ms,
        .input_tokens = call->t.input_tokens,
        .output_tokens = call->t.output_tokens,
        .target = call->attempts ? call->targets[call->target] : NULL,
        .attempts = call->attempts,
    };
    /* The steps are worth a record when there was more than one. */
    char *route = NULL;
    if ((call->ntargets > 1 || call->attempts != 1) && call->route.len) {
        struct coop_buf b;
        coop_buf_init(&b, call->route.len + 3);
        coop_buf_puts(&b, "[");
        coop_buf_append(&b, call->route.data, call->route.len);
        coop_buf_puts(&b, "]");
        route = coop_buf_steal(&b, NULL);
        row.route = route;
    }
    char labels[96];
    snprintf(labels, sizeof labels, "provider=\"%s\",status=\"%s\"", call->provider, call->status);
    coop_metric_inc("coop_llm_requests_total", "LLM requests by provider and outcome", labels);
    struct router_answer_end end = call->end;
    end.stream = call->stream;
    call->stream = NULL;
    call->end.data = NULL;
    if (r->audit && r->audit_before_answer) {
        audit_queue_push_answer(r->audit, &row, &end);
    } else {
        router_answer_send(&end);
        if (r->audit)
            audit_queue_push(r->audit, &row);
    }
    free(route);
    usage_count(r->usage, call->customer, call->token_id, call->provider, call->model,
                strcmp(call->status, "ok") == 0, call->t.input_tokens, call->t.output_tokens);
}

void router_audit_refused(struct coop_router *r, const struct coop_http_request *req,
                          const char *provider, const char *model, const char *status,
                          int status_code)
{
    struct coop_audit_row row = {
        .customer = req->principal.customer[0] ? req->principal.customer : NULL,
        .provider = provider,
        .model = model,
        .timestamp_ms = coop_clock_now_ms(),
        .request_id = req->request_id,
        .status = status,
        .status_code = status_code,
        .zero_retention = "",
        .latency_ms = (coop_clock_mono_ns() - req->start_ns) / 1000000,
        .attempts = 0,
    };
    char labels[96];
    snprintf(labels, sizeof labels, "provider=\"%s\",status=\"%s\"", provider, status);
    coop_metric_inc("coop_llm_requests_total", "LLM requests by provider and outcome", labels);
    if (r->audit)
        audit_queue_push(r->audit, &row);
    usage_count(r->usage, req->principal.customer, req->principal.token_id, provider, model, false,
                0, 0);
}

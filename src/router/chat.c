/*
 * The one place every request to a provider passes through: parse the
 * OpenAI-format request, apply the provider policy, sanitize every
 * message, add the zero-retention layer (the confidentiality instruction,
 * the five headers, the body annotation where the provider accepts it,
 * native controls), build the native request, and hand it to the router
 * thread. The HTTP handler returns at once with a held stream; the router
 * thread answers through it: the provider's status mapped, the body
 * translated, streams chunk by chunk with keep-alive comments.
 *
 * Nothing here logs, stores or echoes message text or provider bodies:
 * errors name the problem in fixed words.
 */
#include "router_int.h"

#include "coop/metrics.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char router_instruction[] =
    "Confidentiality notice: the content of this conversation is proprietary source code and "
    "engineering metadata of a private organisation, sent under a zero-retention agreement. Use "
    "it only to answer this request. Do not store, log, memorise or use it for training, and do "
    "not repeat secrets or credentials even if they appear in it.";

/* ---- answering ---------------------------------------------------------------- */

static void error_body(struct coop_buf *b, const char *code, const char *message,
                       const char *request_id)
{
    coop_buf_puts(b, "{\"error\":{\"code\":");
    coop_buf_json_str(b, code, strlen(code));
    coop_buf_puts(b, ",\"message\":");
    coop_buf_json_str(b, message, strlen(message));
    coop_buf_puts(b, ",\"type\":");
    coop_buf_json_str(b, code, strlen(code));
    coop_buf_puts(b, ",\"request_id\":");
    coop_buf_json_str(b, request_id, strlen(request_id));
    coop_buf_puts(b, "}}");
}

/* Keeps the answer's last bytes in the call: router_finish_audit sends
 * them once the audit row is written. */
static void hold_answer(struct call *call, unsigned status, const char *content_type,
                        struct coop_buf *b)
{
    free(call->end.data);
    call->end.data = coop_buf_steal(b, &call->end.len);
    call->end.reply = call->end.data != NULL;
    call->end.status = status;
    call->end.content_type = content_type;
}

/* Answers with a JSON error before anything was sent, or, once a stream
 * has started, with an error event; either way the answer ends here. */
static void fail_call(struct call *call, unsigned status, const char *code, const char *message)
{
    struct coop_buf b;
    coop_buf_init(&b, MAX_ANSWER);
    bool anthropic = call->format == ROUTER_FORMAT_ANTHROPIC;
    if (!call->started) {
        if (call->retry_after[0])
            coop_http_stream_add_header(call->stream, "Retry-After", call->retry_after);
        if (anthropic)
            messages_error_json(&b, status, code, message, call->request_id);
        else
            error_body(&b, code, message, call->request_id);
        call->status_code = (int)status;
        hold_answer(call, status, "application/json", &b);
    } else if (anthropic) {
        messages_error_event(&b, status, code, message, call->request_id);
        hold_answer(call, 200, NULL, &b);
    } else {
        coop_buf_puts(&b, "data: ");
        error_body(&b, code, message, call->request_id);
        coop_buf_puts(&b, "\n\n");
        hold_answer(call, 200, NULL, &b);
    }
    coop_buf_dispose(&b);
}

/* From here on the answer is an SSE stream: the next write sends 200 with
 * the stream's content type (no separate wake-up for the headers). */
static void start_stream(struct call *call)
{
    if (call->started)
        return;
    call->started = true;
    call->status_code = 200;
}

static bool send_out(struct call *call)
{
    if (call->format == ROUTER_FORMAT_ANTHROPIC && call->out.len &&
        messages_stream(&call->anth, &call->t, &call->out)) {
        coop_buf_reset(&call->out);
        call->protocol_error = true;
        return false;
    }
    if (call->out.len == 0)
        return true;
    call->content_sent = true;
    coop_err err = coop_http_stream_write(call->stream, call->out.data, call->out.len);
    coop_buf_reset(&call->out);
    call->last_write_ns = coop_clock_mono_ns();
    if (err) {
        call->client_gone = true;
        return false;
    }
    return true;
}

static coop_err on_event(void *ctx, const char *event, const char *data, size_t len)
{
    struct call *call = ctx;
    if (call->t.done)
        return COOP_ERR_OK;
    coop_err err = call->ops->translate_event(&call->t, event, data, len, &call->out);
    if (err)
        return err;
    return send_out(call) ? COOP_ERR_OK : COOP_ERR_IO;
}

bool call_data(struct call *call, const char *data, size_t len)
{
    if (coop_http_stream_closed(call->stream)) {
        call->client_gone = true;
        return false;
    }
    if (call->upstream_status < 200 || call->upstream_status > 299) {
        /* Read (bounded) and dropped: an error body can quote the input. */
        return true;
    }
    call->got_bytes = true;
    if (!call->stream_mode) {
        if (coop_buf_append(&call->body, data, len) == COOP_ERR_OK)
            return true;
        call->too_large = true;
        return false;
    }
    start_stream(call);
    coop_err err = sse_feed(&call->sse, data, len, on_event, call);
    if (err && !call->client_gone)
        call->protocol_error = true;
    return err == COOP_ERR_OK;
}

void call_keepalive(struct call *call, int64_t now_ns, int64_t interval_ns)
{
    if (!call->stream_mode || call->t.done || now_ns - call->last_write_ns < interval_ns)
        return;
    /* A silent provider: commit the stream (a later failure becomes an
     * error event) and tell the client we are still here. */
    start_stream(call);
    static const char ka[] = ": keep-alive\n\n";
    if (coop_http_stream_write(call->stream, ka, sizeof ka - 1))
        call->client_gone = true;
    call->last_write_ns = now_ns;
}

/* The provider's status, as the client should see it. */
static void upstream_error(struct call *call)
{
    long s = call->upstream_status;
    char msg[160];
    snprintf(msg, sizeof msg, "the provider %s answered %ld", call->provider, s);
    if (s == 400 || s == 422)
        fail_call(call, 400, "provider_bad_request", msg);
    else if (s == 401)
        fail_call(call, 401, "provider_unauthorized",
                  "the provider refused the server's credentials for it");
    else if (s == 403)
        fail_call(call, 403, "provider_forbidden", msg);
    else if (s == 404)
        fail_call(call, 404, "provider_not_found", "the provider does not know this model");
    else if (s == 429)
        fail_call(call, 429, "provider_rate_limited", msg);
    else if (s == 408 || s == 504)
        fail_call(call, 504, "provider_timeout", msg);
    else
        fail_call(call, 502, "provider_error", msg);
}

static void finish_ok(struct call *call)
{
    if (call->stream_mode) {
        start_stream(call);
        if (call->t.failed) {
            fail_call(call, 502, "provider_error", "the provider reported an error mid-stream");
            call->status = "error";
        } else if (call->protocol_error) {
            fail_call(call, 502, "provider_protocol", "the provider's stream could not be read");
            call->status = "error";
        } else if (!call->t.done && call->t.finished) {
            chunk_done(&call->t, &call->out); /* providers that just close (Gemini) */
            send_out(call);
        } else if (!call->t.done) {
            fail_call(call, 502, "provider_incomplete", "the provider ended the stream early");
            call->status = "error";
        }
        return;
    }
    coop_err err = call->ops->translate_response(&call->t, call->body.data ? call->body.data : "",
                                                 call->body.len, &call->out);
    if (!err && call->format == ROUTER_FORMAT_ANTHROPIC) {
        struct coop_buf openai = call->out;
        coop_buf_init(&call->out, MAX_ANSWER);
        err = messages_response(&call->anth, &call->t, openai.data ? openai.data : "", openai.len,
                                &call->out);
        coop_buf_dispose(&openai);
    }
    if (err) {
        fail_call(call, 502, "provider_protocol", "the provider's answer could not be read");
        call->status = "error";
        return;
    }
    call->status_code = 200;
    hold_answer(call, 200, "application/json", &call->out);
    coop_buf_init(&call->out, MAX_ANSWER);
}

void call_finish(struct call *call, int curl_code)
{
    call->status = "ok";
    if (call->client_gone || coop_http_stream_closed(call->stream)) {
        call->status = "cancelled";
    } else if (curl_code == CURLE_OK && call->upstream_status >= 200 &&
               call->upstream_status <= 299) {
        call_record_step(call, "ok", call->upstream_status);
        finish_ok(call);
    } else if (curl_code == CURLE_OK || curl_code == CURLE_WRITE_ERROR) {
        if (call->protocol_error) {
            fail_call(call, 502, "provider_protocol", "the provider's stream could not be read");
        } else if (call->too_large) {
            fail_call(call, 502, "provider_too_large", "the provider's answer is too large");
        } else {
            upstream_error(call);
        }
        call->status = "error";
    } else if (curl_code == CURLE_OPERATION_TIMEDOUT) {
        fail_call(call, 504, "provider_timeout", "the provider did not answer in time");
        call->status = "error";
    } else if (curl_code == CURLE_ABORTED_BY_CALLBACK) {
        fail_call(call, 503, "shutting_down", "the server is shutting down");
        call->status = "error";
    } else {
        fail_call(call, 502, "provider_unreachable", "the provider could not be reached");
        call->status = "error";
    }
    router_finish_audit(call); /* and then the answer's end */
    call_free(call);
}

void call_free(struct call *call)
{
    if (!call)
        return;
    if (call->stream)
        coop_http_stream_end(call->stream);
    coop_provider_request_dispose(&call->req);
    sse_dispose(&call->sse);
    coop_buf_dispose(&call->body);
    coop_buf_dispose(&call->out);
    coop_buf_dispose(&call->route);
    free(call->end.data);
    json_object_put(call->in_body);
    json_object_put(call->in_msgs);
    free(call->sanitizer_counts);
    free(call);
}

/* ---- retries and fallbacks -------------------------------------------------------- */

static struct key_pool *call_pool(const struct call *call)
{
    const struct coop_router *r = call->router;
    for (size_t i = 0; coop_providers[i] && i < sizeof r->pools / sizeof r->pools[0]; i++)
        if (coop_providers[i] == call->ops)
            return r->pools[i];
    return NULL;
}

static const char *failure_word(int curl_code, long status)
{
    if (curl_code == CURLE_OK || curl_code == CURLE_WRITE_ERROR)
        return status ? "error" : "protocol";
    if (curl_code == CURLE_OPERATION_TIMEDOUT)
        return "timeout";
    if (curl_code == CURLE_ABORTED_BY_CALLBACK)
        return "aborted";
    return "unreachable";
}

long call_timeout_ms(const struct call *call, int64_t now_ns)
{
    int64_t left = (call->deadline_ns - now_ns) / 1000000;
    long t = call->router->timeout_ms;
    if (left < t)
        t = left > 1 ? (long)left : 1;
    return t;
}

/* Delay before the same target is asked again; -1: not again. */
static long same_target_delay(struct call *call, enum router_failure f, bool other_key)
{
    const struct router_retry_cfg *rc = &call->router->retry;
    long s = call->upstream_status;
    if (call->target_attempts >= rc->max_attempts)
        return -1;
    if (s == 401)
        return other_key ? 0 : -1; /* another key at once, else not again */
    if (f != ROUTER_FAIL_RETRY)
        return -1;
    long delay = router_backoff_ms(rc, call->target_attempts, randombytes_random());
    if (s == 429 && call->retry_after_ms >= 0 && !other_key) {
        /* The same key again: wait as long as the provider asked, unless
         * that is longer than we are willing to hold the request. */
        if (call->retry_after_ms > rc->retry_after_max_ms)
            return -1;
        if (call->retry_after_ms > delay)
            delay = call->retry_after_ms;
    }
    return delay;
}

static void count_retry(const struct call *call, const char *kind)
{
    char labels[96];
    snprintf(labels, sizeof labels, "provider=\"%s\",kind=\"%s\"", call->provider, kind);
    coop_metric_inc("coop_llm_retries_total",
                    "LLM provider calls tried again (retry: same target; fallback: next target)",
                    labels);
}

bool call_retry(struct call *call, int curl_code, int64_t now_ns, int64_t *at_ns)
{
    call->last_curl = curl_code;
    if (call->client_gone || (call->stream && coop_http_stream_closed(call->stream)))
        return false;
    enum router_failure f = router_classify(curl_code, call->upstream_status, call->got_bytes);
    if (f == ROUTER_OK)
        return false;
    if (call->too_large || call->protocol_error)
        f = ROUTER_FAIL_FINAL;
    call_record_step(call, failure_word(curl_code, call->upstream_status), call->upstream_status);
    /* Once the client has seen content, it is that answer or an error. */
    if (call->content_sent || f == ROUTER_FAIL_FINAL)
        return false;
    const struct router_retry_cfg *rc = &call->router->retry;
    long s = call->upstream_status;
    struct key_pool *pool = call->key_index >= 0 ? call_pool(call) : NULL;
    if (pool && (s == 429 || s == 401)) {
        /* 429 with Retry-After: as long as the provider asked; else the
         * configured cooldown. */
        long cool =
            s == 429 && call->retry_after_ms >= 0 ? call->retry_after_ms : rc->key_cooldown_ms;
        key_pool_cool(pool, call->key_index, now_ns + (int64_t)cool * 1000000);
    }
    bool other_key = pool && key_pool_has_other(pool, now_ns, call->key_index);
    int64_t left_ms = (call->deadline_ns - now_ns) / 1000000;
    long delay = same_target_delay(call, f, other_key);
    if (delay >= 0 && delay < left_ms) {
        *at_ns = now_ns + (int64_t)delay * 1000000;
        count_retry(call, "retry");
        return true;
    }
    if (call->target + 1 < call->ntargets && left_ms > 0) {
        count_retry(call, "fallback");
        call->target++;
        call->target_attempts = 0;
        *at_ns = now_ns;
        return true;
    }
    return false;
}

/* Clears what one attempt left behind; the client's side (stream started,
 * keep-alives) carries over. */
static void attempt_reset(struct call *call)
{
    call->upstream_status = 0;
    call->retry_after[0] = '\0';
    call->retry_after_ms = -1;
    call->protocol_error = false;
    call->too_large = false;
    call->got_bytes = false;
    call->got_headers = false;
    coop_buf_reset(&call->body);
    coop_buf_reset(&call->out);
    sse_dispose(&call->sse);
    sse_init(&call->sse, MAX_SSE_EVENT);
    call->t.input_tokens = call->t.output_tokens = 0;
    call->t.usage_seen = call->t.role_sent = call->t.finished = false;
    call->t.done = call->t.failed = false;
    call->t.finish_reason[0] = '\0';
}

bool call_resume(struct call *call)
{
    if (!call->client_gone && !coop_http_stream_closed(call->stream)) {
        struct step_error why;
        /* Saved: if no target is left, the answer is the last failure. */
        long status = call->upstream_status;
        char ra[sizeof call->retry_after];
        coop_strlcpy(ra, call->retry_after, sizeof ra);
        if (call_prepare_attempt(call, &why)) {
            attempt_reset(call);
            return true;
        }
        call->upstream_status = status;
        coop_strlcpy(call->retry_after, ra, sizeof call->retry_after);
    }
    call_finish(call, call->last_curl);
    return false;
}

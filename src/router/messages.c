/*
 * POST /v1/messages: Anthropic's Messages API spoken inbound, so that the
 * official Anthropic SDKs work pointed at coopd. A request is translated
 * into the router's own (OpenAI-format) request and goes through
 * router_chat like any other: the same policy, sanitizer, zero-retention
 * layer, audit and budgets, to any provider ("openai/gpt-4o", or a plain
 * Anthropic model name). The answer, whatever the provider, is translated
 * back: a Message object, or the named events of a Messages stream
 * (message_start, content_block_start, content_block_delta,
 * content_block_stop, message_delta with usage, message_stop; errors as an
 * "error" event).
 *
 * Only text is supported: images, documents, tools and extended thinking
 * are refused with 400 in Anthropic's error shape, never silently dropped.
 * Errors name the problem in fixed words and never quote the input.
 */
#include "router_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 4096
#define MAX_TOKENS_LIMIT (1 << 24)
#define MAX_STOP_SEQUENCES 64

/* ---- errors ------------------------------------------------------------------- */

/* {"type":"error","error":{"type","message","code","request_id"},"request_id"}:
 * Anthropic's shape, carrying Coop's code and request id as well. */
void messages_error_json(struct coop_buf *b, unsigned status, const char *code, const char *message,
                         const char *request_id)
{
    const char *type = coop_http_anthropic_error_type(status);
    coop_buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    coop_buf_json_str(b, type, strlen(type));
    coop_buf_puts(b, ",\"message\":");
    coop_buf_json_str(b, message, strlen(message));
    coop_buf_puts(b, ",\"code\":");
    coop_buf_json_str(b, code, strlen(code));
    coop_buf_puts(b, ",\"request_id\":");
    coop_buf_json_str(b, request_id, strlen(request_id));
    coop_buf_puts(b, "},\"request_id\":");
    coop_buf_json_str(b, request_id, strlen(request_id));
    coop_buf_puts(b, "}");
}

void messages_error_event(struct coop_buf *b, unsigned status, const char *code,
                          const char *message, const char *request_id)
{
    coop_buf_puts(b, "event: error\ndata: ");
    messages_error_json(b, status, code, message, request_id);
    coop_buf_puts(b, "\n\n");
}

/* ---- the request ---------------------------------------------------------------- */

/* Appends the text of content (a string, or an array of text blocks). */
static coop_err content_text(struct json_object *content, struct coop_buf *out,
                             const char **problem)
{
    if (json_object_is_type(content, json_type_string))
        return coop_buf_append(out, json_object_get_string(content),
                               (size_t)json_object_get_string_len(content));
    if (!json_object_is_type(content, json_type_array)) {
        *problem = "content must be a string or an array of content blocks";
        return COOP_ERR_INVALID;
    }
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        struct json_object *blk = json_object_array_get_idx(content, i), *text = NULL;
        const char *type = coop_json_str(blk, "type");
        if (!json_object_is_type(blk, json_type_object) || !type) {
            *problem = "each content block must be an object with a type";
            return COOP_ERR_INVALID;
        }
        if (strcmp(type, "text") != 0) {
            *problem = "only text content blocks are supported: images, documents, tool use, "
                       "tool results and thinking blocks are not";
            return COOP_ERR_INVALID;
        }
        json_object_object_foreach(blk, key, v)
        {
            (void)v;
            if (strcmp(key, "type") != 0 && strcmp(key, "text") != 0 &&
                strcmp(key, "cache_control") != 0 && strcmp(key, "citations") != 0) {
                *problem = "a text block has a field this endpoint does not know";
                return COOP_ERR_INVALID;
            }
        }
        if (!json_object_object_get_ex(blk, "text", &text) ||
            !json_object_is_type(text, json_type_string)) {
            *problem = "a text block needs text, a string";
            return COOP_ERR_INVALID;
        }
        coop_err err = coop_buf_append(out, json_object_get_string(text),
                                       (size_t)json_object_get_string_len(text));
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static struct json_object *new_message(const char *role, const struct coop_buf *text)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(
        m, "content", json_object_new_string_len(text->data ? text->data : "", (int)text->len));
    return m;
}

static coop_err add_messages(struct json_object *in, struct json_object *arr, struct coop_buf *text,
                             const char **problem)
{
    struct json_object *msgs = NULL;
    if (!json_object_object_get_ex(in, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) == 0 ||
        json_object_array_length(msgs) > MAX_MESSAGES) {
        *problem = "messages must be an array of 1 to 4096 messages";
        return COOP_ERR_INVALID;
    }
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        struct json_object *m = json_object_array_get_idx(msgs, i), *content = NULL;
        const char *role = coop_json_str(m, "role");
        if (!json_object_is_type(m, json_type_object) || !role ||
            (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            *problem = "each message needs a role, user or assistant";
            return COOP_ERR_INVALID;
        }
        json_object_object_foreach(m, key, v)
        {
            (void)v;
            if (strcmp(key, "role") != 0 && strcmp(key, "content") != 0) {
                *problem = "a message has a field this endpoint does not know";
                return COOP_ERR_INVALID;
            }
        }
        if (!json_object_object_get_ex(m, "content", &content) || !content) {
            *problem = "each message needs content";
            return COOP_ERR_INVALID;
        }
        coop_buf_reset(text);
        coop_err err = content_text(content, text, problem);
        if (err)
            return err;
        json_object_array_add(arr, new_message(role, text));
    }
    return COOP_ERR_OK;
}

static bool is_number(struct json_object *v, double lo, double hi)
{
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return false;
    double d = json_object_get_double(v);
    return isfinite(d) && d >= lo && d <= hi;
}

/* Fields this endpoint refuses by name, with the reason. */
static const char *const refused[][2] = {
    {"tools", "tools are not supported on this endpoint"},
    {"tool_choice", "tools are not supported on this endpoint"},
    {"thinking", "extended thinking is not supported on this endpoint"},
    {"top_k", "top_k is not supported: not every provider behind this endpoint has it"},
    {"container", "containers are not supported on this endpoint"},
    {"mcp_servers", "MCP servers are not supported on this endpoint"},
};

static const char *const known[] = {"model",          "max_tokens",   "messages", "system",
                                    "stop_sequences", "temperature",  "top_p",    "stream",
                                    "metadata",       "service_tier", NULL};

static coop_err check_fields(struct json_object *in, const char **problem)
{
    json_object_object_foreach(in, key, v)
    {
        (void)v;
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
            if (strcmp(key, refused[i][0]) == 0) {
                *problem = refused[i][1];
                return COOP_ERR_INVALID;
            }
        size_t k = 0;
        while (known[k] && strcmp(known[k], key) != 0)
            k++;
        if (!known[k]) {
            *problem = "the body has a field this endpoint does not know";
            return COOP_ERR_INVALID;
        }
    }
    return COOP_ERR_OK;
}

/* model, max_tokens, stream, metadata, service_tier: checked, and the first
 * three copied. */
static coop_err read_scalars(struct json_object *in, struct json_object *out, const char **problem)
{
    struct json_object *v = NULL;
    const char *model = coop_json_str(in, "model");
    size_t mlen = model ? strlen(model) : 0;
    if (!model || mlen == 0 || mlen > 100) {
        *problem = "model must be a string naming a model, e.g. \"claude-sonnet-4-5\" or "
                   "\"openai/gpt-4o\"";
        return COOP_ERR_INVALID;
    }
    char full[160];
    coop_strlcpy(full, strchr(model, '/') ? "" : "anthropic/", sizeof full);
    size_t used = strlen(full);
    coop_strlcpy(full + used, model, sizeof full - used);
    json_object_object_add(out, "model", json_object_new_string(full));
    if (!json_object_object_get_ex(in, "max_tokens", &v) ||
        !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
        json_object_get_int64(v) > MAX_TOKENS_LIMIT) {
        *problem = "max_tokens must be an integer of at least 1";
        return COOP_ERR_INVALID;
    }
    json_object_object_add(out, "max_tokens", json_object_get(v));
    if (json_object_object_get_ex(in, "stream", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            *problem = "stream must be a boolean";
            return COOP_ERR_INVALID;
        }
        json_object_object_add(out, "stream", json_object_get(v));
    }
    /* metadata.user_id is checked but not forwarded: it identifies a person
     * and no provider needs it to answer. */
    if (json_object_object_get_ex(in, "metadata", &v) && v) {
        if (!json_object_is_type(v, json_type_object)) {
            *problem = "metadata must be an object";
            return COOP_ERR_INVALID;
        }
        json_object_object_foreach(v, key, uv)
        {
            if (strcmp(key, "user_id") != 0 ||
                !(uv == NULL || json_object_is_type(uv, json_type_string))) {
                *problem = "metadata may hold only user_id, a string";
                return COOP_ERR_INVALID;
            }
        }
    }
    if (json_object_object_get_ex(in, "service_tier", &v) &&
        !json_object_is_type(v, json_type_string)) {
        *problem = "service_tier must be a string";
        return COOP_ERR_INVALID;
    }
    return COOP_ERR_OK;
}

static coop_err read_sampling(struct json_object *in, struct json_object *out, const char **problem)
{
    struct json_object *v = NULL;
    if (json_object_object_get_ex(in, "temperature", &v)) {
        if (!is_number(v, 0, 1)) {
            *problem = "temperature must be a number from 0 to 1";
            return COOP_ERR_INVALID;
        }
        json_object_object_add(out, "temperature", json_object_get(v));
    }
    if (json_object_object_get_ex(in, "top_p", &v)) {
        if (!is_number(v, 0, 1)) {
            *problem = "top_p must be a number from 0 to 1";
            return COOP_ERR_INVALID;
        }
        json_object_object_add(out, "top_p", json_object_get(v));
    }
    if (json_object_object_get_ex(in, "stop_sequences", &v)) {
        size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
        bool ok = json_object_is_type(v, json_type_array) && n <= MAX_STOP_SEQUENCES;
        for (size_t i = 0; ok && i < n; i++) {
            struct json_object *s = json_object_array_get_idx(v, i);
            ok = json_object_is_type(s, json_type_string) && json_object_get_string_len(s) > 0;
        }
        if (!ok) {
            *problem = "stop_sequences must be an array of non-empty strings";
            return COOP_ERR_INVALID;
        }
        if (n)
            json_object_object_add(out, "stop", json_object_get(v));
    }
    return COOP_ERR_OK;
}

static coop_err read_system(struct json_object *in, struct json_object *arr, struct coop_buf *text,
                            const char **problem)
{
    struct json_object *sys = NULL;
    if (!json_object_object_get_ex(in, "system", &sys) || !sys)
        return COOP_ERR_OK;
    coop_buf_reset(text);
    coop_err err = content_text(sys, text, problem);
    if (err == COOP_ERR_INVALID)
        *problem = "system must be a string or an array of text blocks";
    if (!err && text->len)
        json_object_array_add(arr, new_message("system", text));
    return err;
}

coop_err messages_request(struct json_object *in, struct json_object **out, const char **problem)
{
    *problem = "the request could not be read";
    if (!json_object_is_type(in, json_type_object)) {
        *problem = "the body must be a JSON object";
        return COOP_ERR_INVALID;
    }
    struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
    struct coop_buf text;
    coop_buf_init(&text, MAX_ANSWER);
    json_object_object_add(o, "messages", arr);
    coop_err err = check_fields(in, problem);
    if (!err)
        err = read_scalars(in, o, problem);
    if (!err)
        err = read_sampling(in, o, problem);
    if (!err)
        err = read_system(in, arr, &text, problem);
    if (!err)
        err = add_messages(in, arr, &text, problem);
    coop_buf_dispose(&text);
    if (err) {
        if (err == COOP_ERR_TOO_LARGE)
            *problem = "the request is too large";
        json_object_put(o);
        return err == COOP_ERR_TOO_LARGE ? COOP_ERR_INVALID : err;
    }
    *out = o;
    return COOP_ERR_OK;
}

/* ---- the answer ------------------------------------------------------------------ */

static const char *stop_reason(const char *finish_reason)
{
    if (!finish_reason)
        return "end_turn";
    if (strcmp(finish_reason, "length") == 0)
        return "max_tokens";
    if (strcmp(finish_reason, "tool_calls") == 0 || strcmp(finish_reason, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish_reason, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

/* The message id: a provider's msg_ id as it is, any other id behind msg_. */
static coop_err put_id(const struct coop_translate *t, struct coop_buf *out)
{
    const char *id = t->id;
    char buf[96];
    if (strncmp(id, "msg_", 4) != 0) {
        if (strncmp(id, "chatcmpl-", 9) == 0)
            id += 9;
        coop_strlcpy(buf, "msg_", sizeof buf);
        coop_strlcpy(buf + 4, id, sizeof buf - 4);
        id = buf;
    }
    return coop_buf_json_str(out, id, strlen(id));
}

/* The stop sequence as JSON: a string when the provider named it, else null. */
static coop_err put_stop_sequence(const struct coop_translate *t, struct coop_buf *out)
{
    if (!t->stop_sequence[0])
        return coop_buf_puts(out, "null");
    return coop_buf_json_str(out, t->stop_sequence, strlen(t->stop_sequence));
}

static coop_err put_usage(const struct coop_translate *t, struct coop_buf *out)
{
    return coop_buf_printf(out, "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":%lld}",
                           (long long)t->input_tokens, (long long)t->output_tokens);
}

coop_err messages_response(const struct messages_state *ms, const struct coop_translate *t,
                           const char *body, size_t len, struct coop_buf *out)
{
    struct json_object *root = NULL;
    if (coop_json_parse(body, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    struct json_object *choices = coop_json_arr(root, "choices");
    struct json_object *c0 = choices ? json_object_array_get_idx(choices, 0) : NULL;
    if (!c0) {
        json_object_put(root);
        return COOP_ERR_PROTOCOL;
    }
    struct json_object *content = NULL;
    json_object_object_get_ex(coop_json_obj(c0, "message"), "content", &content);
    const char *text =
        json_object_is_type(content, json_type_string) ? json_object_get_string(content) : NULL;
    size_t tlen = text ? (size_t)json_object_get_string_len(content) : 0;
    const char *sr = stop_reason(coop_json_str(c0, "finish_reason"));
    if (t->stop_sequence[0] && strcmp(sr, "end_turn") == 0)
        sr = "stop_sequence";
    coop_err err = coop_buf_puts(out, "{\"id\":");
    if (!err)
        err = put_id(t, out);
    if (!err)
        err = coop_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (!err)
        err = coop_buf_json_str(out, ms->model, strlen(ms->model));
    if (!err)
        err = coop_buf_puts(out, ",\"content\":[");
    if (!err && tlen) {
        err = coop_buf_puts(out, "{\"type\":\"text\",\"text\":");
        if (!err)
            err = coop_buf_json_str(out, text, tlen);
        if (!err)
            err = coop_buf_puts(out, "}");
    }
    if (!err)
        err = coop_buf_printf(out, "],\"stop_reason\":\"%s\",\"stop_sequence\":", sr);
    if (!err)
        err = put_stop_sequence(t, out);
    if (!err)
        err = coop_buf_puts(out, ",");
    if (!err)
        err = put_usage(t, out);
    if (!err)
        err = coop_buf_puts(out, "}");
    json_object_put(root);
    return err;
}

static coop_err event_start(struct messages_state *ms, const struct coop_translate *t,
                            struct coop_buf *out)
{
    if (ms->started)
        return COOP_ERR_OK;
    ms->started = true;
    coop_err err = coop_buf_puts(out, "event: message_start\ndata: {\"type\":\"message_start\","
                                      "\"message\":{\"id\":");
    if (!err)
        err = put_id(t, out);
    if (!err)
        err = coop_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    if (!err)
        err = coop_buf_json_str(out, ms->model, strlen(ms->model));
    if (!err)
        err = coop_buf_printf(out,
                              ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                              "\"usage\":{\"input_tokens\":%lld,\"output_tokens\":0}}}\n\n",
                              (long long)t->input_tokens);
    if (!err)
        err = coop_buf_puts(out, "event: content_block_start\ndata: {\"type\":"
                                 "\"content_block_start\",\"index\":0,\"content_block\":"
                                 "{\"type\":\"text\",\"text\":\"\"}}\n\n");
    return err;
}

static coop_err event_text(struct messages_state *ms, const struct coop_translate *t,
                           const char *text, size_t len, struct coop_buf *out)
{
    coop_err err = event_start(ms, t, out);
    if (!err && len) {
        err = coop_buf_puts(out, "event: content_block_delta\ndata: {\"type\":"
                                 "\"content_block_delta\",\"index\":0,\"delta\":"
                                 "{\"type\":\"text_delta\",\"text\":");
        if (!err)
            err = coop_buf_json_str(out, text, len);
        if (!err)
            err = coop_buf_puts(out, "}}\n\n");
    }
    return err;
}

static coop_err event_stop(struct messages_state *ms, const struct coop_translate *t,
                           struct coop_buf *out)
{
    if (ms->done)
        return COOP_ERR_OK;
    coop_err err = event_start(ms, t, out);
    const char *sr = ms->stop_reason[0] ? ms->stop_reason : "end_turn";
    if (t->stop_sequence[0] && strcmp(sr, "end_turn") == 0)
        sr = "stop_sequence";
    if (!err)
        err = coop_buf_puts(out, "event: content_block_stop\ndata: {\"type\":"
                                 "\"content_block_stop\",\"index\":0}\n\n");
    if (!err)
        err = coop_buf_printf(out,
                              "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                              "{\"stop_reason\":\"%s\",\"stop_sequence\":",
                              sr);
    if (!err)
        err = put_stop_sequence(t, out);
    if (!err)
        err = coop_buf_puts(out, "},");
    if (!err)
        err = put_usage(t, out);
    if (!err)
        err = coop_buf_puts(out, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    ms->done = true;
    return err;
}

/* One OpenAI chunk's data into Anthropic events. */
static coop_err convert_chunk(struct messages_state *ms, const struct coop_translate *t,
                              const char *data, size_t len, struct coop_buf *out)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return event_stop(ms, t, out);
    struct json_object *root = NULL;
    if (coop_json_parse(data, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    coop_err err = COOP_ERR_OK;
    struct json_object *choices = coop_json_arr(root, "choices");
    /* An in-stream provider error is answered by the router's own error
     * event when the stream ends (t->failed); usage-only chunks carry
     * nothing that t does not already hold. */
    for (size_t i = 0; !err && choices && i < json_object_array_length(choices); i++) {
        struct json_object *c = json_object_array_get_idx(choices, i), *text = NULL;
        int64_t index = 0;
        if (coop_json_int(c, "index", &index) && index != 0)
            continue;
        if (json_object_object_get_ex(coop_json_obj(c, "delta"), "content", &text) &&
            json_object_is_type(text, json_type_string))
            err = event_text(ms, t, json_object_get_string(text),
                             (size_t)json_object_get_string_len(text), out);
        else
            err = event_start(ms, t, out);
        const char *fr = coop_json_str(c, "finish_reason");
        if (fr)
            coop_strlcpy(ms->stop_reason, stop_reason(fr), sizeof ms->stop_reason);
    }
    json_object_put(root);
    return err;
}

coop_err messages_stream(struct messages_state *ms, const struct coop_translate *t,
                         struct coop_buf *io)
{
    struct coop_buf out;
    coop_buf_init(&out, MAX_ANSWER);
    coop_err err = COOP_ERR_OK;
    const char *p = io->data ? io->data : "", *end = p + io->len;
    while (!err && p < end) {
        const char *stop = NULL;
        for (const char *q = p; q + 1 < end; q++)
            if (q[0] == '\n' && q[1] == '\n') {
                stop = q;
                break;
            }
        if (!stop) {
            err = COOP_ERR_PROTOCOL; /* the backends write whole events only */
            break;
        }
        if ((size_t)(stop - p) >= 6 && memcmp(p, "data: ", 6) == 0)
            err = convert_chunk(ms, t, p + 6, (size_t)(stop - p - 6), &out);
        p = stop + 2;
    }
    if (!err) {
        coop_buf_dispose(io);
        *io = out;
    } else {
        coop_buf_dispose(&out);
    }
    return err;
}

/* ---- the handler ------------------------------------------------------------------- */

void router_messages_handler(struct coop_http_request *req, struct coop_http_response *res,
                             void *ctx)
{
    struct coop_router *r = ctx;
    struct json_object *body = NULL, *chat = NULL;
    if (coop_json_parse(req->body, req->body_len, 64, true, &body) ||
        !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        coop_http_error(res, req, 400, "invalid_json",
                        "the body must be a JSON object (duplicate keys are refused)");
        return;
    }
    const char *problem = NULL;
    char model[128];
    if (messages_request(body, &chat, &problem)) {
        json_object_put(body);
        coop_http_error(res, req, 400, "invalid_request", problem);
        return;
    }
    coop_strlcpy(model, coop_json_str(body, "model"), sizeof model);
    json_object_put(body);
    router_chat_as(r, req, res, chat, ROUTER_FORMAT_ANTHROPIC, model);
}

/*
 * Anthropic Messages API: POST {base}/v1/messages with x-api-key and
 * anthropic-version; system text goes to the top-level "system" field,
 * max_tokens is required (4096 when the client gave none), stop becomes
 * stop_sequences. Streaming answers are named SSE events (message_start,
 * content_block_delta, message_delta, message_stop, ping, error) turned
 * into OpenAI chunks one by one. The Messages API rejects unknown fields
 * and its metadata takes only user_id, so the retention annotation is not
 * put in the body (the headers carry it).
 */
#include "../router_int.h"

#include <json-c/json.h>
#include <string.h>

#define ANTHROPIC_VERSION "2023-06-01"
#define DEFAULT_MAX_TOKENS 4096

static bool is_system(const char *role)
{
    return strcmp(role, "system") == 0 || strcmp(role, "developer") == 0;
}

/* System messages join into "system"; user and assistant turns follow in
 * order, consecutive turns of one role merged. */
static coop_err build_messages(const struct coop_provider_input *in, struct json_object *b,
                               struct coop_provider_request *out)
{
    struct coop_buf sys;
    coop_buf_init(&sys, MAX_ANSWER);
    struct json_object *msgs = json_object_new_array();
    const char *last_role = NULL;
    coop_err err = COOP_ERR_OK;
    size_t n = json_object_array_length(in->messages);
    for (size_t i = 0; i < n && !err; i++) {
        struct json_object *m = json_object_array_get_idx(in->messages, i);
        const char *role = coop_json_str(m, "role");
        const char *content = coop_json_str(m, "content");
        if (!content)
            content = "";
        if (is_system(role)) {
            if (sys.len)
                err = coop_buf_puts(&sys, "\n\n");
            if (!err)
                err = coop_buf_puts(&sys, content);
            continue;
        }
        if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0) {
            out->problem = "tool messages are not supported for this provider";
            err = COOP_ERR_INVALID;
            break;
        }
        if (last_role && strcmp(last_role, role) == 0) {
            struct json_object *prev =
                json_object_array_get_idx(msgs, json_object_array_length(msgs) - 1);
            struct coop_buf joined;
            coop_buf_init(&joined, MAX_ANSWER);
            err = coop_buf_puts(&joined, coop_json_str(prev, "content"));
            if (!err)
                err = coop_buf_puts(&joined, "\n\n");
            if (!err)
                err = coop_buf_puts(&joined, content);
            if (!err)
                json_object_object_add(prev, "content",
                                       json_object_new_string_len(joined.data, (int)joined.len));
            coop_buf_dispose(&joined);
            continue;
        }
        struct json_object *am = json_object_new_object();
        json_object_object_add(am, "role", json_object_new_string(role));
        json_object_object_add(am, "content", json_object_new_string(content));
        json_object_array_add(msgs, am);
        last_role = role;
    }
    if (!err && sys.len)
        json_object_object_add(b, "system", json_object_new_string_len(sys.data, (int)sys.len));
    json_object_object_add(b, "messages", msgs);
    coop_buf_dispose(&sys);
    return err;
}

static coop_err build(const struct coop_provider_input *in, struct coop_provider_request *out)
{
    if (json_object_object_get_ex(in->body, "tools", NULL)) {
        if (in->features & COOP_FEATURE_TOOLS) {
            out->problem = "tools are not supported for this provider";
            return COOP_ERR_INVALID;
        }
        out->removed |= COOP_FEATURE_TOOLS;
    }
    struct json_object *b = json_object_new_object();
    json_object_object_add(b, "model", json_object_new_string(in->model));
    int64_t max = DEFAULT_MAX_TOKENS;
    if (!coop_json_int(in->body, "max_tokens", &max))
        coop_json_int(in->body, "max_completion_tokens", &max);
    json_object_object_add(b, "max_tokens", json_object_new_int64(max));
    coop_err err = build_messages(in, b, out);
    copy_member(b, in->body, "temperature");
    copy_member(b, in->body, "top_p");
    struct json_object *stop = NULL;
    if (json_object_object_get_ex(in->body, "stop", &stop) && stop) {
        if (json_object_is_type(stop, json_type_string)) {
            struct json_object *a = json_object_new_array();
            json_object_array_add(a, json_object_get(stop));
            json_object_object_add(b, "stop_sequences", a);
        } else if (json_object_is_type(stop, json_type_array)) {
            json_object_object_add(b, "stop_sequences", json_object_get(stop));
        }
    }
    if (in->stream)
        json_object_object_add(b, "stream", json_object_new_boolean(1));
    if (!err)
        err = coop_buf_printf(&out->url, "%s/v1/messages", in->base_url);
    if (!err)
        err = json_to_buf(b, &out->body);
    json_object_put(b);
    if (!err)
        err = add_secret_header(out, "x-api-key", "", in->api_key ? in->api_key : "");
    if (!err)
        err = coop_provider_add_header(out, "anthropic-version", ANTHROPIC_VERSION);
    if (!err)
        err = coop_provider_add_header(out, "Content-Type", "application/json");
    return err;
}

static const char *finish_reason(const char *stop_reason)
{
    if (!stop_reason)
        return NULL;
    if (strcmp(stop_reason, "max_tokens") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0)
        return "content_filter";
    return "stop";
}

/* Keeps the stop sequence the provider names (for /v1/messages answers). */
static void read_stop_sequence(struct coop_translate *t, struct json_object *obj)
{
    const char *ss = coop_json_str(obj, "stop_sequence");
    if (ss && strlen(ss) < sizeof t->stop_sequence)
        coop_strlcpy(t->stop_sequence, ss, sizeof t->stop_sequence);
}

static void read_usage(struct coop_translate *t, struct json_object *u)
{
    int64_t v;
    if (!u)
        return;
    if (coop_json_int(u, "input_tokens", &v))
        t->input_tokens = v;
    if (coop_json_int(u, "output_tokens", &v))
        t->output_tokens = v;
    t->usage_seen = true;
}

static coop_err translate_response(struct coop_translate *t, const char *body, size_t len,
                                   struct coop_buf *out)
{
    struct json_object *root = NULL;
    if (coop_json_parse(body, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    struct json_object *content = coop_json_arr(root, "content");
    coop_err err = content ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    struct coop_buf text;
    coop_buf_init(&text, MAX_ANSWER);
    for (size_t i = 0; !err && i < json_object_array_length(content); i++) {
        struct json_object *blk = json_object_array_get_idx(content, i);
        const char *type = coop_json_str(blk, "type");
        const char *s = coop_json_str(blk, "text");
        if (type && strcmp(type, "text") == 0 && s)
            err = coop_buf_puts(&text, s);
    }
    const char *id = coop_json_str(root, "id");
    if (id)
        coop_strlcpy(t->id, id, sizeof t->id);
    read_usage(t, coop_json_obj(root, "usage"));
    read_stop_sequence(t, root);
    if (!err)
        err = completion_body(t, out, text.data ? text.data : "", text.len,
                              finish_reason(coop_json_str(root, "stop_reason")));
    coop_buf_dispose(&text);
    json_object_put(root);
    return err;
}

static coop_err translate_event(struct coop_translate *t, const char *event, const char *data,
                                size_t len, struct coop_buf *out)
{
    struct json_object *root = NULL;
    if (coop_json_parse(data, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    const char *type = coop_json_str(root, "type");
    if (!type)
        type = event ? event : "";
    coop_err err = COOP_ERR_OK;
    if (strcmp(type, "message_start") == 0) {
        struct json_object *msg = coop_json_obj(root, "message");
        const char *id = coop_json_str(msg, "id");
        if (id)
            coop_strlcpy(t->id, id, sizeof t->id);
        read_usage(t, coop_json_obj(msg, "usage"));
        err = chunk_delta(t, out, "", 0, NULL);
    } else if (strcmp(type, "content_block_delta") == 0) {
        struct json_object *d = coop_json_obj(root, "delta");
        const char *dt = coop_json_str(d, "type");
        struct json_object *txt = NULL;
        if (dt && strcmp(dt, "text_delta") == 0 && json_object_object_get_ex(d, "text", &txt) &&
            json_object_is_type(txt, json_type_string))
            err = chunk_delta(t, out, json_object_get_string(txt),
                              (size_t)json_object_get_string_len(txt), NULL);
    } else if (strcmp(type, "message_delta") == 0) {
        struct json_object *u = coop_json_obj(root, "usage");
        int64_t v;
        if (u && coop_json_int(u, "output_tokens", &v)) {
            t->output_tokens = v;
            t->usage_seen = true;
        }
        read_stop_sequence(t, coop_json_obj(root, "delta"));
        const char *fr = finish_reason(coop_json_str(coop_json_obj(root, "delta"), "stop_reason"));
        if (fr)
            err = chunk_delta(t, out, NULL, 0, fr);
    } else if (strcmp(type, "message_stop") == 0) {
        err = chunk_done(t, out);
    } else if (strcmp(type, "error") == 0) {
        t->failed = true;
    }
    json_object_put(root);
    return err;
}

const struct coop_provider_ops coop_provider_anthropic = {
    .version = 1,
    .name = "anthropic",
    .key_var = "ANTHROPIC_API_KEY",
    .base_url_var = "COOP_ANTHROPIC_BASE_URL",
    .default_base_url = "https://api.anthropic.com",
    .key_required = true,
    .native_controls = "",
    .build = build,
    .translate_response = translate_response,
    .translate_event = translate_event,
};

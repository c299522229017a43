/*
 * OpenAI chat completions, and the OpenAI-compatible wire format DeepSeek
 * and self-hosted servers share. The request body is rebuilt from the
 * sanitized messages and a fixed list of known parameters, so nothing the
 * client sent that the router does not know travels on. OpenAI gets its
 * native retention control, "store": false. Answers are already in the
 * OpenAI format: they are checked, their usage read, and passed on.
 */
#include "../router_int.h"

#include <json-c/json.h>
#include <string.h>

static const char *const passthrough[] = {
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
    "n",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    NULL,
};

static const char *const tool_params[] = {"tools", "tool_choice", "parallel_tool_calls", NULL};

coop_err json_to_buf(struct json_object *obj, struct coop_buf *buf)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    return s ? coop_buf_append(buf, s, len) : COOP_ERR_NOMEM;
}

struct json_object *retention_annotation(void)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "store_conversation", json_object_new_boolean(0));
    json_object_object_add(a, "use_for_training", json_object_new_boolean(0));
    json_object_object_add(a, "use_for_fine_tuning", json_object_new_boolean(0));
    json_object_object_add(a, "allow_logging", json_object_new_boolean(0));
    return a;
}

coop_err openai_compat_build(const struct coop_provider_input *in,
                             struct coop_provider_request *out, bool store_false)
{
    struct json_object *b = json_object_new_object();
    if (!b)
        return COOP_ERR_NOMEM;
    json_object_object_add(b, "model", json_object_new_string(in->model));
    json_object_object_add(b, "messages", json_object_get(in->messages));
    for (size_t i = 0; passthrough[i]; i++)
        copy_member(b, in->body, passthrough[i]);
    if (in->features & COOP_FEATURE_TOOLS) {
        for (size_t i = 0; tool_params[i]; i++)
            copy_member(b, in->body, tool_params[i]);
    } else if (json_object_object_get_ex(in->body, "tools", NULL)) {
        out->removed |= COOP_FEATURE_TOOLS;
    }
    if (in->stream) {
        json_object_object_add(b, "stream", json_object_new_boolean(1));
        struct json_object *so = json_object_new_object();
        json_object_object_add(so, "include_usage", json_object_new_boolean(1));
        json_object_object_add(b, "stream_options", so);
    }
    if (store_false)
        json_object_object_add(b, "store", json_object_new_boolean(0));
    if (in->body_annotation) {
        json_object_object_add(b, "retention_policy", retention_annotation());
        out->annotated = true;
    }
    coop_err err = coop_buf_printf(&out->url, "%s/chat/completions", in->base_url);
    if (!err)
        err = json_to_buf(b, &out->body);
    json_object_put(b);
    if (!err && in->api_key) {
        err = add_secret_header(out, "Authorization", "Bearer ", in->api_key);
    }
    if (!err)
        err = coop_provider_add_header(out, "Content-Type", "application/json");
    return err;
}

static void read_usage(struct coop_translate *t, struct json_object *root)
{
    struct json_object *u = coop_json_obj(root, "usage");
    int64_t v;
    if (!u)
        return;
    if (coop_json_int(u, "prompt_tokens", &v))
        t->input_tokens = v;
    if (coop_json_int(u, "completion_tokens", &v))
        t->output_tokens = v;
    t->usage_seen = true;
}

coop_err openai_compat_response(struct coop_translate *t, const char *body, size_t len,
                                struct coop_buf *out)
{
    struct json_object *root = NULL;
    coop_err err = coop_json_parse(body, len, 64, false, &root);
    if (err)
        return COOP_ERR_PROTOCOL;
    if (!coop_json_arr(root, "choices")) {
        json_object_put(root);
        return COOP_ERR_PROTOCOL;
    }
    read_usage(t, root);
    json_object_put(root);
    return coop_buf_append(out, body, len);
}

coop_err openai_compat_event(struct coop_translate *t, const char *event, const char *data,
                             size_t len, struct coop_buf *out)
{
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        t->done = true;
        return coop_buf_puts(out, "data: [DONE]\n\n");
    }
    struct json_object *root = NULL;
    if (coop_json_parse(data, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    coop_err err = COOP_ERR_OK;
    struct json_object *choices = coop_json_arr(root, "choices");
    if (coop_json_obj(root, "error")) {
        t->failed = true;
    } else if (!choices) {
        err = COOP_ERR_PROTOCOL;
        goto out;
    }
    if (coop_json_obj(root, "usage"))
        read_usage(t, root);
    if (choices && json_object_array_length(choices) == 0 && !t->include_usage)
        goto out; /* the usage chunk the client did not ask for */
    for (size_t i = 0; choices && i < json_object_array_length(choices); i++) {
        const char *fr = coop_json_str(json_object_array_get_idx(choices, i), "finish_reason");
        if (fr) {
            t->finished = true;
            coop_strlcpy(t->finish_reason, fr, sizeof t->finish_reason);
        }
    }
    err = coop_buf_puts(out, "data: ");
    if (!err)
        err = coop_buf_append(out, data, len);
    if (!err)
        err = coop_buf_puts(out, "\n\n");
out:
    json_object_put(root);
    (void)event;
    return err;
}

static coop_err build(const struct coop_provider_input *in, struct coop_provider_request *out)
{
    return openai_compat_build(in, out, true);
}

const struct coop_provider_ops coop_provider_openai = {
    .version = 1,
    .name = "openai",
    .key_var = "OPENAI_API_KEY",
    .base_url_var = "COOP_OPENAI_BASE_URL",
    .default_base_url = "https://api.openai.com/v1",
    .key_required = true,
    .native_controls = "store_false",
    .build = build,
    .translate_response = openai_compat_response,
    .translate_event = openai_compat_event,
};

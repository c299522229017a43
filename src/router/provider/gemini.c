/*
 * Google Gemini API: POST {base}/v1beta/models/{model}:generateContent, or
 * :streamGenerateContent?alt=sse when streaming, with the key in the
 * x-goog-api-key header (never in the URL). System text becomes
 * systemInstruction, turns become contents with roles user and model,
 * sampling parameters go to generationConfig.
 *
 * Grounding (google_search tools) and context caching (cachedContent)
 * keep data at Google beyond the request: the policy disables both by
 * default, and then they are removed from the request here, never
 * forwarded. The API rejects unknown fields and has no place for the
 * retention annotation, so the headers carry it.
 */
#include "../router_int.h"

#include <json-c/json.h>
#include <string.h>

static coop_err build_contents(const struct coop_provider_input *in, struct json_object *b,
                               struct coop_provider_request *out)
{
    struct coop_buf sys;
    coop_buf_init(&sys, MAX_ANSWER);
    struct json_object *contents = json_object_new_array();
    coop_err err = COOP_ERR_OK;
    size_t n = json_object_array_length(in->messages);
    for (size_t i = 0; i < n && !err; i++) {
        struct json_object *m = json_object_array_get_idx(in->messages, i);
        const char *role = coop_json_str(m, "role");
        const char *content = coop_json_str(m, "content");
        if (!content)
            content = "";
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
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
        struct json_object *c = json_object_new_object();
        json_object_object_add(
            c, "role", json_object_new_string(strcmp(role, "user") == 0 ? "user" : "model"));
        struct json_object *parts = json_object_new_array();
        struct json_object *part = json_object_new_object();
        json_object_object_add(part, "text", json_object_new_string(content));
        json_object_array_add(parts, part);
        json_object_object_add(c, "parts", parts);
        json_object_array_add(contents, c);
    }
    json_object_object_add(b, "contents", contents);
    if (!err && sys.len) {
        struct json_object *si = json_object_new_object();
        struct json_object *parts = json_object_new_array();
        struct json_object *part = json_object_new_object();
        json_object_object_add(part, "text", json_object_new_string_len(sys.data, (int)sys.len));
        json_object_array_add(parts, part);
        json_object_object_add(si, "parts", parts);
        json_object_object_add(b, "systemInstruction", si);
    }
    coop_buf_dispose(&sys);
    return err;
}

static bool is_grounding_tool(struct json_object *tool)
{
    const char *type = coop_json_str(tool, "type");
    if (type &&
        (strcmp(type, "google_search") == 0 || strcmp(type, "google_search_retrieval") == 0))
        return true;
    return json_object_object_get_ex(tool, "googleSearch", NULL) ||
           json_object_object_get_ex(tool, "google_search", NULL) ||
           json_object_object_get_ex(tool, "googleSearchRetrieval", NULL);
}

/* Grounding tools and cachedContent: forwarded only when the policy
 * enables them; other tools are not translated. */
static coop_err features(const struct coop_provider_input *in, struct json_object *b,
                         struct coop_provider_request *out)
{
    struct json_object *tools = coop_json_arr(in->body, "tools");
    for (size_t i = 0; tools && i < json_object_array_length(tools); i++) {
        struct json_object *tool = json_object_array_get_idx(tools, i);
        if (!is_grounding_tool(tool)) {
            if (!(in->features & COOP_FEATURE_TOOLS)) {
                out->removed |= COOP_FEATURE_TOOLS;
                continue;
            }
            out->problem = "function tools are not supported for this provider";
            return COOP_ERR_INVALID;
        }
        if (!(in->features & COOP_FEATURE_GROUNDING)) {
            out->removed |= COOP_FEATURE_GROUNDING;
            continue;
        }
        struct json_object *gt = json_object_new_array();
        struct json_object *g = json_object_new_object();
        json_object_object_add(g, "googleSearch", json_object_new_object());
        json_object_array_add(gt, g);
        json_object_object_add(b, "tools", gt);
    }
    const char *cached = coop_json_str(in->body, "cached_content");
    if (!cached)
        cached = coop_json_str(in->body, "cachedContent");
    if (cached) {
        if (in->features & COOP_FEATURE_CACHED_CONTENT)
            json_object_object_add(b, "cachedContent", json_object_new_string(cached));
        else
            out->removed |= COOP_FEATURE_CACHED_CONTENT;
    }
    return COOP_ERR_OK;
}

static void generation_config(const struct coop_provider_input *in, struct json_object *b)
{
    struct json_object *gc = json_object_new_object();
    struct json_object *v = NULL;
    if (json_object_object_get_ex(in->body, "temperature", &v) && v)
        json_object_object_add(gc, "temperature", json_object_get(v));
    if (json_object_object_get_ex(in->body, "top_p", &v) && v)
        json_object_object_add(gc, "topP", json_object_get(v));
    if ((json_object_object_get_ex(in->body, "max_tokens", &v) && v) ||
        (json_object_object_get_ex(in->body, "max_completion_tokens", &v) && v))
        json_object_object_add(gc, "maxOutputTokens", json_object_get(v));
    if (json_object_object_get_ex(in->body, "stop", &v) && v) {
        if (json_object_is_type(v, json_type_string)) {
            struct json_object *a = json_object_new_array();
            json_object_array_add(a, json_object_get(v));
            json_object_object_add(gc, "stopSequences", a);
        } else {
            json_object_object_add(gc, "stopSequences", json_object_get(v));
        }
    }
    if (json_object_object_length(gc) > 0)
        json_object_object_add(b, "generationConfig", gc);
    else
        json_object_put(gc);
}

static coop_err build(const struct coop_provider_input *in, struct coop_provider_request *out)
{
    if (!model_name_ok(in->model)) {
        out->problem = "the model name is not valid for this provider";
        return COOP_ERR_INVALID;
    }
    struct json_object *b = json_object_new_object();
    coop_err err = build_contents(in, b, out);
    if (!err)
        err = features(in, b, out);
    if (!err)
        generation_config(in, b);
    if (!err)
        err = coop_buf_printf(&out->url, "%s/v1beta/models/%s:%s", in->base_url, in->model,
                              in->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    if (!err)
        err = json_to_buf(b, &out->body);
    json_object_put(b);
    if (!err)
        err = add_secret_header(out, "x-goog-api-key", "", in->api_key ? in->api_key : "");
    if (!err)
        err = coop_provider_add_header(out, "Content-Type", "application/json");
    return err;
}

static const char *finish_reason(const char *r)
{
    if (!r || strcmp(r, "FINISH_REASON_UNSPECIFIED") == 0)
        return NULL;
    if (strcmp(r, "STOP") == 0)
        return "stop";
    if (strcmp(r, "MAX_TOKENS") == 0)
        return "length";
    return "content_filter"; /* SAFETY, RECITATION, BLOCKLIST, ... */
}

/* The text of the first candidate, its finish reason, and usage. */
static coop_err read_chunk(struct coop_translate *t, struct json_object *root,
                           struct coop_buf *text, const char **fr)
{
    struct json_object *cands = coop_json_arr(root, "candidates");
    struct json_object *u = coop_json_obj(root, "usageMetadata");
    int64_t v;
    if (u && coop_json_int(u, "promptTokenCount", &v)) {
        t->input_tokens = v;
        t->usage_seen = true;
    }
    if (u && coop_json_int(u, "candidatesTokenCount", &v))
        t->output_tokens = v;
    const char *rid = coop_json_str(root, "responseId");
    if (rid && !t->id[0])
        coop_strlcpy(t->id, rid, sizeof t->id);
    *fr = NULL;
    if (!cands || json_object_array_length(cands) == 0)
        return coop_json_obj(root, "promptFeedback") || u ? COOP_ERR_OK : COOP_ERR_PROTOCOL;
    struct json_object *c = json_object_array_get_idx(cands, 0);
    struct json_object *parts = coop_json_arr(coop_json_obj(c, "content"), "parts");
    for (size_t i = 0; parts && i < json_object_array_length(parts); i++) {
        const char *s = coop_json_str(json_object_array_get_idx(parts, i), "text");
        if (s) {
            coop_err err = coop_buf_puts(text, s);
            if (err)
                return err;
        }
    }
    *fr = finish_reason(coop_json_str(c, "finishReason"));
    return COOP_ERR_OK;
}

static coop_err translate_response(struct coop_translate *t, const char *body, size_t len,
                                   struct coop_buf *out)
{
    struct json_object *root = NULL;
    if (coop_json_parse(body, len, 64, false, &root))
        return COOP_ERR_PROTOCOL;
    struct coop_buf text;
    coop_buf_init(&text, MAX_ANSWER);
    const char *fr = NULL;
    coop_err err = read_chunk(t, root, &text, &fr);
    if (!err)
        err = completion_body(t, out, text.data ? text.data : "", text.len, fr ? fr : "stop");
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
    coop_err err = COOP_ERR_OK;
    if (coop_json_obj(root, "error")) {
        t->failed = true;
    } else {
        struct coop_buf text;
        coop_buf_init(&text, MAX_ANSWER);
        const char *fr = NULL;
        err = read_chunk(t, root, &text, &fr);
        if (!err && text.len)
            err = chunk_delta(t, out, text.data, text.len, NULL);
        if (!err && fr)
            err = chunk_delta(t, out, NULL, 0, fr);
        coop_buf_dispose(&text);
    }
    json_object_put(root);
    (void)event;
    return err;
}

const struct coop_provider_ops coop_provider_gemini = {
    .version = 1,
    .name = "gemini",
    .key_var = "GEMINI_API_KEY",
    .base_url_var = "COOP_GEMINI_BASE_URL",
    .default_base_url = "https://generativelanguage.googleapis.com",
    .key_required = true,
    .native_controls = "",
    .build = build,
    .translate_response = translate_response,
    .translate_event = translate_event,
};

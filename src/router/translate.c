/*
 * The OpenAI side of every translation: chat.completion bodies and
 * chat.completion.chunk events built from what a backend extracted, plus
 * small helpers the backends share. Backends never format OpenAI JSON
 * themselves, so every provider answers in exactly the same shape.
 */
#include "router_int.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static coop_err chunk_head(struct coop_translate *t, struct coop_buf *out)
{
    coop_err err = coop_buf_puts(out, "data: {\"id\":");
    if (!err)
        err = coop_buf_json_str(out, t->id, strlen(t->id));
    if (!err)
        err = coop_buf_printf(out,
                              ",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":",
                              (long long)t->created);
    if (!err)
        err = coop_buf_json_str(out, t->model, strlen(t->model));
    return err;
}

coop_err chunk_delta(struct coop_translate *t, struct coop_buf *out, const char *text, size_t len,
                     const char *finish_reason)
{
    if (t->finished && !finish_reason && !text)
        return COOP_ERR_OK;
    coop_err err = chunk_head(t, out);
    if (!err)
        err = coop_buf_puts(out, ",\"choices\":[{\"index\":0,\"delta\":{");
    if (!err && !t->role_sent) {
        err = coop_buf_puts(out, "\"role\":\"assistant\"");
        if (!err && text)
            err = coop_buf_puts(out, ",");
        t->role_sent = true;
    }
    if (!err && text) {
        err = coop_buf_puts(out, "\"content\":");
        if (!err)
            err = coop_buf_json_str(out, text, len);
    }
    if (!err)
        err = coop_buf_puts(out, "},\"finish_reason\":");
    if (!err && finish_reason) {
        err = coop_buf_json_str(out, finish_reason, strlen(finish_reason));
        t->finished = true;
        coop_strlcpy(t->finish_reason, finish_reason, sizeof t->finish_reason);
    } else if (!err) {
        err = coop_buf_puts(out, "null");
    }
    if (!err)
        err = coop_buf_puts(out, "}]}\n\n");
    return err;
}

static coop_err usage_json(struct coop_translate *t, struct coop_buf *out)
{
    return coop_buf_printf(out,
                           "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                           "\"total_tokens\":%lld}",
                           (long long)t->input_tokens, (long long)t->output_tokens,
                           (long long)(t->input_tokens + t->output_tokens));
}

coop_err chunk_done(struct coop_translate *t, struct coop_buf *out)
{
    coop_err err = COOP_ERR_OK;
    if (!t->finished)
        err = chunk_delta(t, out, NULL, 0, "stop");
    if (!err && t->include_usage) {
        err = chunk_head(t, out);
        if (!err)
            err = coop_buf_puts(out, ",\"choices\":[],");
        if (!err)
            err = usage_json(t, out);
        if (!err)
            err = coop_buf_puts(out, "}\n\n");
    }
    if (!err)
        err = coop_buf_puts(out, "data: [DONE]\n\n");
    t->done = true;
    return err;
}

coop_err completion_body(struct coop_translate *t, struct coop_buf *out, const char *text,
                         size_t len, const char *finish_reason)
{
    coop_err err = coop_buf_puts(out, "{\"id\":");
    if (!err)
        err = coop_buf_json_str(out, t->id, strlen(t->id));
    if (!err)
        err = coop_buf_printf(out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":",
                              (long long)t->created);
    if (!err)
        err = coop_buf_json_str(out, t->model, strlen(t->model));
    if (!err)
        err = coop_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                 "\"content\":");
    if (!err)
        err = coop_buf_json_str(out, text ? text : "", text ? len : 0);
    if (!err)
        err = coop_buf_puts(out, "},\"finish_reason\":");
    if (!err)
        err = coop_buf_json_str(out, finish_reason ? finish_reason : "stop",
                                strlen(finish_reason ? finish_reason : "stop"));
    if (!err)
        err = coop_buf_puts(out, "}],");
    if (!err)
        err = usage_json(t, out);
    if (!err)
        err = coop_buf_puts(out, "}");
    return err;
}

coop_err message_text(struct json_object *msg, struct coop_buf *out)
{
    struct json_object *content = NULL;
    if (!json_object_object_get_ex(msg, "content", &content) || !content)
        return COOP_ERR_OK;
    if (json_object_is_type(content, json_type_string))
        return coop_buf_append(out, json_object_get_string(content),
                               (size_t)json_object_get_string_len(content));
    if (!json_object_is_type(content, json_type_array))
        return COOP_ERR_INVALID;
    size_t n = json_object_array_length(content);
    for (size_t i = 0; i < n; i++) {
        struct json_object *part = json_object_array_get_idx(content, i);
        const char *type = coop_json_str(part, "type");
        struct json_object *text = NULL;
        if (!type || strcmp(type, "text") != 0 || !json_object_object_get_ex(part, "text", &text) ||
            !json_object_is_type(text, json_type_string))
            return COOP_ERR_INVALID;
        coop_err err = coop_buf_append(out, json_object_get_string(text),
                                       (size_t)json_object_get_string_len(text));
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

void copy_member(struct json_object *to, struct json_object *from, const char *key)
{
    struct json_object *v = NULL;
    if (json_object_object_get_ex(from, key, &v) && v)
        json_object_object_add(to, key, json_object_get(v));
}

bool model_name_ok(const char *model)
{
    size_t n = strlen(model);
    if (n == 0 || n > 100 || strstr(model, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = model[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '@'))
            return false;
    }
    return true;
}

void coop_provider_request_dispose(struct coop_provider_request *req)
{
    coop_buf_dispose(&req->url);
    coop_buf_dispose(&req->body);
    for (size_t i = 0; i < req->nheaders; i++) {
        sodium_memzero(req->headers[i], strlen(req->headers[i]));
        free(req->headers[i]);
    }
    req->nheaders = 0;
}

coop_err coop_provider_add_header(struct coop_provider_request *req, const char *name,
                                  const char *value)
{
    if (req->nheaders >= COOP_PROVIDER_MAX_HEADERS)
        return COOP_ERR_TOO_LARGE;
    struct coop_buf b;
    coop_buf_init(&b, 16384);
    coop_err err = coop_buf_printf(&b, "%s: %s", name, value);
    if (err) {
        coop_buf_dispose(&b);
        return err;
    }
    req->headers[req->nheaders++] = coop_buf_steal(&b, NULL);
    return COOP_ERR_OK;
}

const struct coop_provider_ops *const coop_providers[] = {
    &coop_provider_openai,   &coop_provider_anthropic,  &coop_provider_gemini,
    &coop_provider_deepseek, &coop_provider_selfhosted, NULL,
};

const struct coop_provider_ops *coop_provider_find(const char *name, size_t len)
{
    for (size_t i = 0; coop_providers[i]; i++)
        if (strlen(coop_providers[i]->name) == len &&
            memcmp(coop_providers[i]->name, name, len) == 0)
            return coop_providers[i];
    return NULL;
}

void buf_wipe(struct coop_buf *b)
{
    if (b->data)
        sodium_memzero(b->data, b->cap);
    coop_buf_dispose(b);
}

coop_err add_secret_header(struct coop_provider_request *req, const char *name, const char *prefix,
                           const char *secret)
{
    if (req->nheaders >= COOP_PROVIDER_MAX_HEADERS)
        return COOP_ERR_TOO_LARGE;
    struct coop_buf b;
    coop_buf_init(&b, 16384);
    coop_err err = coop_buf_printf(&b, "%s: %s%s", name, prefix, secret);
    if (err) {
        buf_wipe(&b);
        return err;
    }
    /* Stolen, not copied: the only copy is wiped on dispose. */
    req->headers[req->nheaders++] = coop_buf_steal(&b, NULL);
    return COOP_ERR_OK;
}

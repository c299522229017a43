/*
 * Fuzz target: the Anthropic Messages side of the router (POST
 * /v1/messages). The input is tried as a client's request (translated to
 * the router's own, or refused), as provider stream bytes going through
 * every backend and then into Messages events, and as a provider's whole
 * answer going into a Message. Nothing may crash, and what is written for
 * the client must stay named SSE events or JSON.
 */
#include "router/router_int.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const struct coop_provider_ops *ops;
    struct coop_translate t;
    struct messages_state ms;
    struct coop_buf out;
};

static coop_err on_event(void *arg, const char *event, const char *d, size_t len)
{
    struct ctx *c = arg;
    coop_buf_reset(&c->out);
    if (c->ops->translate_event(&c->t, event, d, len, &c->out) || c->out.len == 0)
        return COOP_ERR_OK;
    if (messages_stream(&c->ms, &c->t, &c->out) == COOP_ERR_OK && c->out.len &&
        strncmp(c->out.data, "event: ", 7) != 0)
        abort();
    return COOP_ERR_OK;
}

static void request(const uint8_t *data, size_t size)
{
    struct json_object *in = NULL, *out = NULL;
    const char *problem = NULL;
    if (coop_json_parse((const char *)data, size, 64, true, &in))
        return;
    if (messages_request(in, &out, &problem) == COOP_ERR_OK) {
        /* What goes on is always a provider/model and at least one message. */
        const char *model = coop_json_str(out, "model");
        if (!model || !strchr(model, '/') ||
            json_object_array_length(coop_json_arr(out, "messages")) == 0)
            abort();
    } else if (!problem) {
        abort();
    }
    json_object_put(out);
    json_object_put(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request(data, size);
    for (size_t i = 0; coop_providers[i]; i++) {
        struct ctx c = {.ops = coop_providers[i]};
        coop_strlcpy(c.t.model, "p/m", sizeof c.t.model);
        coop_strlcpy(c.t.id, "chatcmpl-fuzz", sizeof c.t.id);
        coop_strlcpy(c.ms.model, "claude-x", sizeof c.ms.model);
        coop_buf_init(&c.out, 1 << 20);
        struct sse_parser p;
        sse_init(&p, 1 << 16);
        size_t cut = size ? data[0] % (size + 1) : 0;
        sse_feed(&p, (const char *)data, cut, on_event, &c);
        sse_feed(&p, (const char *)data + cut, size - cut, on_event, &c);
        sse_dispose(&p);
        coop_buf_reset(&c.out);
        struct coop_translate t = {0};
        struct coop_buf msg;
        coop_buf_init(&msg, 1 << 20);
        if (coop_providers[i]->translate_response(&t, (const char *)data, size, &c.out) ==
                COOP_ERR_OK &&
            messages_response(&c.ms, &t, c.out.data ? c.out.data : "", c.out.len, &msg) ==
                COOP_ERR_OK) {
            struct json_object *o = NULL;
            if (coop_json_parse(msg.data, msg.len, 64, true, &o))
                abort();
            json_object_put(o);
        }
        coop_buf_dispose(&msg);
        coop_buf_dispose(&c.out);
    }
    return 0;
}

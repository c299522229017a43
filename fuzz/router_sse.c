/*
 * Fuzz target: provider stream bytes through the SSE parser and every
 * backend's event translation, and whole bodies through every backend's
 * response translation. Whatever a provider sends, the router must not
 * crash, and what it writes to the client must stay well-formed SSE.
 */
#include "router/router_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const struct coop_provider_ops *ops;
    struct coop_translate t;
    struct coop_buf out;
};

static coop_err on_event(void *arg, const char *event, const char *d, size_t len)
{
    struct ctx *c = arg;
    coop_buf_reset(&c->out);
    c->ops->translate_event(&c->t, event, d, len, &c->out);
    if (c->out.len && strncmp(c->out.data, "data: ", 6) != 0)
        abort();
    return COOP_ERR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; coop_providers[i]; i++) {
        struct ctx c = {.ops = coop_providers[i]};
        coop_strlcpy(c.t.model, "p/m", sizeof c.t.model);
        c.t.include_usage = true;
        coop_buf_init(&c.out, 1 << 20);
        struct sse_parser p;
        sse_init(&p, 1 << 16);
        /* Split in two at a data-chosen point. */
        size_t cut = size ? data[0] % (size + 1) : 0;
        sse_feed(&p, (const char *)data, cut, on_event, &c);
        sse_feed(&p, (const char *)data + cut, size - cut, on_event, &c);
        sse_dispose(&p);
        coop_buf_reset(&c.out);
        struct coop_translate t = {0};
        coop_providers[i]->translate_response(&t, (const char *)data, size, &c.out);
        coop_buf_dispose(&c.out);
    }
    return 0;
}

/*
 * An incremental parser of text/event-stream (the WHATWG rules providers
 * follow): lines end with LF, CR or CRLF, split anywhere across reads; a
 * blank line dispatches the event; "data:" lines join with LF; lines
 * starting with ':' are comments. Memory is bounded by max_event.
 */
#include "router_int.h"

#include <string.h>

void sse_init(struct sse_parser *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    coop_buf_init(&p->line, max_event);
    coop_buf_init(&p->data, max_event);
}

void sse_dispose(struct sse_parser *p)
{
    coop_buf_dispose(&p->line);
    coop_buf_dispose(&p->data);
}

static coop_err dispatch(struct sse_parser *p, sse_event_fn fn, void *ctx)
{
    coop_err err = COOP_ERR_OK;
    if (p->has_data)
        err = fn(ctx, p->event[0] ? p->event : NULL, p->data.data ? p->data.data : "", p->data.len);
    coop_buf_reset(&p->data);
    p->event[0] = '\0';
    p->has_data = false;
    return err;
}

static coop_err field(struct sse_parser *p, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = len - (size_t)(val - line);
    if (vlen > 0 && val[0] == ' ') {
        val++;
        vlen--;
    }
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        coop_err err = COOP_ERR_OK;
        if (p->has_data)
            err = coop_buf_append(&p->data, "\n", 1);
        if (!err)
            err = coop_buf_append(&p->data, val, vlen);
        p->has_data = true;
        return err;
    }
    if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen >= sizeof p->event)
            return COOP_ERR_TOO_LARGE;
        memcpy(p->event, val, vlen);
        p->event[vlen] = '\0';
    }
    return COOP_ERR_OK; /* id, retry and unknown fields are ignored */
}

static coop_err line_done(struct sse_parser *p, sse_event_fn fn, void *ctx)
{
    const char *l = p->line.data ? p->line.data : "";
    size_t n = p->line.len;
    coop_err err;
    if (n == 0)
        err = dispatch(p, fn, ctx);
    else if (l[0] == ':')
        err = COOP_ERR_OK;
    else
        err = field(p, l, n);
    coop_buf_reset(&p->line);
    return err;
}

coop_err sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < len) {
        if (p->skip_lf) {
            p->skip_lf = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j > i) {
            coop_err err = coop_buf_append(&p->line, buf + i, j - i);
            if (err)
                return err;
        }
        if (j == len)
            break;
        p->skip_lf = buf[j] == '\r';
        coop_err err = line_done(p, fn, ctx);
        if (err)
            return err;
        i = j + 1;
    }
    return COOP_ERR_OK;
}

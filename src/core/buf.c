/*
 * Bounded dynamic buffer, after curl's dynbuf: every buffer has a maximum
 * size, so input from the network can never make one grow without limit.
 */
#include "coop/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coop_buf_init(struct coop_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void coop_buf_dispose(struct coop_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void coop_buf_reset(struct coop_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static coop_err reserve(struct coop_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return COOP_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return COOP_ERR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return COOP_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return COOP_ERR_OK;
}

coop_err coop_buf_reserve(struct coop_buf *b, size_t extra)
{
    return reserve(b, extra);
}

coop_err coop_buf_append(struct coop_buf *b, const void *data, size_t len)
{
    coop_err err = reserve(b, len);
    if (err)
        return err;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return COOP_ERR_OK;
}

coop_err coop_buf_puts(struct coop_buf *b, const char *s)
{
    return coop_buf_append(b, s, strlen(s));
}

coop_err coop_buf_vprintf(struct coop_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return COOP_ERR_INVALID;
    coop_err err = reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return COOP_ERR_OK;
}

coop_err coop_buf_printf(struct coop_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    coop_err err = coop_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
        c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
        c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return len;
}

coop_err coop_buf_json_str(struct coop_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    coop_err err = coop_buf_append(b, "\"", 1);
    size_t i = 0;
    while (!err && i < len) {
        size_t run = i;
        /* Copy runs of plain bytes at once. */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            err = coop_buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            err = coop_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '\n')
                err = coop_buf_append(b, "\\n", 2);
            else if (c == '\t')
                err = coop_buf_append(b, "\\t", 2);
            else if (c == '\r')
                err = coop_buf_append(b, "\\r", 2);
            else
                err = coop_buf_append(b, esc, 6);
            i++;
        } else {
            size_t n = utf8_seq(p + i, len - i);
            if (n == 0) {
                err = coop_buf_append(b, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                err = coop_buf_append(b, p + i, n);
                i += n;
            }
        }
    }
    if (!err)
        err = coop_buf_append(b, "\"", 1);
    return err;
}

char *coop_buf_steal(struct coop_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p) {
        p = calloc(1, 1);
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

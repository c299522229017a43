/*
 * Strict JSON for input from outside. json-c parses; a second pass over the
 * same bytes refuses what json-c would accept silently: duplicate keys
 * (json-c keeps the last, so {"model":"a","model":"b"} could mean one thing
 * to a check and another to a forwarder) and integers beyond 64 bits (json-c
 * saturates them).
 */
#include "coop/core.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_MAX_DEPTH 256

struct key_span {
    const char *p;
    size_t n;
    char *decoded; /* set when the raw key holds escapes */
};

static int key_cmp(const void *a, const void *b)
{
    const struct key_span *x = a, *y = b;
    const char *xp = x->decoded ? x->decoded : x->p;
    const char *yp = y->decoded ? y->decoded : y->p;
    size_t xn = x->decoded ? strlen(x->decoded) : x->n;
    size_t yn = y->decoded ? strlen(y->decoded) : y->n;
    if (xn != yn)
        return xn < yn ? -1 : 1;
    return memcmp(xp, yp, xn);
}

struct scan {
    struct key_span *keys;
    size_t nkeys, cap;
    size_t starts[SCAN_MAX_DEPTH]; /* first key index of each open object */
    char kinds[SCAN_MAX_DEPTH];    /* '{' or '[' */
    int depth;
};

static coop_err push_key(struct scan *s, const char *p, size_t n)
{
    if (s->nkeys == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        struct key_span *k = realloc(s->keys, cap * sizeof *k);
        if (!k)
            return COOP_ERR_NOMEM;
        s->keys = k;
        s->cap = cap;
    }
    struct key_span *k = &s->keys[s->nkeys++];
    k->p = p;
    k->n = n;
    k->decoded = NULL;
    if (memchr(p, '\\', n)) {
        /* p points inside the quotes: decode the literal with json-c. */
        json_tokener *tok = json_tokener_new();
        json_object *str = tok ? json_tokener_parse_ex(tok, p - 1, (int)(n + 2)) : NULL;
        json_tokener_free(tok);
        if (str && json_object_is_type(str, json_type_string))
            k->decoded = strdup(json_object_get_string(str));
        json_object_put(str);
        if (!k->decoded)
            return COOP_ERR_NOMEM;
    }
    return COOP_ERR_OK;
}

static coop_err close_object(struct scan *s)
{
    size_t start = s->starts[s->depth];
    size_t n = s->nkeys - start;
    coop_err err = COOP_ERR_OK;
    if (n > 1) {
        qsort(s->keys + start, n, sizeof *s->keys, key_cmp);
        for (size_t i = start + 1; i < s->nkeys; i++)
            if (key_cmp(&s->keys[i - 1], &s->keys[i]) == 0)
                err = COOP_ERR_DUPLICATE;
    }
    for (size_t i = start; i < s->nkeys; i++)
        free(s->keys[i].decoded);
    s->nkeys = start;
    return err;
}

static coop_err check_number(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '.' || p[i] == 'e' || p[i] == 'E')
            return COOP_ERR_OK;
    if (n < 19)
        return COOP_ERR_OK;
    char tmp[64];
    if (n >= sizeof tmp)
        return COOP_ERR_INVALID;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    if (tmp[0] == '-')
        (void)strtoll(tmp, NULL, 10);
    else
        (void)strtoull(tmp, NULL, 10);
    return errno == ERANGE ? COOP_ERR_INVALID : COOP_ERR_OK;
}

/* The text is already known to be valid JSON. */
static coop_err scan_text(const char *text, size_t len, bool refuse_duplicates)
{
    struct scan s = {.depth = -1};
    coop_err err = COOP_ERR_OK;
    bool expect_key = false;
    for (size_t i = 0; i < len && !err; i++) {
        char c = text[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && text[j] != '"')
                j += text[j] == '\\' ? 2 : 1;
            if (expect_key && refuse_duplicates)
                err = push_key(&s, text + i + 1, j - i - 1);
            expect_key = false;
            i = j;
        } else if (c == '\'') {
            /* json-c accepts single-quoted strings even in strict mode. */
            err = COOP_ERR_INVALID;
        } else if (c == '{' || c == '[') {
            if (++s.depth >= SCAN_MAX_DEPTH) {
                err = COOP_ERR_TOO_LARGE;
                break;
            }
            s.kinds[s.depth] = c;
            s.starts[s.depth] = s.nkeys;
            expect_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (c == '}' && refuse_duplicates)
                err = close_object(&s);
            s.depth--;
        } else if (c == ',') {
            expect_key = s.depth >= 0 && s.kinds[s.depth] == '{';
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < len && strchr("0123456789+-.eE", text[j]) && text[j])
                j++;
            err = check_number(text + i, j - i);
            i = j - 1;
        }
    }
    for (size_t i = 0; i < s.nkeys; i++)
        free(s.keys[i].decoded);
    free(s.keys);
    return err;
}

coop_err coop_json_parse(const char *text, size_t len, int max_depth, bool refuse_duplicates,
                         struct json_object **out)
{
    *out = NULL;
    if (len > INT32_MAX)
        return COOP_ERR_TOO_LARGE;
    if (max_depth < 1 || max_depth > SCAN_MAX_DEPTH)
        max_depth = SCAN_MAX_DEPTH;
    json_tokener *tok = json_tokener_new_ex(max_depth);
    if (!tok)
        return COOP_ERR_NOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    /* A top-level number ending the input ("1") is incomplete to the
     * tokener until it sees the end: the NUL it is then given says so. */
    if (jerr == json_tokener_continue && !obj && used == len) {
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    if (jerr != json_tokener_success || !obj) {
        json_object_put(obj);
        return jerr == json_tokener_error_depth ? COOP_ERR_TOO_LARGE : COOP_ERR_INVALID;
    }
    /* Only whitespace may follow the value. */
    for (size_t i = used; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            json_object_put(obj);
            return COOP_ERR_INVALID;
        }
    }
    coop_err err = scan_text(text, used, refuse_duplicates);
    if (err) {
        json_object_put(obj);
        return err;
    }
    *out = obj;
    return COOP_ERR_OK;
}

const char *coop_json_str(struct json_object *obj, const char *key)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

struct json_object *coop_json_obj(struct json_object *obj, const char *key)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

struct json_object *coop_json_arr(struct json_object *obj, const char *key)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}

bool coop_json_int(struct json_object *obj, const char *key, int64_t *out)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

bool coop_json_bool(struct json_object *obj, const char *key, bool *out)
{
    json_object *v;
    if (!obj || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_boolean))
        return false;
    *out = json_object_get_boolean(v);
    return true;
}

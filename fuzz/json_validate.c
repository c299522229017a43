/*
 * Fuzz target: the allocation-free validating scan (coop_json_validate)
 * against the full strict parse (coop_json_parse). What the scan accepts
 * must parse, with the same top-level type: a webhook the scan lets in is
 * stored, and its worker parses it for real later. The scan may refuse
 * what json-c lets through outside RFC 8259 (NaN, leading zeros, raw
 * control characters, overlong UTF-8), never the other way round; and a
 * document json-c prints back in its plain form without any of those must
 * pass the scan when it is an object, an array or a string.
 */
#include "coop/core.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char type_char(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_object:
        return '{';
    case json_type_array:
        return '[';
    case json_type_string:
        return '"';
    case json_type_null:
        return 'n';
    case json_type_boolean:
        return json_object_get_boolean(o) ? 't' : 'f';
    case json_type_int:
    case json_type_double:
        return '0';
    }
    return '?';
}

/* True when o holds no double that is not finite or that json-c would
 * print from text outside RFC 8259. */
static bool rfc_printable(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double:
        return false; /* json-c prints the original text, which may be "1." */
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (!rfc_printable(v))
                return false;
        }
        return true;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!rfc_printable(json_object_array_get_idx(o, i)))
                return false;
        return true;
    case json_type_null:
    case json_type_boolean:
    case json_type_int:
    case json_type_string:
        return true;
    }
    return true;
}

/* Strict UTF-8 (what the scan wants) over the whole text. */
static bool strict_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (!k || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
            return false;
        i += k;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char root = 0;
    coop_err v = coop_json_validate(text, size, DEPTH, &root);
    json_object *obj = NULL;
    coop_err p = coop_json_parse(text, size, DEPTH, false, &obj);
    if (v == COOP_ERR_OK && p != COOP_ERR_OK)
        abort();
    if (v == COOP_ERR_OK) {
        char want = type_char(obj);
        if (want != root && !(want == '0' && (root == '-' || (root >= '0' && root <= '9'))))
            abort();
    }
    if (p == COOP_ERR_OK && rfc_printable(obj)) {
        size_t n = 0;
        const char *out = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &n);
        char t = type_char(obj);
        if ((t == '{' || t == '[' || t == '"') && strict_utf8((const unsigned char *)out, n) &&
            coop_json_validate(out, n, DEPTH, NULL) != COOP_ERR_OK)
            abort();
    }
    json_object_put(obj);
    return 0;
}

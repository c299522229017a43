/*
 * A validating JSON scan that builds nothing: one pass over the bytes, no
 * allocation. It answers "would coop_json_parse() accept this document?"
 * for the hot paths that only need that answer (a webhook is stored as the
 * bytes received and parsed for real later, by a worker), where building
 * json-c's thousand objects for a 10 KB push would cost far more than the
 * check itself.
 *
 * Anything it accepts, coop_json_parse() accepts too (the fuzz target
 * fuzz/json_validate.c checks exactly that): the same nesting limit, the
 * same bound on integers, only whitespace around the value. Where json-c
 * is laxer than RFC 8259 the scan follows the RFC and refuses: NaN and
 * Infinity, leading zeros, "1.", raw control characters in strings,
 * overlong or surrogate UTF-8, and a bare number, true, false or null as
 * the whole document (json-c cannot tell where one ends without more
 * input). Duplicate keys are not looked for.
 */
#include "coop/core.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATE_MAX_DEPTH 256

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* True when none of the 8 bytes needs a look: no quote, backslash, control
 * character or non-ASCII byte. (The borrow tricks may flag a byte that is
 * fine, which only sends it to the careful path.) */
static bool plain8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof x);
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    uint64_t flags = ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | x;
    return (flags & HIGHS) == 0;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t left = (size_t)(end - p);
    if (c >= 0xc2 && c <= 0xdf)
        return left >= 2 && is_cont(p[1]) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || !is_cont(p[1]) || !is_cont(p[2]))
            return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || !is_cont(p[1]) || !is_cont(p[2]) || !is_cont(p[3]))
            return 0;
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* p is just past the opening quote; returns just past the closing one, or
 * NULL when the string is not valid. */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end)
{
    for (;;) {
        while (end - p >= 8 && plain8(p))
            p += 8;
        if (p == end)
            return NULL;
        unsigned char c = *p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (end - p < 2)
                return NULL;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                break;
            case 'u':
                if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
                    return NULL;
                p += 6;
                break;
            default:
                return NULL;
            }
        } else if (c < 0x20) {
            return NULL;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_len(p, end);
            if (!n)
                return NULL;
            p += n;
        }
    }
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* An integer of 19 characters or more must fit 64 bits (signed when
 * negative, unsigned otherwise), as coop_json_parse requires. */
static bool integer_fits(const unsigned char *p, size_t n)
{
    if (n < 19)
        return true;
    char tmp[64];
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    if (tmp[0] == '-')
        (void)strtoll(tmp, NULL, 10);
    else
        (void)strtoull(tmp, NULL, 10);
    return errno != ERANGE;
}

/* RFC 8259 number at p; returns just past it, or NULL. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *start = p;
    bool integer = true;
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        integer = false;
        p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (integer && !integer_fits(start, (size_t)(p - start)))
        return NULL;
    return p;
}

static const unsigned char *scan_word(const unsigned char *p, const unsigned char *end,
                                      const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

coop_err coop_json_validate(const char *text, size_t len, int max_depth, char *root)
{
    if (len > INT32_MAX)
        return COOP_ERR_TOO_LARGE;
    if (max_depth < 1 || max_depth > VALIDATE_MAX_DEPTH)
        max_depth = VALIDATE_MAX_DEPTH;
    char stack[VALIDATE_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0;
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    p = skip_ws(p, end);
    if (p == end || (*p != '{' && *p != '[' && *p != '"'))
        return COOP_ERR_INVALID;
    if (root)
        *root = (char)*p;
value:
    if (p == end)
        return COOP_ERR_INVALID;
    /* json-c counts every value, scalars too, as a level: a value inside
     * max_depth containers is one too deep. */
    if (depth == max_depth)
        return COOP_ERR_TOO_LARGE;
    switch (*p) {
    case '{':
    case '[':
        stack[depth++] = (char)*p;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (stack[depth - 1] == '{' ? '}' : ']')) {
            p++;
            depth--;
            goto after_value;
        }
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    case '"':
        p = scan_string(p + 1, end);
        break;
    case 't':
        p = scan_word(p, end, "true", 4);
        break;
    case 'f':
        p = scan_word(p, end, "false", 5);
        break;
    case 'n':
        p = scan_word(p, end, "null", 4);
        break;
    default:
        p = scan_number(p, end);
        break;
    }
    if (!p)
        return COOP_ERR_INVALID;
after_value:
    p = skip_ws(p, end);
    if (depth == 0)
        return p == end ? COOP_ERR_OK : COOP_ERR_INVALID;
    if (p == end)
        return COOP_ERR_INVALID;
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    }
    if (*p != (stack[depth - 1] == '{' ? '}' : ']'))
        return COOP_ERR_INVALID;
    p++;
    depth--;
    goto after_value;
key:
    if (p == end || *p != '"' || !(p = scan_string(p + 1, end)))
        return COOP_ERR_INVALID;
    p = skip_ws(p, end);
    if (p == end || *p != ':')
        return COOP_ERR_INVALID;
    p = skip_ws(p + 1, end);
    goto value;
}

/*
 * Small helpers that touch secrets or untrusted text: constant-time
 * comparison, randomness, hashing, bounded string copies and parsing.
 */
#include "coop/core.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

coop_err coop_core_init(void)
{
    return sodium_init() < 0 ? COOP_ERR_CRYPTO : COOP_ERR_OK;
}

bool coop_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Compare fixed-size digests so that the time depends on the lengths
     * only, and a length mismatch leaks nothing about the contents. */
    unsigned char da[crypto_generichash_BYTES], db[crypto_generichash_BYTES];
    static const unsigned char key[crypto_generichash_KEYBYTES] = "coop-ct-equal-fixed-key-32-bytes";
    crypto_generichash(da, sizeof da, a, alen, key, sizeof key);
    crypto_generichash(db, sizeof db, b, blen, key, sizeof key);
    int same = sodium_memcmp(da, db, sizeof da) == 0;
    return same & (alen == blen);
}

void coop_random_hex(char *out, size_t n)
{
    unsigned char bytes[64];
    while (n > 0) {
        size_t k = n < sizeof bytes ? n : sizeof bytes;
        randombytes_buf(bytes, k);
        sodium_bin2hex(out, k * 2 + 1, bytes, k);
        out += k * 2;
        n -= k;
    }
    *out = '\0';
}

void coop_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

size_t coop_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

coop_err coop_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return COOP_ERR_INVALID;
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return COOP_ERR_INVALID;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return COOP_ERR_INVALID;
    *out = v;
    return COOP_ERR_OK;
}

coop_err coop_base64_decode(const char *in, unsigned char *out, size_t out_max, size_t *out_len)
{
    size_t len;
    if (sodium_base642bin(out, out_max, in, strlen(in), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return COOP_ERR_INVALID;
    *out_len = len;
    return COOP_ERR_OK;
}

/*
 * The signature schemes the hosts use, all HMAC-SHA256, all compared in
 * constant time on the decoded MAC: the "sha256=<hex>" hub signature
 * (GitHub, Bitbucket), Slack's "v0=" over "v0:ts:body", and Standard
 * Webhooks (GitLab's signing) over "id.ts.body" with a time window.
 *
 * The MAC is OpenSSL's: its SHA-256 uses the CPU's SHA extensions where
 * there are some, about four times libsodium's portable code on a 10 KB
 * body, and every delivery's whole body goes through it on an HTTP
 * thread. libsodium computes it should OpenSSL fail.
 */
#include "webhook_int.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

static EVP_MAC *hmac;

static void fetch_hmac(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static bool openssl_hmac_sha256(const void *key, size_t keylen, const void *const *parts,
                                const size_t *lens, size_t n, unsigned char out[32])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fetch_hmac);
    if (!hmac)
        return false;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    if (!ctx)
        return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    bool ok = EVP_MAC_init(ctx, key, keylen, params) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, parts[i], lens[i]) == 1;
    size_t len = 0;
    ok = ok && EVP_MAC_final(ctx, out, &len, 32) == 1 && len == 32;
    EVP_MAC_CTX_free(ctx); /* cleanses the keyed state */
    return ok;
}

void hmac_sha256(const void *key, size_t keylen, const void *const *parts, const size_t *lens,
                 size_t n, unsigned char out[32])
{
    if (openssl_hmac_sha256(key, keylen, parts, lens, n, out))
        return;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    for (size_t i = 0; i < n; i++)
        crypto_auth_hmacsha256_update(&st, parts[i], lens[i]);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

bool hex_mac_equal(const unsigned char mac[32], const char *hex, size_t hexlen)
{
    unsigned char got[32];
    size_t got_len = 0;
    if (hexlen != 64 || sodium_hex2bin(got, sizeof got, hex, hexlen, NULL, &got_len, NULL) != 0 ||
        got_len != 32)
        return false;
    return coop_ct_equal(got, sizeof got, mac, 32);
}

coop_err coop_webhook_verify_hub(const char *secret, const void *body, size_t len,
                                 const char *header)
{
    if (!secret || !*secret)
        return COOP_ERR_CONFIG;
    if (!header || strncmp(header, "sha256=", 7) != 0)
        return COOP_ERR_AUTH;
    unsigned char mac[32];
    const void *parts[] = {body};
    size_t lens[] = {len};
    hmac_sha256(secret, strlen(secret), parts, lens, 1, mac);
    return hex_mac_equal(mac, header + 7, strlen(header + 7)) ? COOP_ERR_OK : COOP_ERR_AUTH;
}

/* A timestamp in seconds within the window around now. */
static bool fresh(const char *timestamp, int64_t now_ms)
{
    int64_t ts;
    if (!timestamp || coop_parse_i64(timestamp, &ts) || ts < 0 || ts > INT64_MAX / 1000)
        return false;
    int64_t diff = ts * 1000 - now_ms;
    return diff <= COOP_WEBHOOK_WINDOW_MS && diff >= -COOP_WEBHOOK_WINDOW_MS;
}

coop_err coop_webhook_verify_slack(const char *secret, const char *timestamp, const void *body,
                                   size_t len, const char *signature, int64_t now_ms)
{
    if (!secret || !*secret)
        return COOP_ERR_CONFIG;
    if (!signature || strncmp(signature, "v0=", 3) != 0 || !fresh(timestamp, now_ms))
        return COOP_ERR_AUTH;
    unsigned char mac[32];
    const void *parts[] = {"v0:", timestamp, ":", body};
    size_t lens[] = {3, strlen(timestamp), 1, len};
    hmac_sha256(secret, strlen(secret), parts, lens, 4, mac);
    return hex_mac_equal(mac, signature + 3, strlen(signature + 3)) ? COOP_ERR_OK : COOP_ERR_AUTH;
}

/* Checks one "v1,<base64>" entry of length n. */
static bool standard_entry_ok(const unsigned char mac[32], const char *e, size_t n)
{
    if (n < 4 || memcmp(e, "v1,", 3) != 0 || n - 3 > 100)
        return false;
    char b64[104];
    memcpy(b64, e + 3, n - 3);
    b64[n - 3] = '\0';
    unsigned char got[64];
    size_t got_len = 0;
    if (coop_base64_decode(b64, got, sizeof got, &got_len) || got_len != 32)
        return false;
    return coop_ct_equal(got, 32, mac, 32);
}

coop_err coop_webhook_verify_standard(const char *secret, const char *id, const char *timestamp,
                                      const void *body, size_t len, const char *signature,
                                      int64_t now_ms)
{
    if (!secret || !*secret)
        return COOP_ERR_CONFIG;
    if (!id || !*id || !signature || !fresh(timestamp, now_ms))
        return COOP_ERR_AUTH;
    const char *k = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : secret;
    unsigned char key[128];
    size_t keylen = 0;
    if (coop_base64_decode(k, key, sizeof key, &keylen) || keylen == 0)
        return COOP_ERR_CONFIG;
    unsigned char mac[32];
    const void *parts[] = {id, ".", timestamp, ".", body};
    size_t lens[] = {strlen(id), 1, strlen(timestamp), 1, len};
    hmac_sha256(key, keylen, parts, lens, 5, mac);
    sodium_memzero(key, sizeof key);
    /* Any of the space-separated signatures may match (key rotation);
     * every entry is checked so the time does not tell which. */
    bool ok = false;
    for (const char *p = signature; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n && standard_entry_ok(mac, p, n))
            ok = true;
        p += n;
    }
    return ok ? COOP_ERR_OK : COOP_ERR_AUTH;
}

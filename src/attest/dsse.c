/*
 * DSSE (Dead Simple Signing Envelope, v1): what is signed is the
 * pre-authentication encoding of the payload type and the payload, never
 * the envelope's JSON, so the signature does not depend on how the JSON
 * is written. Ed25519 over the PAE bytes is what `openssl pkeyutl -verify
 * -rawin` checks, so an auditor needs no Coop code.
 */
#include "attest_int.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define ENVELOPE_MAX (16u << 20)

coop_err coop_dsse_pae(const char *payload_type, const void *payload, size_t len,
                       struct coop_buf *out)
{
    size_t tlen = strlen(payload_type);
    coop_err err = coop_buf_printf(out, "DSSEv1 %zu ", tlen);
    if (!err)
        err = coop_buf_append(out, payload_type, tlen);
    if (!err)
        err = coop_buf_printf(out, " %zu ", len);
    if (!err)
        err = coop_buf_append(out, payload, len);
    return err;
}

static char *b64_encode(const void *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(n);
    if (out)
        sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

coop_err coop_dsse_sign(const struct coop_attest_signer *s, const char *payload_type,
                        const void *payload, size_t len, json_object **out)
{
    struct coop_buf pae;
    unsigned char sig[crypto_sign_BYTES];
    coop_buf_init(&pae, ENVELOPE_MAX);
    coop_err err = coop_dsse_pae(payload_type, payload, len, &pae);
    if (err) {
        coop_buf_dispose(&pae);
        return err;
    }
    crypto_sign_detached(sig, NULL, (const unsigned char *)pae.data, pae.len, attest_secret_key(s));
    coop_buf_dispose(&pae);
    char *p64 = b64_encode(payload, len), *s64 = b64_encode(sig, sizeof sig);
    if (!p64 || !s64) {
        free(p64);
        free(s64);
        return COOP_ERR_NOMEM;
    }
    json_object *env = json_object_new_object(), *sigs = json_object_new_array(),
                *one = json_object_new_object();
    json_object_object_add(env, "payload", json_object_new_string(p64));
    json_object_object_add(env, "payloadType", json_object_new_string(payload_type));
    json_object_object_add(one, "keyid", json_object_new_string(coop_attest_key_id(s)));
    json_object_object_add(one, "sig", json_object_new_string(s64));
    json_object_array_add(sigs, one);
    json_object_object_add(env, "signatures", sigs);
    free(p64);
    free(s64);
    *out = env;
    return COOP_ERR_OK;
}

static coop_err b64_decode(const char *text, unsigned char **out, size_t *len)
{
    size_t max = strlen(text) / 4 * 3 + 3;
    unsigned char *buf = malloc(max + 1);
    if (!buf)
        return COOP_ERR_NOMEM;
    if (sodium_base642bin(buf, max, text, strlen(text), NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(buf);
        return COOP_ERR_INVALID;
    }
    buf[*len] = '\0';
    *out = buf;
    return COOP_ERR_OK;
}

coop_err coop_dsse_verify(const char *envelope, size_t len, const unsigned char pk[32],
                          json_object **payload_out)
{
    json_object *env = NULL;
    unsigned char *payload = NULL;
    size_t plen = 0;
    struct coop_buf pae;
    coop_buf_init(&pae, ENVELOPE_MAX);
    if (payload_out)
        *payload_out = NULL;
    coop_err err =
        len > ENVELOPE_MAX ? COOP_ERR_TOO_LARGE : coop_json_parse(envelope, len, 16, true, &env);
    const char *type = err ? NULL : coop_json_str(env, "payloadType");
    const char *p64 = err ? NULL : coop_json_str(env, "payload");
    json_object *sigs = err ? NULL : coop_json_arr(env, "signatures");
    if (err || !type || !p64 || !sigs || json_object_array_length(sigs) == 0) {
        err = COOP_ERR_INVALID;
        goto out;
    }
    if ((err = b64_decode(p64, &payload, &plen)) ||
        (err = coop_dsse_pae(type, payload, plen, &pae)))
        goto out;
    err = COOP_ERR_CRYPTO;
    for (size_t i = 0; i < json_object_array_length(sigs) && err; i++) {
        const char *s64 = coop_json_str(json_object_array_get_idx(sigs, i), "sig");
        unsigned char *sig = NULL;
        size_t slen = 0;
        if (!s64 || b64_decode(s64, &sig, &slen) != COOP_ERR_OK)
            continue;
        if (slen == crypto_sign_BYTES &&
            crypto_sign_verify_detached(sig, (const unsigned char *)pae.data, pae.len, pk) == 0)
            err = COOP_ERR_OK;
        free(sig);
    }
    if (!err && payload_out &&
        coop_json_parse((const char *)payload, plen, 64, true, payload_out) != COOP_ERR_OK)
        err = COOP_ERR_INVALID;
out:
    coop_buf_dispose(&pae);
    free(payload);
    json_object_put(env);
    return err;
}

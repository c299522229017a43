/*
 * Fuzz target: what `coopd verify` reads from outside, an attestation
 * envelope and a public key file (PEM, base64 or JSON). Neither may crash,
 * and an envelope must never verify against a key it was not signed with
 * unless it is the seed envelope's own signer.
 */
#include "coop/attest.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public key of RFC 8032 test 1, which signed the seed corpus. */
static const unsigned char rfc8032_pk[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        if (coop_core_init() != COOP_ERR_OK)
            abort();
        coop_log_set_level(COOP_LOG_ERROR);
        init = true;
    }
    json_object *payload = NULL;
    coop_err err = coop_dsse_verify((const char *)data, size, rfc8032_pk, &payload);
    if (err == COOP_ERR_OK && !payload)
        abort();
    json_object_put(payload);

    unsigned char pk[32];
    coop_attest_parse_public_key((const char *)data, size, pk);

    struct coop_buf b;
    coop_buf_init(&b, size + 64);
    if (coop_dsse_pae("t", data, size, &b) != COOP_ERR_OK)
        abort();
    coop_buf_dispose(&b);
    return 0;
}

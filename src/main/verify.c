/*
 * coopd verify FILE [--pubkey FILE]: checks a DSSE attestation envelope.
 * The public key file may be PEM (as OpenSSL writes it), base64 of the 32
 * raw bytes, or the JSON of GET /v1/attestation/public-key; without one,
 * the configured signing key's public half is used. Prints the statement's
 * period, totals and chain heads; exits 0 when the signature verifies, 1
 * when it does not, 2 on a usage or input error.
 */
#include "app.h"

#include "coop/attest.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (16u << 20)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    struct coop_buf b;
    coop_buf_init(&b, FILE_MAX);
    char chunk[8192];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = coop_buf_append(&b, chunk, n) == COOP_ERR_OK;
    if (f != stdin)
        fclose(f);
    if (!ok) {
        coop_buf_dispose(&b);
        return NULL;
    }
    return coop_buf_steal(&b, len);
}

static const char *str_or(const char *s)
{
    return s ? s : "?";
}

static void summary(json_object *st)
{
    json_object *pred = coop_json_obj(st, "predicate");
    json_object *period = coop_json_obj(pred, "period");
    json_object *req = coop_json_obj(pred, "llm_requests");
    json_object *chains = coop_json_obj(coop_json_obj(pred, "audit"), "chains");
    printf("statement: %s\npredicate: %s\n", str_or(coop_json_str(st, "_type")),
           str_or(coop_json_str(st, "predicateType")));
    if (period)
        printf("period: %s .. %s\n", str_or(coop_json_str(period, "start")),
               str_or(coop_json_str(period, "end")));
    if (req)
        printf("llm requests: %s\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
    if (!chains)
        return;
    json_object_object_foreach(chains, name, chain)
    {
        bool intact = false;
        coop_json_bool(chain, "intact", &intact);
        printf("audit chain %s: %s, head %s\n", name, intact ? "intact" : "BROKEN",
               str_or(coop_json_str(chain, "head_hash")));
    }
}

static int load_pubkey(struct coop_app *app, const char *path, unsigned char pk[32])
{
    if (path) {
        size_t len = 0;
        char *text = slurp(path, &len);
        coop_err err = text ? coop_attest_parse_public_key(text, len, pk) : COOP_ERR_IO;
        free(text);
        if (err) {
            fprintf(stderr, "coopd verify: %s is not an Ed25519 public key (PEM, base64 or JSON)\n",
                    path);
            return 2;
        }
        return 0;
    }
    char msg[200] = "";
    struct coop_attest_signer *s = NULL;
    if (coop_attest_signer_open(&app->config, &s, msg, sizeof msg) != COOP_ERR_OK) {
        fprintf(stderr, "coopd verify: no --pubkey and %s\n", msg);
        return 2;
    }
    memcpy(pk, coop_attest_public_key(s), 32);
    coop_attest_signer_free(s);
    return 0;
}

int coop_cmd_verify(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    const char *file = NULL, *pubkey = NULL;
    bool bad = false;
    for (int i = next; i < argc && !bad; i++) {
        if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc)
            pubkey = argv[++i];
        else if (!file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            file = argv[i];
        else
            bad = true;
    }
    if (!file || bad) {
        fprintf(stderr, "usage: coopd verify FILE [--pubkey FILE]\n");
        coop_app_dispose(&app);
        return 2;
    }
    unsigned char pk[32];
    if ((rc = load_pubkey(&app, pubkey, pk))) {
        coop_app_dispose(&app);
        return rc;
    }
    size_t len = 0;
    char *text = slurp(file, &len);
    if (!text) {
        fprintf(stderr, "coopd verify: %s cannot be read\n", file);
        coop_app_dispose(&app);
        return 2;
    }
    json_object *st = NULL;
    coop_err err = coop_dsse_verify(text, len, pk, &st);
    free(text);
    char key_id[48];
    coop_attest_key_id_of(pk, key_id);
    if (err == COOP_ERR_OK) {
        summary(st);
        printf("signature: OK (key %s)\n", key_id);
        json_object_put(st);
        rc = 0;
    } else if (err == COOP_ERR_CRYPTO) {
        printf("signature: INVALID for key %s\n", key_id);
        rc = 1;
    } else {
        fprintf(stderr, "coopd verify: %s is not a DSSE envelope\n", file);
        rc = 2;
    }
    coop_app_dispose(&app);
    return rc;
}

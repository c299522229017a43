/*
 * The attestation signing key: an Ed25519 seed from COOP_SIGNING_KEY, or in
 * development one generated once into COOP_DATA_DIR/signing.key (0600).
 * The secret half lives in sodium_malloc memory; the public half is
 * published, as raw bytes and as the SubjectPublicKeyInfo PEM that OpenSSL
 * reads.
 */
#include "attest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE {
 * SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) }. */
static const unsigned char spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                              0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

struct coop_attest_signer {
    unsigned char *sk; /* sodium_malloc, crypto_sign_SECRETKEYBYTES */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char key_id[48];
};

void coop_attest_key_id_of(const unsigned char pk[32], char out[48])
{
    char hex[65];
    coop_sha256_hex(pk, 32, hex);
    snprintf(out, 48, "coop-ed25519:%.16s", hex);
}

/* base64 seed text (whitespace around it ignored) -> key pair. */
static coop_err from_seed_text(struct coop_attest_signer *s, const char *b64, size_t len)
{
    while (len && (b64[len - 1] == '\n' || b64[len - 1] == '\r' || b64[len - 1] == ' '))
        len--;
    unsigned char *seed = sodium_malloc(64);
    size_t n = 0;
    if (!seed)
        return COOP_ERR_NOMEM;
    coop_err err = COOP_ERR_INVALID;
    if (sodium_base642bin(seed, 64, b64, len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) ==
            0 &&
        n == crypto_sign_SEEDBYTES) {
        crypto_sign_seed_keypair(s->pk, s->sk, seed);
        err = COOP_ERR_OK;
    }
    sodium_free(seed);
    return err;
}

static coop_err dev_key(struct coop_attest_signer *s, const char *data_dir, char *err,
                        size_t errlen)
{
    char path[PATH_MAX + 16], text[128];
    snprintf(path, sizeof path, "%s/signing.key", data_dir);
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "COOP_DATA_DIR cannot be created for signing.key");
        return COOP_ERR_CONFIG;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        ssize_t n = -1;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && !(st.st_mode & 077))
            n = read(fd, text, sizeof text - 1);
        close(fd);
        coop_err e = n > 0 ? from_seed_text(s, text, (size_t)n) : COOP_ERR_INVALID;
        sodium_memzero(text, sizeof text);
        if (e)
            snprintf(
                err, errlen,
                "COOP_DATA_DIR/signing.key must be mode 0600 and hold base64 of a 32-byte seed");
        return e ? COOP_ERR_CONFIG : COOP_ERR_OK;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return dev_key(s, data_dir, err, errlen);
    if (fd < 0) {
        snprintf(err, errlen, "COOP_DATA_DIR/signing.key cannot be created");
        return COOP_ERR_CONFIG;
    }
    unsigned char seed[crypto_sign_SEEDBYTES];
    randombytes_buf(seed, sizeof seed);
    sodium_bin2base64(text, sizeof text, seed, sizeof seed, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(seed, sizeof seed);
    size_t len = strlen(text);
    text[len] = '\n';
    bool ok = write(fd, text, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    close(fd);
    coop_err e = ok ? from_seed_text(s, text, len) : COOP_ERR_IO;
    text[len] = '\0';
    if (!e)
        coop_log_register_secret(text);
    sodium_memzero(text, sizeof text);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "COOP_DATA_DIR/signing.key cannot be written");
        return COOP_ERR_CONFIG;
    }
    coop_log_warn("development: generated an attestation signing key in the data directory",
                  COOP_F_STR("file", "signing.key"));
    return COOP_ERR_OK;
}

coop_err coop_attest_signer_open(const struct coop_config *cfg, struct coop_attest_signer **out,
                                 char *err, size_t errlen)
{
    struct coop_attest_signer *s = calloc(1, sizeof *s);
    if (!s)
        return COOP_ERR_NOMEM;
    s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!s->sk) {
        free(s);
        return COOP_ERR_NOMEM;
    }
    const char *seed = coop_config_get(cfg, "COOP_SIGNING_KEY");
    coop_err e = COOP_ERR_OK;
    if (seed) {
        if (from_seed_text(s, seed, strlen(seed)) != COOP_ERR_OK) {
            snprintf(err, errlen, "COOP_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed");
            e = COOP_ERR_CONFIG;
        }
    } else if (cfg->production) {
        snprintf(err, errlen, "COOP_SIGNING_KEY is required in production for attestations");
        e = COOP_ERR_CONFIG;
    } else {
        e = dev_key(s, cfg->data_dir, err, errlen);
    }
    if (e) {
        coop_attest_signer_free(s);
        return e;
    }
    coop_attest_key_id_of(s->pk, s->key_id);
    *out = s;
    return COOP_ERR_OK;
}

void coop_attest_signer_free(struct coop_attest_signer *s)
{
    if (!s)
        return;
    sodium_free(s->sk);
    free(s);
}

const unsigned char *coop_attest_public_key(const struct coop_attest_signer *s)
{
    return s->pk;
}

const char *coop_attest_key_id(const struct coop_attest_signer *s)
{
    return s->key_id;
}

const unsigned char *attest_secret_key(const struct coop_attest_signer *s)
{
    return s->sk;
}

/* ---- public key formats --------------------------------------------------- */

coop_err coop_attest_public_pem(const unsigned char pk[32], struct coop_buf *out)
{
    unsigned char der[sizeof spki_prefix + 32];
    char b64[sodium_base64_ENCODED_LEN(sizeof der, sodium_base64_VARIANT_ORIGINAL)];
    memcpy(der, spki_prefix, sizeof spki_prefix);
    memcpy(der + sizeof spki_prefix, pk, 32);
    sodium_bin2base64(b64, sizeof b64, der, sizeof der, sodium_base64_VARIANT_ORIGINAL);
    return coop_buf_printf(out, "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64);
}

static coop_err from_b64(const char *text, size_t len, unsigned char pk[32])
{
    unsigned char raw[128];
    size_t n = 0;
    if (sodium_base642bin(raw, sizeof raw, text, len, " \t\r\n", &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return COOP_ERR_INVALID;
    if (n == 32) {
        memcpy(pk, raw, 32);
        return COOP_ERR_OK;
    }
    if (n == sizeof spki_prefix + 32 && memcmp(raw, spki_prefix, sizeof spki_prefix) == 0) {
        memcpy(pk, raw + sizeof spki_prefix, 32);
        return COOP_ERR_OK;
    }
    return COOP_ERR_INVALID;
}

coop_err coop_attest_parse_public_key(const char *text, size_t len, unsigned char pk[32])
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----", end[] = "-----END PUBLIC KEY-----";
    while (len && (*text == ' ' || *text == '\n' || *text == '\r' || *text == '\t'))
        text++, len--;
    if (len && *text == '{') {
        json_object *o = NULL;
        if (coop_json_parse(text, len, 4, true, &o) != COOP_ERR_OK)
            return COOP_ERR_INVALID;
        const char *b = coop_json_str(o, "public_key");
        coop_err err = b ? from_b64(b, strlen(b), pk) : COOP_ERR_INVALID;
        json_object_put(o);
        return err;
    }
    const char *b = memmem(text, len, begin, sizeof begin - 1);
    if (b) {
        b += sizeof begin - 1;
        const char *e = memmem(b, len - (size_t)(b - text), end, sizeof end - 1);
        if (!e)
            return COOP_ERR_INVALID;
        return from_b64(b, (size_t)(e - b), pk);
    }
    return from_b64(text, len, pk);
}

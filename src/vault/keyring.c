/*
 * The master keys the vault holds: the current one (COOP_MASTER_KEY, or in
 * development a key generated once into COOP_DATA_DIR/master.key with mode
 * 0600) and any retired ones still needed during a rotation
 * (COOP_MASTER_KEY_PREVIOUS). Each lives in sodium_malloc memory and is
 * known to the rest of Coop only by its id, a keyed hash that reveals
 * nothing about it.
 */
#include "vault_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void master_id(const unsigned char *key, char out[17])
{
    static const char label[] = "coop-master-key-id-v1";
    unsigned char id[8];
    crypto_generichash(id, sizeof id, (const unsigned char *)label, sizeof label - 1, key,
                       VAULT_KEY_BYTES);
    sodium_bin2hex(out, 17, id, sizeof id);
}

/* Decodes base64 text (surrounding whitespace ignored) into a new ring slot. */
static coop_err add_key(struct vault_keyring *ring, const char *b64, size_t len)
{
    if (ring->n == VAULT_MAX_KEYS)
        return COOP_ERR_TOO_LARGE;
    while (len && (b64[len - 1] == '\n' || b64[len - 1] == '\r' || b64[len - 1] == ' '))
        len--;
    while (len && (*b64 == ' ' || *b64 == '\n'))
        b64++, len--;
    unsigned char *key = sodium_malloc(64);
    if (!key)
        return COOP_ERR_NOMEM;
    size_t n = 0;
    if (sodium_base642bin(key, 64, b64, len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != VAULT_KEY_BYTES) {
        sodium_free(key);
        return COOP_ERR_INVALID;
    }
    struct vault_master *m = &ring->keys[ring->n++];
    m->key = key;
    master_id(key, m->id);
    return COOP_ERR_OK;
}

static coop_err read_key_file(struct vault_keyring *ring, int fd, char *err, size_t errlen)
{
    struct stat st;
    char text[256];
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "COOP_DATA_DIR/master.key is not a regular file");
        return COOP_ERR_CONFIG;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "COOP_DATA_DIR/master.key must be readable by its owner only (0600)");
        return COOP_ERR_CONFIG;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    if (n <= 0) {
        snprintf(err, errlen, "COOP_DATA_DIR/master.key cannot be read");
        return COOP_ERR_CONFIG;
    }
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    text[n] = '\0';
    coop_err e = add_key(ring, text, (size_t)n);
    if (!e)
        coop_log_register_secret(text);
    sodium_memzero(text, sizeof text);
    if (e) {
        snprintf(err, errlen, "COOP_DATA_DIR/master.key must hold base64 of 32 bytes");
        return COOP_ERR_CONFIG;
    }
    return COOP_ERR_OK;
}

/* Development only: the data dir's key, created on first use. */
static coop_err dev_key(struct vault_keyring *ring, const char *data_dir, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/master.key", data_dir);
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "COOP_DATA_DIR cannot be created for master.key");
        return COOP_ERR_CONFIG;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        coop_err e = read_key_file(ring, fd, err, errlen);
        close(fd);
        return e;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return dev_key(ring, data_dir, err, errlen); /* another process won the race */
    if (fd < 0) {
        snprintf(err, errlen, "COOP_DATA_DIR/master.key cannot be created");
        return COOP_ERR_CONFIG;
    }
    unsigned char *raw = sodium_malloc(VAULT_KEY_BYTES);
    char *b64 = sodium_malloc(64);
    coop_err e = COOP_ERR_NOMEM;
    if (raw && b64) {
        randombytes_buf(raw, VAULT_KEY_BYTES);
        sodium_bin2base64(b64, 64, raw, VAULT_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
        size_t len = strlen(b64);
        b64[len] = '\n';
        e = (write(fd, b64, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0) ? COOP_ERR_OK
                                                                              : COOP_ERR_IO;
        b64[len] = '\0';
        if (!e)
            e = add_key(ring, b64, len);
        if (!e)
            coop_log_register_secret(b64);
    }
    close(fd);
    sodium_free(raw);
    sodium_free(b64);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "COOP_DATA_DIR/master.key cannot be written");
        return COOP_ERR_CONFIG;
    }
    coop_log_warn("development: generated a master key in the data directory",
                  COOP_F_STR("file", "master.key"), COOP_F_STR("id", ring->keys[0].id));
    return COOP_ERR_OK;
}

coop_err vault_keyring_load(struct vault_keyring *ring, const struct coop_config *cfg, char *err,
                            size_t errlen)
{
    memset(ring, 0, sizeof *ring);
    const char *current = coop_config_get(cfg, "COOP_MASTER_KEY");
    coop_err e;
    if (current) {
        if (add_key(ring, current, strlen(current)) != COOP_ERR_OK) {
            snprintf(err, errlen, "COOP_MASTER_KEY must be base64 of 32 bytes");
            return COOP_ERR_CONFIG;
        }
    } else if (cfg->production) {
        snprintf(err, errlen, "COOP_MASTER_KEY is required in production");
        return COOP_ERR_CONFIG;
    } else if ((e = dev_key(ring, cfg->data_dir, err, errlen))) {
        vault_keyring_dispose(ring);
        return e;
    }

    const char *prev = coop_config_get(cfg, "COOP_MASTER_KEY_PREVIOUS");
    for (const char *p = prev; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len && add_key(ring, p, len) != COOP_ERR_OK) {
            snprintf(
                err, errlen,
                "COOP_MASTER_KEY_PREVIOUS must be a comma-separated list of base64 32-byte keys");
            vault_keyring_dispose(ring);
            return COOP_ERR_CONFIG;
        }
        p = comma ? comma + 1 : p + len;
    }
    return COOP_ERR_OK;
}

const struct vault_master *vault_keyring_find(const struct vault_keyring *ring, const char *id)
{
    for (size_t i = 0; i < ring->n; i++)
        if (strcmp(ring->keys[i].id, id) == 0)
            return &ring->keys[i];
    return NULL;
}

void vault_keyring_dispose(struct vault_keyring *ring)
{
    for (size_t i = 0; i < ring->n; i++)
        sodium_free(ring->keys[i].key);
    memset(ring, 0, sizeof *ring);
}

/*
 * Inside the vault: the keyring of master keys.
 */
#ifndef COOP_VAULT_INT_H
#define COOP_VAULT_INT_H

#include "coop/vault.h"

#define VAULT_KEY_BYTES 32
#define VAULT_MAX_KEYS 8

struct vault_master {
    unsigned char *key; /* sodium_malloc, VAULT_KEY_BYTES */
    char id[17];
};

/* keys[0] is the current master key; the others are previous ones. */
struct vault_keyring {
    struct vault_master keys[VAULT_MAX_KEYS];
    size_t n;
};

struct coop_vault {
    struct vault_keyring ring;
    struct coop_store *store;
};

coop_err vault_keyring_load(struct vault_keyring *ring, const struct coop_config *cfg, char *err,
                            size_t errlen);
const struct vault_master *vault_keyring_find(const struct vault_keyring *ring, const char *id);
void vault_keyring_dispose(struct vault_keyring *ring);

#endif

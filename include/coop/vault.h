/*
 * vault: customers' own provider keys (BYOK). A key is stored only as
 * XChaCha20-Poly1305 ciphertext under the master key, with the customer
 * and the provider as associated data (so a sealed key cannot be moved to
 * another customer or provider), plus the first 16 hex digits of its
 * SHA-256 to identify it. It is opened into sodium_malloc memory (locked,
 * guarded) for one outbound request and wiped when that request is done.
 *
 * The master key comes from COOP_MASTER_KEY (base64 of 32 bytes); in
 * development, when unset, one is generated in COOP_DATA_DIR/master.key
 * (mode 0600). COOP_MASTER_KEY_PREVIOUS (comma-separated, same form) lists
 * retired master keys that may still open keys during a rotation:
 * `coopd vault rewrap` reseals every key under the current one.
 *
 * The vault never builds a response and never logs a key, a master key or
 * anything derived from them except the public key ids.
 *
 * In coopd serve the vault module opens one vault when it starts and
 * publishes it as app->vault (src/main/app.h) for the modules started
 * after it, such as the router.
 *
 * Thread safety: a struct coop_vault is shared by all threads.
 */
#ifndef COOP_VAULT_H
#define COOP_VAULT_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/store.h"

struct json_object;
struct coop_vault;

/* Customer ids: 1-128 of [A-Za-z0-9._@:-]; providers: 1-64 of [a-z0-9._-]. */
bool coop_vault_customer_valid(const char *customer);
bool coop_vault_provider_valid(const char *provider);

/*
 * Loads the master keys (generating the development one when needed). On
 * failure writes one line into err naming the setting (never a value) and
 * returns COOP_ERR_CONFIG. The vault keeps a pointer to store.
 */
coop_err coop_vault_open(const struct coop_config *cfg, struct coop_store *store,
                         struct coop_vault **out /* OUT */, char *err, size_t errlen);
/* Wipes the master keys and frees the vault. */
void coop_vault_free(struct coop_vault *v);

/* The current master key's public id (16 hex digits, a keyed hash of the
 * key: it reveals nothing about it). */
const char *coop_vault_master_id(const struct coop_vault *v);

/*
 * Seals key (key_len bytes, printable ASCII without spaces, 8 to 4096
 * bytes) for customer and provider, replacing any earlier one; *replaced
 * (may be NULL) says whether one was there. hash_prefix gets the 16 hex
 * digits that identify the key. The caller wipes its own copy of key.
 */
coop_err coop_vault_put(struct coop_vault *v, const char *customer, const char *provider,
                        const char *key, size_t key_len, char hash_prefix[17] /* OUT */,
                        bool *replaced /* OUT, may be NULL */);
/* COOP_ERR_NOT_FOUND when there was none. */
coop_err coop_vault_delete(struct coop_vault *v, const char *customer, const char *provider);
/* {customer, provider, key_hash_prefix, master_key_id, created_at,
 * updated_at, last_used_at} rows, ordered; never key material. */
coop_err coop_vault_list(struct coop_vault *v, struct json_object **out /* OUT */);

/* An opened key: data is sodium_malloc memory (guarded, locked) holding len
 * bytes plus a NUL; it is zeroed when freed. */
struct coop_vault_secret {
    char *data;
    size_t len;
};

/*
 * Opens customer's key for provider for the duration of one request, and
 * records its use. COOP_ERR_NOT_FOUND when the customer has none (use the
 * server's key); COOP_ERR_CRYPTO when it exists but cannot be opened (wrong
 * master key, or the row was tampered with): the request must then fail,
 * never fall back to the server's key. The result is freed with
 * coop_vault_secret_free, which wipes it.
 */
coop_err coop_vault_open_key(struct coop_vault *v, const char *customer, const char *provider,
                             struct coop_vault_secret **out /* OUT */);
void coop_vault_secret_free(struct coop_vault_secret *s);

/* How many stored keys the vault can open, and how many it cannot. */
coop_err coop_vault_check(struct coop_vault *v, int64_t *current /* OUT */,
                          int64_t *previous /* OUT */, int64_t *unopenable /* OUT */);

/*
 * Reseals, one transaction each, every key not under the current master
 * key. Servers keep running: each row is always sealed under a key they
 * hold as long as they have both the current and the previous master key.
 * Keys no master key can open are counted in *failed and left as they are.
 */
coop_err coop_vault_rewrap(struct coop_vault *v, int64_t *rewrapped /* OUT */,
                           int64_t *failed /* OUT */);

extern const struct coop_migration coop_vault_migrations[];

#endif

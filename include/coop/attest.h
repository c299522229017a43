/*
 * attest: the retention report and the signed attestation.
 *
 * The attestation is an in-toto Statement v1 (subject: the heads of the
 * audit hash chains; predicate: the retention report) in a DSSE envelope
 * signed with Ed25519. The signing key is COOP_SIGNING_KEY (base64 of a
 * 32-byte Ed25519 seed); in development, when unset, one is generated in
 * COOP_DATA_DIR/signing.key (mode 0600). The public key is published at
 * GET /v1/attestation/public-key, so an auditor can check an envelope with
 * `coopd verify` or with OpenSSL alone (docs/security.md shows how).
 *
 * attest reads the audit log; it writes nothing.
 */
#ifndef COOP_ATTEST_H
#define COOP_ATTEST_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/store.h"

struct json_object;

#define COOP_DSSE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define COOP_INTOTO_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define COOP_ATTEST_PREDICATE_TYPE "https://coop.dev/attestation/retention/v1"

/* ---- the signing key ------------------------------------------------------ */

struct coop_attest_signer;

/* Loads (or, in development, creates) the signing key. On failure writes
 * one line naming the setting, never its value, and returns COOP_ERR_CONFIG. */
coop_err coop_attest_signer_open(const struct coop_config *cfg,
                                 struct coop_attest_signer **out /* OUT */, char *err,
                                 size_t errlen);
/* Wipes the secret key and frees. */
void coop_attest_signer_free(struct coop_attest_signer *s);
const unsigned char *coop_attest_public_key(const struct coop_attest_signer *s); /* 32 bytes */
/* "coop-ed25519:" and the first 16 hex digits of SHA-256(public key). */
const char *coop_attest_key_id(const struct coop_attest_signer *s);

/* The SubjectPublicKeyInfo PEM of a raw Ed25519 public key (for OpenSSL). */
coop_err coop_attest_public_pem(const unsigned char pk[32], struct coop_buf *out);
/* Reads a public key given as PEM, as base64 of the 32 raw bytes, or as
 * the JSON of GET /v1/attestation/public-key. */
coop_err coop_attest_parse_public_key(const char *text, size_t len, unsigned char pk[32] /* OUT */);
void coop_attest_key_id_of(const unsigned char pk[32], char out[48]);

/* ---- DSSE ----------------------------------------------------------------- */

/* The pre-authentication encoding that is signed:
 * "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload (lengths in
 * ASCII decimal). Appended to out. */
coop_err coop_dsse_pae(const char *payload_type, const void *payload, size_t len,
                       struct coop_buf *out);

/* Signs payload into a new envelope {"payload","payloadType","signatures":
 * [{"keyid","sig"}]} owned by the caller. */
coop_err coop_dsse_sign(const struct coop_attest_signer *s, const char *payload_type,
                        const void *payload, size_t len, struct json_object **out /* OUT */);

/*
 * Verifies an envelope's text against pk: COOP_ERR_OK when one signature
 * verifies over the PAE of its payload; COOP_ERR_CRYPTO when none does;
 * COOP_ERR_INVALID when it is not a well-formed envelope. On success
 * *payload (may be NULL) gets the decoded payload as parsed JSON.
 */
coop_err coop_dsse_verify(const char *envelope, size_t len, const unsigned char pk[32],
                          struct json_object **payload /* OUT, may be NULL */);

/* ---- report and statement ------------------------------------------------- */

/*
 * Where the provider policy comes from: the router registers a function
 * returning it as JSON ({"provider":{"enabled","zero_retention",
 * "policy_url","verified_at","dpa_approved",...}}, a new reference) so the
 * report shows the policy actually in force. Without one the report says
 * the policy was unavailable.
 */
typedef struct json_object *(*coop_attest_policy_fn)(void *ctx);
void coop_attest_set_policy_source(coop_attest_policy_fn fn, void *ctx);

/*
 * The retention report over the days before now_ms: period, LLM request
 * totals and the zero-retention percentage, BYOK requests, provider
 * policy, sanitization rules, configuration changes of the period, the
 * audit retention setting and both chains' anchors and heads (verified).
 * *out is owned by the caller.
 */
coop_err coop_attest_report(struct coop_store *store, int64_t now_ms, int days, int retention_days,
                            struct json_object **out /* OUT */);

/* The in-toto Statement v1 around a report. */
coop_err coop_attest_statement(struct coop_store *store, int64_t now_ms, int days,
                               int retention_days, struct json_object **out /* OUT */);

/* Statement, signed: a DSSE envelope owned by the caller. */
coop_err coop_attest_envelope(const struct coop_attest_signer *s, struct coop_store *store,
                              int64_t now_ms, int days, int retention_days,
                              struct json_object **out /* OUT */);

#endif

/*
 * Internal to the webhook module: the allocation pool behind struct
 * coop_event, JSON path helpers shared by the per-source parsers, and the
 * HMAC helpers shared by the signature schemes.
 */
#ifndef COOP_WEBHOOK_INT_H
#define COOP_WEBHOOK_INT_H

#include "coop/event.h"
#include "coop/webhook.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

/* ---- events and their pool ---------------------------------------------- */

/* A new event of kind; NULL when memory runs out. */
struct coop_event *ev_new(enum coop_event_kind kind, enum coop_event_source source,
                          const char *event_name);
/* Appends ev at the end of *head's chain (or makes it the head). */
void ev_append(struct coop_event **head, struct coop_event *ev);
/* Zeroed memory owned by ev; NULL (and ev marked failed) when out of memory. */
void *ev_alloc(struct coop_event *ev, size_t n);
char *ev_strdup(struct coop_event *ev, const char *s); /* NULL stays NULL */
char *ev_strndup(struct coop_event *ev, const char *s, size_t n);
/* The first line of s, without a trailing "\r". */
char *ev_first_line(struct coop_event *ev, const char *s);
/* "HOST/PATH" from a web URL ("https://host/a/b(.git)") ; NULL when it has none. */
char *ev_repo_from_url(struct coop_event *ev, const char *url);
/* Strings of a JSON array (non-strings skipped) into *out / *n. */
void ev_str_array(struct coop_event *ev, struct json_object *arr, char ***out, size_t *n);
/* Appends s to a growing string array (capacity doubles inside the pool). */
void ev_push_str(struct coop_event *ev, char ***arr, size_t *n, const char *s);
/* True when an allocation failed anywhere in the chain. */
bool ev_failed(const struct coop_event *head);
/* Turns a chain into the parser's result: COOP_ERR_NOMEM on failure. */
coop_err ev_finish(struct coop_event *head, struct coop_event **out);

/* RFC 3339 time in ms, 0 when absent or unparsable. */
int64_t ev_time(const char *s);

/* ---- JSON paths ------------------------------------------------------------ */

/* Member lookups along a dotted path ("pull_request.user.login"). */
struct json_object *jget(struct json_object *obj, const char *path);
const char *jstr(struct json_object *obj, const char *path);
int64_t jint(struct json_object *obj, const char *path, int64_t dflt);
bool jbool(struct json_object *obj, const char *path);
struct json_object *jarr(struct json_object *obj, const char *path);

/* ---- signatures -------------------------------------------------------------- */

/* HMAC-SHA256 over the concatenation of n parts. */
void hmac_sha256(const void *key, size_t keylen, const void *const *parts, const size_t *lens,
                 size_t n, unsigned char out[32]);
/* Constant-time check of "<hex>" against mac; false for bad hex or length. */
bool hex_mac_equal(const unsigned char mac[32], const char *hex, size_t hexlen);

/* Hands ev to the consumer, if one is set; *consumed says whether. */
coop_err coop_event_consume_(struct coop_conn *conn, const struct coop_event *ev,
                             bool *consumed /* OUT */);

/* Dedupe key from the body's hash, for deliveries without one. */
void coop_webhook_body_key_(const struct coop_webhook_input *in, struct coop_webhook_meta *out);

#define SHA40_ZERO "0000000000000000000000000000000000000000"

#endif

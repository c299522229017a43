/*
 * Internal to the router: the module's state, the outbound client (one
 * thread driving libcurl's multi interface), the SSE parser and the
 * helpers the provider backends share.
 */
#ifndef COOP_ROUTER_INT_H
#define COOP_ROUTER_INT_H

#include "coop/audit.h"
#include "coop/http.h"
#include "coop/router.h"
#include "coop/sanitize.h"

#include <pthread.h>

/* ---- SSE parsing ---------------------------------------------------------- */

/* An incremental text/event-stream parser: bytes in any split, one callback
 * per complete event. Lines and events are bounded. */
typedef coop_err (*sse_event_fn)(void *ctx, const char *event, const char *data, size_t len);

struct sse_parser {
    struct coop_buf line;
    struct coop_buf data;
    char event[64];
    bool has_data;
    bool skip_lf; /* the last line ended with CR; a following LF belongs to it */
};

void sse_init(struct sse_parser *p, size_t max_event);
void sse_dispose(struct sse_parser *p);
/* Feeds bytes; stops at and returns the first error of fn. */
coop_err sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_fn fn, void *ctx);

/* ---- the outbound client ---------------------------------------------------- */

struct router_client;
struct call;

coop_err client_new(long keepalive_ms, struct router_client **out /* OUT */);
coop_err client_start(struct router_client *c);
/* Hands a prepared call to the router thread (which owns it from now on). */
void client_submit(struct router_client *c, struct call *call);
void client_stop(struct router_client *c);
void client_free(struct router_client *c);

/* ---- resilience: retries, routes, key pools ------------------------------------ */

/* Retry settings (COOP_ROUTER_*), read once at start. */
struct router_retry_cfg {
    int max_attempts;        /* calls per target, first included (>= 1) */
    long backoff_ms;         /* delay before the first retry (before jitter) */
    long backoff_max_ms;     /* cap of the doubling */
    long retry_after_max_ms; /* a longer Retry-After is not waited for */
    long deadline_ms;        /* the whole request, every attempt and wait */
    long key_cooldown_ms;    /* a pooled key answered 429 (no Retry-After) or 401 */
    long first_byte_ms;      /* no response header by then: the attempt times out (0: off) */
};

/* What a failed call allows. */
enum router_failure {
    ROUTER_OK,         /* not a failure */
    ROUTER_FAIL_RETRY, /* the same target may answer if asked again */
    ROUTER_FAIL_NEXT,  /* this target will not answer; another may */
    ROUTER_FAIL_FINAL, /* nothing else is tried */
};

/* Delay before retry n (1: the first retry): backoff_ms doubled per retry,
 * capped at backoff_max_ms, half of it fixed and half drawn from rnd. */
long router_backoff_ms(const struct router_retry_cfg *c, int n, uint32_t rnd);
/* A Retry-After value (delta-seconds or HTTP date) in ms from now_s
 * (Unix seconds); -1 when it cannot be read. */
long router_retry_after_ms(const char *value, int64_t now_s);
/* The class of a finished transfer: curl result, HTTP status, whether any
 * byte of a successful answer had arrived. */
enum router_failure router_classify(int curl_code, long status, bool got_bytes);

#define KEY_POOL_MAX 32

/* A provider's server keys (see keypool.c). Thread-safe. */
struct key_pool;
/* Parses "key[:weight],key[:weight],..." (weight 1-1000, default 1). On
 * error, err says what is wrong without quoting a key. */
coop_err key_pool_parse(const char *spec, struct key_pool **out /* OUT */, char *err,
                        size_t errlen);
void key_pool_free(struct key_pool *p);
size_t key_pool_size(const struct key_pool *p);
/* A key index by weight among those not cooling down and not avoid (-1:
 * none avoided); when all are cooling, the one free soonest. -1: empty. */
int key_pool_pick(struct key_pool *p, int64_t now_ns, uint32_t rnd, int avoid);
/* True when a key other than avoid is not cooling down. */
bool key_pool_has_other(struct key_pool *p, int64_t now_ns, int avoid);
void key_pool_cool(struct key_pool *p, int i, int64_t until_ns);
/* The key at index i (borrowed, valid while the pool lives). */
const char *key_pool_key(const struct key_pool *p, int i);
unsigned key_pool_weight(const struct key_pool *p, int i);
/* The pool setting of a backend: "COOP_OPENAI_API_KEYS" for OPENAI_API_KEY. */
void key_pool_var(const struct coop_provider_ops *ops, char *out, size_t size);

/* ---- the module ------------------------------------------------------------- */

#define MAX_ANSWER (16u << 20)
#define MAX_SSE_EVENT (4u << 20)

/* Where the policy in force comes from (policy_admin.c). */
struct policy_origin {
    bool stored;          /* the store's, else COOP_POLICY_FILE's or the built-in one */
    int64_t version;      /* the stored version (0: nothing ever stored) */
    int64_t changed_at;   /* when the stored version was written (ms) */
    char changed_by[128]; /* the token id that wrote it */
};

struct coop_router {
    const struct coop_config *cfg;
    struct coop_store *store;
    struct coop_vault *vault;
    pthread_rwlock_t policy_lock;
    struct coop_policy *policy;      /* in force: base_policy or a stored one */
    struct coop_policy *base_policy; /* COOP_POLICY_FILE or built in, as loaded at start */
    /* One change of the policy in force at a time (PUT, DELETE, reload);
     * the fields below are its. */
    pthread_mutex_t policy_sync;
    bool policy_sync_init;
    struct policy_origin policy_from; /* also written under policy_lock */
    int64_t policy_seen;              /* the stored version last looked at */
    bool policy_seen_doc;             /* that version holds a policy */
    bool policy_store_failing;        /* the last look failed (logged once) */
    struct policy_watch *policy_watch;
    const struct coop_sanitizer *sanitizer; /* the app's, borrowed */
    struct router_client *client;
    long timeout_ms;
    bool audit_before_answer; /* an answer ends only once its audit row is durable */
    long connect_timeout_ms;
    struct audit_queue *audit;
    struct router_retry_cfg retry;
    struct key_pool *pools[8];    /* per backend, in coop_providers order; NULL: no server key */
    struct router_budget *budget; /* limits and rate buckets (budget.c) */
    struct usage_writer *usage;   /* usage counters' writer thread (usage.c) */
};

/* ---- the policy in force and its admin API (policy_admin.c) ----------------------- */

struct policy_watch;
/* Loads the base policy and the stored one (which takes precedence), and
 * logs where the policy in force comes from. */
coop_err policy_admin_init(struct coop_router *r);
void policy_admin_dispose(struct coop_router *r);
/* The thread applying changes other instances make to the stored policy. */
coop_err policy_watch_start(struct coop_router *r);
void policy_watch_stop(struct coop_router *r);
/* GET, PUT and DELETE /v1/admin/policy. */
void policy_get_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);
void policy_put_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);
void policy_delete_handler(struct coop_http_request *req, struct coop_http_response *res,
                           void *ctx);

/* The policy in force, held for reading until policy_release. */
const struct coop_policy *router_policy_hold(struct coop_router *r);
void router_policy_release(struct coop_router *r);

/* The format a client speaks: what answers and errors are translated to. */
enum router_format {
    ROUTER_FORMAT_OPENAI = 0, /* /v1/chat/completions, /v1/ask */
    ROUTER_FORMAT_ANTHROPIC,  /* /v1/messages */
};

/* State of an answer translated from OpenAI chunks into Anthropic's
 * Messages events (messages.c). */
struct messages_state {
    char model[128]; /* the model as the client named it */
    bool started;    /* message_start and content_block_start went out */
    bool done;       /* message_stop went out */
    char stop_reason[24];
};

/* How an answer ends: its last bytes (or only the end of its stream),
 * held until the request's audit row is durable. */
struct router_answer_end {
    struct coop_http_stream *stream; /* NULL: nothing to send */
    bool reply;                      /* data holds the last bytes */
    unsigned status;
    const char *content_type; /* a string literal, or NULL */
    char *data;               /* malloc'd */
    size_t len;
};

/* One request in flight: what the client thread needs. */
struct call {
    struct coop_router *router;
    const struct coop_provider_ops *ops;
    struct coop_http_stream *stream;
    struct coop_provider_request req;
    struct coop_translate t;
    struct sse_parser sse;
    struct coop_buf body; /* non-streaming answer, or an error body */
    struct coop_buf out;  /* scratch for translated chunks */
    bool stream_mode;
    bool started; /* headers decided and sent to the client */
    bool client_gone;
    bool protocol_error; /* the provider's stream could not be read */
    bool too_large;      /* the provider's answer passed MAX_ANSWER */
    bool content_sent;   /* a translated chunk went to the client: no retry after */
    bool got_bytes;      /* a byte of a 2xx answer arrived in this attempt */
    bool got_headers;    /* the provider's status line arrived in this attempt */
    int64_t attempt_ns;  /* when this attempt's transfer started */
    const char *status;  /* audit status: "ok", "error", "cancelled" */
    int status_code;     /* what the client was answered */
    long upstream_status;
    char retry_after[16]; /* seconds, as answered to the client */
    long retry_after_ms;  /* the provider's wish, -1: none */
    int64_t start_ns;
    int64_t last_write_ns;
    void *easy;         /* CURL * */
    void *headers_list; /* struct curl_slist * */
    struct call *next;
    /* For the audit row. */
    char request_id[72];
    char customer[128];
    char provider[32];
    char model[128];
    char zero_retention[128];
    char *sanitizer_counts; /* heap JSON or NULL */
    bool byok;
    /* Resilience: the targets of the request (a route's, or the one model
     * named), where we are in them, and the record of every step. */
    struct json_object *in_body; /* the inbound body (a reference) */
    struct json_object *in_msgs; /* the sanitized messages (a reference) */
    size_t ntargets, target;
    char targets[COOP_ROUTE_MAX_TARGETS][128];
    char requested[128]; /* the model as the client named it */
    int attempts;        /* provider calls made, every target */
    int target_attempts; /* on the current target */
    int key_index;       /* pooled server key in use, -1: BYOK or none */
    int last_curl;       /* result of the last finished transfer */
    int64_t deadline_ns;
    int64_t retry_at_ns;   /* when the next attempt starts */
    bool built;            /* req holds the request built for built_target */
    size_t built_target;
    unsigned built_features;
    bool built_annotation;
    struct coop_buf route; /* audit: JSON array of steps */
    struct router_answer_end end; /* the answer's last bytes, held for the audit row */
    /* The client's format, and the token the request ran as (budgets and
     * usage counters are kept per token and per customer). */
    enum router_format format;
    struct messages_state anth;
    char token_id[40];
};

/* Called by the client thread when a transfer ends (curl result code).
 * Completes the client's response, records the audit row, frees call. */
void call_finish(struct call *call, int curl_code);
/* Called for each piece of the upstream body. Returns false to abort. */
bool call_data(struct call *call, const char *data, size_t len);
/* Writes a keep-alive comment when the provider has been silent. */
void call_keepalive(struct call *call, int64_t now_ns, int64_t interval_ns);
void call_free(struct call *call);

/* Called by the client thread when a transfer failed: true when another
 * attempt follows (*at_ns says when; the call waits on the client's
 * timer list, no thread sleeps), false when call_finish should answer. */
bool call_retry(struct call *call, int curl_code, int64_t now_ns, int64_t *at_ns /* OUT */);
/* Called by the client thread when a waiting call is due: prepares the
 * next attempt (policy re-applied, request rebuilt) and returns true, or
 * answers, audits and frees the call and returns false. */
bool call_resume(struct call *call);
/* CURLOPT_TIMEOUT_MS for the next transfer: the call timeout, cut to
 * what is left of the request's deadline (at least 1). */
long call_timeout_ms(const struct call *call, int64_t now_ns);

/* Why a target could not be used (dispatch.c). */
struct step_error {
    unsigned status;
    const char *code; /* also the step's reason in the audit record */
    char message[200];
    bool blocked; /* refused by the policy */
};
/* Prepares an attempt on call's current target: policy checks, the key
 * (BYOK or pool), the native request and the zero-retention layer. On a
 * refusal records the step and moves to the next target, until one is
 * ready (true) or none is left (false, *why says the last refusal). */
bool call_prepare_attempt(struct call *call, struct step_error *why /* OUT */);
/* Appends one step to the call's route record ("result" is a fixed word). */
void call_record_step(struct call *call, const char *result, long status);

/* The confidentiality instruction put first in every conversation. */
extern const char router_instruction[];

/*
 * Routes one OpenAI-format chat request (POST /v1/chat/completions and
 * /v1/ask): answers errors itself, or starts a held stream and submits
 * the call. Takes the reference to body.
 */
void router_chat(struct coop_router *r, struct coop_http_request *req,
                 struct coop_http_response *res, struct json_object *body);
/* router_chat for a client speaking format; echo_model (may be NULL) is the
 * model name answers carry in Anthropic's format. */
void router_chat_as(struct coop_router *r, struct coop_http_request *req,
                    struct coop_http_response *res, struct json_object *body,
                    enum router_format format, const char *echo_model);
/* POST /v1/ask. */
void router_ask_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);
/* Queues the audit row of a finished call. */
void router_finish_audit(struct call *call);
/* Queues the audit row of a request refused before any call. */
void router_audit_refused(struct coop_router *r, const struct coop_http_request *req,
                          const char *provider, const char *model, const char *status,
                          int status_code);

/* ---- audit -------------------------------------------------------------------- */

struct audit_queue;
coop_err audit_queue_new(struct coop_store *store, struct audit_queue **out /* OUT */);
/* Queues a copy of row for the audit thread, which appends it with
 * coop_audit_append; the HTTP and router threads never wait on the store. */
void audit_queue_push(struct audit_queue *q, const struct coop_audit_row *row);
/* Sends the answer's end (if it has a stream) and frees its bytes. */
void router_answer_send(struct router_answer_end *end);
/* Queues the row and the end of its answer (taken: end->data is the queue's
 * now), sent once the row is written. */
void audit_queue_push_answer(struct audit_queue *q, const struct coop_audit_row *row,
                             struct router_answer_end *end);
/* Writes what is queued, then stops the thread. */
void audit_queue_free(struct audit_queue *q);

/* ---- the Anthropic Messages API (messages.c) ---------------------------------- */

/* POST /v1/messages: an Anthropic Messages request routed like a chat. */
void router_messages_handler(struct coop_http_request *req, struct coop_http_response *res,
                             void *ctx);
/*
 * Translates an Anthropic Messages request into the router's OpenAI-format
 * request (a new object in *out): the model becomes provider/model (a name
 * without a provider is anthropic's), system text the first message. On
 * COOP_ERR_INVALID, *problem says what is wrong in fixed words.
 */
coop_err messages_request(struct json_object *in, struct json_object **out /* OUT */,
                          const char **problem /* OUT */);
/* An OpenAI chat.completion (body) as an Anthropic Message, usage from t. */
coop_err messages_response(const struct messages_state *ms, const struct coop_translate *t,
                           const char *body, size_t len, struct coop_buf *out);
/* Rewrites io, complete OpenAI chunk events ("data: ...\n\n"), as
 * Anthropic's named events; "[DONE]" ends the message. */
coop_err messages_stream(struct messages_state *ms, const struct coop_translate *t,
                         struct coop_buf *io);
/* An error in Anthropic's shape, as a JSON body or as an "error" event. */
void messages_error_json(struct coop_buf *b, unsigned status, const char *code, const char *message,
                         const char *request_id);
void messages_error_event(struct coop_buf *b, unsigned status, const char *code,
                          const char *message, const char *request_id);

/* ---- budgets and usage (budget.c, usage.c) --------------------------------------- */

struct router_budget;
coop_err budget_new(const struct coop_config *cfg, struct coop_store *store,
                    struct router_budget **out /* OUT */);
void budget_free(struct router_budget *b);
/* Checks the request against the limits of its token and customer and takes
 * one from their requests-per-minute buckets. Returns true when it may go;
 * otherwise has answered 429 with Retry-After in the client's format. */
bool budget_admit(struct coop_router *r, struct coop_http_request *req,
                  struct coop_http_response *res, enum router_format format,
                  struct json_object *body);
/* GET and PUT /v1/admin/budgets. */
void budget_get_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);
void budget_put_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);

struct usage_writer;
/* Starts the writer thread; it also deletes the counters of days older than
 * retention_days (0: never). */
coop_err usage_writer_new(struct coop_store *store, long retention_days,
                          struct usage_writer **out /* OUT */);
/* Writes what is queued, then stops the thread. */
void usage_writer_free(struct usage_writer *w);
/* Counts one request (an error when ok is false) and its tokens, for the
 * current UTC day; written by the usage thread, never waited for. */
void usage_count(struct usage_writer *w, const char *customer, const char *token_id,
                 const char *provider, const char *model, bool ok, int64_t input_tokens,
                 int64_t output_tokens);
/* Tokens (input + output) counted today (UTC) for a customer or a token. */
coop_err usage_tokens_today(struct coop_store *store, const char *customer, const char *token_id,
                            int64_t *out /* OUT */);
/* GET /v1/admin/usage. */
void usage_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx);

/* ---- helpers for backends ------------------------------------------------------- */

/* Appends an OpenAI chat.completion.chunk ("data: ...\n\n") carrying a
 * delta of text (NULL: none) and/or a finish reason (NULL: none). */
coop_err chunk_delta(struct coop_translate *t, struct coop_buf *out, const char *text, size_t len,
                     const char *finish_reason);
/* The usage chunk (when the client asked for it) and "data: [DONE]". */
coop_err chunk_done(struct coop_translate *t, struct coop_buf *out);
/* A complete chat.completion with one choice. */
coop_err completion_body(struct coop_translate *t, struct coop_buf *out, const char *text,
                         size_t len, const char *finish_reason);
/* The text of an OpenAI message's content (a string, or the text parts of
 * an array) appended to out. */
coop_err message_text(struct json_object *msg, struct coop_buf *out);
/* Copies member key of from into to when present. */
void copy_member(struct json_object *to, struct json_object *from, const char *key);
/* True when model is a safe path segment (letters, digits, - _ . @ and no ..). */
bool model_name_ok(const char *model);

/* OpenAI-compatible backends (OpenAI, DeepSeek, self-hosted) share these. */
coop_err openai_compat_build(const struct coop_provider_input *in,
                             struct coop_provider_request *out, bool store_false);
coop_err openai_compat_response(struct coop_translate *t, const char *body, size_t len,
                                struct coop_buf *out);
coop_err openai_compat_event(struct coop_translate *t, const char *event, const char *data,
                             size_t len, struct coop_buf *out);
/* The retention_policy annotation object (a new reference). */
struct json_object *retention_annotation(void);
/* Wipes and frees a buffer that held a secret. */
void buf_wipe(struct coop_buf *b);
/* Adds "Name: <prefix><secret>" to req, wiping the scratch copy. */
coop_err add_secret_header(struct coop_provider_request *req, const char *name, const char *prefix,
                           const char *secret);
/* Serializes obj compactly into buf. */
coop_err json_to_buf(struct json_object *obj, struct coop_buf *buf);

#endif

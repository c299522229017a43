/*
 * router: the Model Router. Every byte that leaves for an LLM provider
 * passes through one place (src/router/chat.c) that applies the provider
 * policy, sanitizes each message, adds the zero-retention layer and only
 * then hands the request to a provider backend. Backends translate between
 * the OpenAI chat-completions format spoken inbound and their provider's
 * native wire format, both ways, chunk by chunk when streaming.
 *
 * Outbound calls run on one router thread driving libcurl's multi
 * interface (connection reuse, timeouts, certificate verification always
 * on); HTTP handlers hand a request over and return at once, so no server
 * thread waits on a provider.
 */
#ifndef COOP_ROUTER_H
#define COOP_ROUTER_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/store.h"

struct json_object;
struct coop_http_server;
struct coop_vault;
struct coop_sanitizer;

/* ---- provider backends -------------------------------------------------- */

/* At most this many outbound headers per request. */
#define COOP_PROVIDER_MAX_HEADERS 16

/* What a backend builds for one outbound call. Strings are owned (heap). */
struct coop_provider_request {
    struct coop_buf url;  /* absolute; never holds a key */
    struct coop_buf body; /* native JSON */
    size_t nheaders;
    char *headers[COOP_PROVIDER_MAX_HEADERS]; /* "Name: value" */
    unsigned removed;                         /* COOP_FEATURE_* asked for but removed by policy */
    bool annotated;                           /* retention_policy went into the body */
    const char *problem;                      /* why build refused the request (static text) */
};

/* The request a backend sees: already checked against the policy and
 * sanitized, the confidentiality instruction first among the messages. */
struct coop_provider_input {
    struct json_object *body;     /* the inbound OpenAI-format body (borrowed) */
    struct json_object *messages; /* sanitized messages, system first (borrowed) */
    const char *model;            /* without the provider prefix */
    bool stream;
    const char *base_url; /* as configured, no trailing '/' */
    const char *api_key;  /* NULL when the provider takes none */
    unsigned features;    /* COOP_FEATURE_* the policy leaves enabled */
    bool body_annotation; /* put retention_policy in the body */
};

/* Features a policy can disable (disabled_features names in brackets). */
enum coop_provider_feature {
    COOP_FEATURE_GROUNDING = 1u << 0,       /* "grounding": web search tools */
    COOP_FEATURE_CACHED_CONTENT = 1u << 1,  /* "cached_content" */
    COOP_FEATURE_SESSION_STORAGE = 1u << 2, /* "session_storage" */
    COOP_FEATURE_TOOLS = 1u << 3,           /* "tools": function calling */
};

/* Translation state of one response, kept between chunks. */
struct coop_translate {
    char id[80];
    char model[128]; /* as the client named it, provider/model */
    int64_t created;
    int64_t input_tokens, output_tokens;
    bool usage_seen;
    bool role_sent;
    bool finished;      /* a finish_reason went out */
    bool done;          /* [DONE] went out */
    bool include_usage; /* client asked for the usage chunk */
    bool failed;        /* the provider reported an error in-stream */
    char finish_reason[24];
    /* The stop sequence that ended the answer, when the provider names it
     * (Anthropic); empty otherwise or when longer than fits. */
    char stop_sequence[128];
};

/*
 * A backend: a constant with a name and function pointers (one per file
 * under src/router/provider/). Callers go through src/router/chat.c.
 */
struct coop_provider_ops {
    int version;                  /* 1 */
    const char *name;             /* the model prefix: "openai" */
    const char *key_var;          /* "OPENAI_API_KEY" */
    const char *base_url_var;     /* "COOP_OPENAI_BASE_URL" */
    const char *default_base_url; /* NULL: must be configured */
    bool key_required;
    /* Native controls this backend applies (comma-separated names for the
     * audit row), besides the headers and the system instruction. */
    const char *native_controls;
    /* Builds url, headers (auth and content type; not the retention
     * headers, which the router adds) and body. */
    coop_err (*build)(const struct coop_provider_input *in, struct coop_provider_request *out);
    /* A whole native response body into an OpenAI chat.completion. */
    coop_err (*translate_response)(struct coop_translate *t, const char *body, size_t len,
                                   struct coop_buf *out);
    /* One native SSE event (event name may be NULL) into zero or more
     * OpenAI chunks, each written as "data: {...}\n\n". */
    coop_err (*translate_event)(struct coop_translate *t, const char *event, const char *data,
                                size_t len, struct coop_buf *out);
};

extern const struct coop_provider_ops coop_provider_openai;
extern const struct coop_provider_ops coop_provider_anthropic;
extern const struct coop_provider_ops coop_provider_gemini;
extern const struct coop_provider_ops coop_provider_deepseek;
extern const struct coop_provider_ops coop_provider_selfhosted;

/* NULL-terminated list of every backend. */
extern const struct coop_provider_ops *const coop_providers[];

/* The backend named name (length len), or NULL. */
const struct coop_provider_ops *coop_provider_find(const char *name, size_t len);

/* Frees what build put into req; it may be built again after. */
void coop_provider_request_dispose(struct coop_provider_request *req);
/* Adds "name: value" to req's headers. */
coop_err coop_provider_add_header(struct coop_provider_request *req, const char *name,
                                  const char *value);

/* ---- policy ------------------------------------------------------------- */

struct coop_policy;

/*
 * The provider policy (DESIGN.md section 6): built in, or read from
 * COOP_POLICY_FILE. The built-in policy enables each provider whose key
 * (self-hosted: base URL) is configured, blocks DeepSeek until
 * dpa_approved, and disables Gemini grounding, cached content and session
 * storage. On error, err names the problem (never a value from a key).
 */
coop_err coop_policy_load(const struct coop_config *cfg, struct coop_policy **out /* OUT */,
                          char *err, size_t errlen);
/*
 * The policy in force for a coopd on store: the one stored through PUT
 * /v1/admin/policy when there is one, else coop_policy_load's. store may
 * be NULL (nothing stored). A stored document that no longer parses is
 * refused (COOP_ERR_CONFIG), never passed over for the configured one.
 */
coop_err coop_policy_load_in_force(const struct coop_config *cfg, struct coop_store *store,
                                   struct coop_policy **out /* OUT */, char *err, size_t errlen);
/* Parses and validates a policy document (PUT /v1/admin/policy). */
coop_err coop_policy_parse(const char *json, size_t len, struct coop_policy **out /* OUT */,
                           char *err, size_t errlen);
void coop_policy_free(struct coop_policy *p);
/* The policy as JSON (a new reference the caller puts). */
struct json_object *coop_policy_to_json(const struct coop_policy *p);

/* Per-provider view; NULL for a provider the policy does not list. */
struct coop_provider_policy {
    char name[32];
    bool enabled;
    bool dpa_approved;
    bool body_annotation; /* retention_policy in the body (self-hosted) */
    char zero_retention[256];
    char policy_url[256];
    char verified_at[40];
    size_t nmodels;
    char **models;     /* allowed models; none listed: any */
    unsigned disabled; /* COOP_FEATURE_* */
};
const struct coop_provider_policy *coop_policy_provider(const struct coop_policy *p,
                                                        const char *name);
/* True when the policy's allowed-model list admits model. */
bool coop_policy_model_allowed(const struct coop_provider_policy *pp, const char *model);

/*
 * A route (the policy's "routes"): a model name clients use ("coop/smart",
 * or a provider/model name) mapped to the provider/model targets tried in
 * order. Each target is checked against the policy when its turn comes;
 * one the policy refuses is skipped, never called.
 */
#define COOP_ROUTE_MAX_TARGETS 8
#define COOP_POLICY_MAX_ROUTES 64
struct coop_route {
    char name[128];
    size_t ntargets;
    char targets[COOP_ROUTE_MAX_TARGETS][128];
};
/* The route named name, or NULL. */
const struct coop_route *coop_policy_route(const struct coop_policy *p, const char *name);
/* Route i (0 <= i < count), for listing; NULL past the end. */
const struct coop_route *coop_policy_route_at(const struct coop_policy *p, size_t i);

/*
 * The startup compliance checks of each enabled provider: a key, an https
 * endpoint (loopback http allowed), a policy_url, a verified_at no older
 * than 180 days (older: warning), DeepSeek only with DPA approval, Gemini
 * features disabled. Writes one line per finding to out (may be NULL) and
 * returns how many failures there were; *warnings (may be NULL) gets the
 * warnings. Never prints a key.
 */
int coop_router_check(const struct coop_config *cfg, const struct coop_policy *p,
                      struct coop_buf *out, int *warnings /* OUT */);

/* True when url is https://, or http:// to a loopback host. */
bool coop_router_url_allowed(const char *url);

/* ---- the module --------------------------------------------------------- */

struct coop_router;

/*
 * Loads the policy, checks base URLs (a non-loopback http:// one is
 * refused) and prepares the outbound client; the thread starts with start.
 * sanitizer is the compiled rule set every message passes through (shared,
 * borrowed). cfg, store and sanitizer must outlive the router.
 */
coop_err coop_router_new(const struct coop_config *cfg, struct coop_store *store,
                         const struct coop_sanitizer *sanitizer,
                         struct coop_router **out /* OUT */);
/* Adds /v1/chat/completions, /v1/messages, /v1/models, /v1/ask,
 * GET/PUT/DELETE /v1/admin/policy, GET/PUT /v1/admin/budgets and GET
 * /v1/admin/usage. */
coop_err coop_router_register(struct coop_router *r, struct coop_http_server *srv);
/* The policy in force as JSON (a new reference the caller puts), for the
 * retention report and attestations. */
struct json_object *coop_router_policy_json(struct coop_router *r);
/* Sets the vault BYOK keys come from (before start; NULL: none). */
void coop_router_set_vault(struct coop_router *r, struct coop_vault *vault);
coop_err coop_router_start(struct coop_router *r);
/* Stops the router thread; transfers in flight end with an error event. */
void coop_router_stop(struct coop_router *r);
void coop_router_free(struct coop_router *r);

#endif

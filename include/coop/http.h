/*
 * http: the server every request enters by. libmicrohttpd underneath (epoll,
 * a thread pool sized to the cores, optional TLS 1.2+), a routing table with
 * per-route body limits and required scopes, request ids, JSON errors,
 * bearer authentication, metrics, and streaming responses.
 *
 * Handlers run on the server's threads and may block briefly (a store
 * query). Anything slow (an LLM call) takes the response over as a stream
 * and completes it from another thread, so no server thread waits on it.
 */
#ifndef COOP_HTTP_H
#define COOP_HTTP_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/store.h"

struct coop_store;
struct json_object;

/* ---- scopes and tokens ------------------------------------------------- */

enum coop_scope {
    COOP_SCOPE_NONE = 0,
    COOP_SCOPE_READ = 1u << 0,
    COOP_SCOPE_LLM = 1u << 1,
    COOP_SCOPE_ADMIN = 1u << 2,
    COOP_SCOPE_ALL = (1u << 3) - 1,
};

/* "read", "llm", "admin" -> the scope bit; 0 when unknown. */
unsigned coop_scope_parse(const char *name);
/* Comma-separated names of the bits of scopes into out. */
void coop_scope_format(unsigned scopes, char *out, size_t size);

/* The principal a request runs as. */
struct coop_principal {
    unsigned scopes;
    char token_id[40];  /* "env" for COOP_API_TOKEN, "dev" when auth is off */
    char customer[128]; /* empty when the token is bound to no customer */
};

/*
 * Creates a token: writes the token itself (shown once, never stored) into
 * token_out and its public id into id_out. Only the SHA-256 of the token is
 * stored, with its scopes and customer.
 */
coop_err coop_auth_token_create(struct coop_store *store, unsigned scopes, const char *customer,
                                char token_out[80], char id_out[40]);
/* Looks a presented token up by its hash; COOP_ERR_AUTH when unknown or revoked. */
coop_err coop_auth_token_lookup(struct coop_store *store, const char *token,
                                struct coop_principal *out /* OUT */);
coop_err coop_auth_token_revoke(struct coop_store *store, const char *id);
/* Lists tokens (id, scopes, customer, created, last used, revoked) as JSON
 * rows; never the token nor its hash. *out is owned by the caller. */
coop_err coop_auth_token_list(struct coop_store *store, struct json_object **out /* OUT */);

/* The schema of the tokens table (listed in src/store/schema.c). */
extern const struct coop_migration coop_auth_migrations[];

/* ---- requests and responses -------------------------------------------- */

#define COOP_HTTP_MAX_PARAMS 4

struct coop_http_request {
    const char *method;
    const char *path;       /* without the query string */
    const char *route;      /* the matched pattern, e.g. "/v1/jobs/{id}" */
    const char *request_id; /* accepted from X-Request-Id or generated */
    const char *body;       /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    const char *params[COOP_HTTP_MAX_PARAMS]; /* {name} segments, in order */
    struct coop_principal principal;
    int64_t start_ns;
    void *internal; /* the server's; do not touch */
};

/* A request header (case-insensitive) or NULL. Valid during the request. */
const char *coop_http_header(const struct coop_http_request *req, const char *name);
/* A query-string argument, decoded, or NULL. */
const char *coop_http_query(const struct coop_http_request *req, const char *name);
/*
 * Hands the request body over to the caller, who then owns it (malloc'd,
 * NUL-terminated, *len bytes; free() it) and may keep it past the request,
 * for instance until a held stream is answered. req->body is empty after.
 */
char *coop_http_take_body(struct coop_http_request *req, size_t *len /* OUT */);

#define COOP_HTTP_MAX_HEADERS 12

struct coop_http_response {
    unsigned status;
    struct coop_buf body;
    const char *content_type; /* a static string; JSON when NULL */
    size_t nheaders;
    char *header_names[COOP_HTTP_MAX_HEADERS];
    char *header_values[COOP_HTTP_MAX_HEADERS];
};

/* Adds a response header (both strings are copied). */
coop_err coop_http_set_header(struct coop_http_response *res, const char *name, const char *value);
/*
 * Sets the standard error body {"error":{"code","message","request_id"}}.
 * code is a stable machine name ("not_found"); message is for people and
 * must never contain input or secrets.
 */
void coop_http_error(struct coop_http_response *res, const struct coop_http_request *req,
                     unsigned status, const char *code, const char *message);

/* Anthropic's error type for an HTTP status ("invalid_request_error",
 * "rate_limit_error", ...; "api_error" for any other), as the errors of
 * COOP_ROUTE_ANTHROPIC routes and the router's /v1/messages stream carry it. */
const char *coop_http_anthropic_error_type(unsigned status);
/* Serializes obj as the body with status; does not take obj's reference. */
void coop_http_json(struct coop_http_response *res, unsigned status, struct json_object *obj);
/* Sets a preformatted JSON body. */
void coop_http_json_text(struct coop_http_response *res, unsigned status, const char *json);

/* ---- routes ------------------------------------------------------------ */

typedef void (*coop_http_handler)(struct coop_http_request *req, struct coop_http_response *res,
                                  void *ctx);

/* Scope value for routes that need no token at all. */
#define COOP_ROUTE_PUBLIC 0u
/* Scope flag: open in development mode even when a token is configured
 * (GET /metrics). */
#define COOP_ROUTE_DEV_OPEN (1u << 8)
/* Scope flag: the route speaks Anthropic's API (POST /v1/messages). The
 * token may also come in an x-api-key header, and coop_http_error answers
 * in Anthropic's error shape, {"type":"error","error":{"type","message"}},
 * with Coop's code and request_id added inside "error". */
#define COOP_ROUTE_ANTHROPIC (1u << 9)

struct coop_http_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/jobs/{id}": a {name} matches one segment */
    unsigned scope;      /* scopes the principal needs (any of them); 0: public */
    size_t max_body;     /* larger bodies get 413 before being read */
    coop_http_handler handler;
    void *ctx;
    /* Routes that authenticate themselves (webhook signatures) set this:
     * no bearer token is asked for. */
    bool self_authenticated;
};

/* ---- streams ----------------------------------------------------------- */

/*
 * A response whose body arrives later, from any thread. A handler calls
 * coop_http_stream_start() and returns; the server keeps the connection and
 * sends what is written. coop_http_stream_end() finishes the body and gives
 * the stream up: the pointer is no longer valid after it.
 */
struct coop_http_stream;

struct coop_http_stream *coop_http_stream_start(struct coop_http_request *req,
                                                struct coop_http_response *res,
                                                unsigned status, const char *content_type);
/*
 * A stream started with status 0 holds its status line and headers back
 * (the connection waits without a server thread) until this call, or the
 * first write or the end, which send 200 with the start's content type.
 * Sets the status and, when not NULL, the content type (a static string);
 * COOP_ERR_CONFLICT once the headers are decided.
 */
coop_err coop_http_stream_set_status(struct coop_http_stream *s, unsigned status,
                                     const char *content_type);
/* Adds a response header (both copied) while the stream is held, before
 * coop_http_stream_set_status; COOP_ERR_CONFLICT after. */
coop_err coop_http_stream_add_header(struct coop_http_stream *s, const char *name,
                                     const char *value);
/* Queues bytes; COOP_ERR_IO once the client has gone (stop producing). */
coop_err coop_http_stream_write(struct coop_http_stream *s, const void *data, size_t len);
bool coop_http_stream_closed(struct coop_http_stream *s);
/* Sets the status (when still held), writes data and ends, in one step:
 * the connection is woken once, with the whole answer ready. The pointer
 * is no longer valid after it. */
void coop_http_stream_reply(struct coop_http_stream *s, unsigned status, const char *content_type,
                            const void *data, size_t len);
void coop_http_stream_end(struct coop_http_stream *s);

/* ---- the server -------------------------------------------------------- */

struct coop_http_server;

struct coop_http_options {
    const struct coop_config *config;
    struct coop_store *store; /* for token lookup and /readyz */
    /* No listening socket: connections are handed in with
     * coop_http_add_connection() (fuzzing, socket activation). */
    bool no_listen;
};

coop_err coop_http_new(const struct coop_http_options *opt, struct coop_http_server **out /* OUT */);
/* Adds a route; the struct is copied. Add all routes before start. */
coop_err coop_http_add_route(struct coop_http_server *srv, const struct coop_http_route *route);
/* Adds /healthz, /readyz and /metrics. */
coop_err coop_http_add_core_routes(struct coop_http_server *srv);
/* Starts listening; *port (may be NULL) gets the bound port. */
coop_err coop_http_start(struct coop_http_server *srv, uint16_t *port /* OUT */);
/* Hands an accepted (or socketpair) descriptor to the server, which owns it. */
coop_err coop_http_add_connection(struct coop_http_server *srv, int fd);
/* Stops accepting, lets in-flight requests finish for up to grace_ms, stops. */
void coop_http_shutdown(struct coop_http_server *srv, int grace_ms);
void coop_http_free(struct coop_http_server *srv);

#endif

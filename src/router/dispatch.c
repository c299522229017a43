/*
 * The request side of a chat: from the parsed OpenAI-format body to a
 * call handed to the router thread. Policy first (nothing about a refused
 * request leaves), then the sanitized copy of every message behind the
 * confidentiality instruction, then the backend's native request with the
 * zero-retention headers added here, for every provider alike.
 */
#include "router_int.h"

#include "coop/vault.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 4096

static const char *const retention_headers[][2] = {
    {"x-data-retention-policy", "zero-retention"},
    {"x-use-case", "code-intelligence"},
    {"x-enterprise-mode", "true"},
    {"x-no-training", "true"},
    {"x-no-logging", "true"},
};

struct scrub {
    const struct coop_sanitizer *sanitizer;
    struct coop_sanitize_counts counts;
    struct coop_buf text, clean;
};

/* Sanitized copy of one text as a JSON string. */
static coop_err clean_string(struct scrub *s, const char *text, size_t len,
                             struct json_object **out)
{
    coop_buf_reset(&s->clean);
    coop_err err = coop_sanitize_payload(s->sanitizer, COOP_SANITIZE_SECRETS, text, len, &s->clean,
                                         &s->counts);
    if (err)
        return err;
    *out = json_object_new_string_len(s->clean.data ? s->clean.data : "", (int)s->clean.len);
    return *out ? COOP_ERR_OK : COOP_ERR_NOMEM;
}

static bool role_ok(const char *role)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};
    for (size_t i = 0; role && roles[i]; i++)
        if (strcmp(role, roles[i]) == 0)
            return true;
    return false;
}

/* tool_calls of an assistant message, arguments sanitized. */
static coop_err clean_tool_calls(struct scrub *s, struct json_object *calls, struct json_object *m)
{
    struct json_object *arr = json_object_new_array();
    json_object_object_add(m, "tool_calls", arr);
    for (size_t i = 0; i < json_object_array_length(calls); i++) {
        struct json_object *c = json_object_array_get_idx(calls, i);
        struct json_object *fn = coop_json_obj(c, "function");
        const char *id = coop_json_str(c, "id"), *name = coop_json_str(fn, "name");
        const char *args = coop_json_str(fn, "arguments");
        if (!id || !name || !args)
            return COOP_ERR_INVALID;
        struct json_object *nc = json_object_new_object(), *nf = json_object_new_object(), *a;
        json_object_object_add(nc, "id", json_object_new_string(id));
        json_object_object_add(nc, "type", json_object_new_string("function"));
        json_object_object_add(nf, "name", json_object_new_string(name));
        coop_err err = clean_string(s, args, strlen(args), &a);
        if (err) {
            json_object_put(nc);
            json_object_put(nf);
            return err;
        }
        json_object_object_add(nf, "arguments", a);
        json_object_object_add(nc, "function", nf);
        json_object_array_add(arr, nc);
    }
    return COOP_ERR_OK;
}

/* The messages as they will leave: the instruction first, then each
 * message with its text sanitized (content becomes one string). */
static coop_err clean_messages(struct scrub *s, struct json_object *in, struct json_object **out,
                               const char **problem)
{
    size_t n = json_object_array_length(in);
    if (n == 0 || n > MAX_MESSAGES) {
        *problem = "messages must hold between 1 and 4096 messages";
        return COOP_ERR_INVALID;
    }
    struct json_object *arr = json_object_new_array();
    struct json_object *sys = json_object_new_object();
    json_object_object_add(sys, "role", json_object_new_string("system"));
    json_object_object_add(sys, "content", json_object_new_string(router_instruction));
    json_object_array_add(arr, sys);
    coop_err err = COOP_ERR_OK;
    for (size_t i = 0; i < n && !err; i++) {
        struct json_object *m = json_object_array_get_idx(in, i);
        const char *role = coop_json_str(m, "role");
        if (!json_object_is_type(m, json_type_object) || !role_ok(role)) {
            *problem = "each message needs a role: system, developer, user, assistant or tool";
            err = COOP_ERR_INVALID;
            break;
        }
        coop_buf_reset(&s->text);
        if (message_text(m, &s->text)) {
            *problem = "message content must be a string or an array of text parts";
            err = COOP_ERR_INVALID;
            break;
        }
        struct json_object *nm = json_object_new_object(), *content = NULL;
        json_object_object_add(nm, "role", json_object_new_string(role));
        err = clean_string(s, s->text.data ? s->text.data : "", s->text.len, &content);
        if (!err)
            json_object_object_add(nm, "content", content);
        const char *tcid = coop_json_str(m, "tool_call_id");
        if (tcid)
            json_object_object_add(nm, "tool_call_id", json_object_new_string(tcid));
        struct json_object *calls = coop_json_arr(m, "tool_calls");
        if (!err && calls && (err = clean_tool_calls(s, calls, nm)) == COOP_ERR_INVALID)
            *problem = "tool_calls need an id and a function with name and arguments";
        json_object_array_add(arr, nm);
    }
    if (err) {
        json_object_put(arr);
        return err;
    }
    *out = arr;
    return COOP_ERR_OK;
}

static char *counts_json(const struct coop_sanitize_counts *c)
{
    if (c->total == 0)
        return NULL;
    struct coop_buf b;
    coop_buf_init(&b, MAX_ANSWER);
    coop_buf_puts(&b, "{");
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            coop_buf_puts(&b, ",");
        coop_buf_json_str(&b, c->by_rule[i].rule_id, strlen(c->by_rule[i].rule_id));
        coop_buf_printf(&b, ":%u", c->by_rule[i].count);
    }
    coop_buf_puts(&b, "}");
    return coop_buf_steal(&b, NULL);
}

static void zero_retention_names(struct call *call, const struct coop_provider_ops *ops)
{
    struct coop_buf b;
    coop_buf_init(&b, sizeof call->zero_retention - 1);
    coop_buf_puts(&b, "system_instruction,headers,sanitized");
    if (call->req.annotated)
        coop_buf_puts(&b, ",annotation");
    if (ops->native_controls[0])
        coop_buf_printf(&b, ",%s", ops->native_controls);
    if (call->req.removed)
        coop_buf_puts(&b, ",features_removed");
    coop_strlcpy(call->zero_retention, b.data ? b.data : "", sizeof call->zero_retention);
    coop_buf_dispose(&b);
}

/* Policy: returns 0 when the request may go, else the status answered. */
static unsigned check_policy(struct coop_router *r, const struct coop_provider_ops *ops,
                             const char *model, struct coop_http_request *req,
                             struct coop_http_response *res, struct coop_provider_input *in,
                             bool *annotate)
{
    const struct coop_policy *p = router_policy_hold(r);
    const struct coop_provider_policy *pp = coop_policy_provider(p, ops->name);
    unsigned status = 0;
    char msg[200];
    if (pp && strcmp(ops->name, "deepseek") == 0 && !pp->dpa_approved) {
        status = 403;
        coop_http_error(res, req, 403, "dpa_not_approved",
                        "deepseek is blocked: the provider policy has no DPA approval "
                        "(dpa_approved is false)");
    } else if (!pp || !pp->enabled) {
        status = 403;
        snprintf(msg, sizeof msg, "the provider %s is not enabled by the provider policy",
                 ops->name);
        coop_http_error(res, req, 403, "provider_disabled", msg);
    } else if (!coop_policy_model_allowed(pp, model)) {
        status = 403;
        coop_http_error(res, req, 403, "model_not_allowed",
                        "the provider policy does not allow this model");
    } else {
        in->features = (COOP_FEATURE_GROUNDING | COOP_FEATURE_CACHED_CONTENT |
                        COOP_FEATURE_SESSION_STORAGE | COOP_FEATURE_TOOLS) &
                       ~pp->disabled;
        *annotate = pp->body_annotation;
    }
    router_policy_release(r);
    return status;
}

static struct call *new_call(struct coop_router *r, const struct coop_provider_ops *ops,
                             struct coop_http_request *req, const char *model_full)
{
    struct call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->router = r;
    call->ops = ops;
    call->start_ns = req->start_ns;
    call->last_write_ns = coop_clock_mono_ns();
    coop_buf_init(&call->body, MAX_ANSWER);
    coop_buf_init(&call->out, MAX_ANSWER);
    sse_init(&call->sse, MAX_SSE_EVENT);
    coop_strlcpy(call->request_id, req->request_id, sizeof call->request_id);
    coop_strlcpy(call->customer, req->principal.customer, sizeof call->customer);
    coop_strlcpy(call->provider, ops->name, sizeof call->provider);
    const char *slash = strchr(model_full, '/');
    coop_strlcpy(call->model, slash + 1, sizeof call->model);
    coop_strlcpy(call->t.model, model_full, sizeof call->t.model);
    memcpy(call->t.id, "chatcmpl-", 9);
    coop_random_hex(call->t.id + 9, 12);
    call->t.created = coop_clock_now_ms() / 1000;
    return call;
}

static coop_err add_retention_headers(struct coop_provider_request *req)
{
    coop_err err = COOP_ERR_OK;
    for (size_t i = 0; !err && i < sizeof retention_headers / sizeof retention_headers[0]; i++)
        err = coop_provider_add_header(req, retention_headers[i][0], retention_headers[i][1]);
    return err;
}

/* Parses "provider/model"; answers 400 itself when malformed. */
static const struct coop_provider_ops *parse_model(struct json_object *body,
                                                   struct coop_http_request *req,
                                                   struct coop_http_response *res,
                                                   const char **full)
{
    const char *model = coop_json_str(body, "model");
    const char *slash = model ? strchr(model, '/') : NULL;
    if (!slash || slash[1] == '\0' || strlen(model) >= 128) {
        coop_http_error(res, req, 400, "invalid_model",
                        "model must be \"provider/model\", e.g. \"openai/gpt-4o\"");
        return NULL;
    }
    const struct coop_provider_ops *ops = coop_provider_find(model, (size_t)(slash - model));
    if (!ops) {
        coop_http_error(res, req, 400, "unknown_provider",
                        "the provider must be openai, anthropic, gemini, deepseek or selfhosted");
        return NULL;
    }
    for (const char *c = slash + 1; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f) {
            coop_http_error(res, req, 400, "invalid_model",
                            "the model name has invalid characters");
            return NULL;
        }
    *full = model;
    return ops;
}

static bool read_stream_flags(struct json_object *body, bool *stream, bool *usage)
{
    struct json_object *v = NULL;
    *stream = false;
    *usage = false;
    if (json_object_object_get_ex(body, "stream", &v) && v) {
        if (!json_object_is_type(v, json_type_boolean))
            return false;
        *stream = json_object_get_boolean(v);
    }
    struct json_object *so = coop_json_obj(body, "stream_options");
    bool b;
    if (so && coop_json_bool(so, "include_usage", &b))
        *usage = b;
    return true;
}

static struct call *build_call(struct coop_router *r, const struct coop_provider_ops *ops,
                               struct coop_http_request *req, struct coop_http_response *res,
                               struct coop_provider_input *in, struct json_object *msgs,
                               struct json_object **clean, const char *full, bool usage);

/* Prepares the call; on failure answers res and returns NULL. */
static struct call *prepare(struct coop_router *r, struct coop_http_request *req,
                            struct coop_http_response *res, struct json_object *body,
                            struct json_object **clean)
{
    const char *full = NULL;
    const struct coop_provider_ops *ops = parse_model(body, req, res, &full);
    if (!ops)
        return NULL;
    const char *model = strchr(full, '/') + 1;
    struct coop_provider_input in = {.body = body, .model = model};
    bool annotate = false, usage = false;
    if (!read_stream_flags(body, &in.stream, &usage)) {
        coop_http_error(res, req, 400, "invalid_request", "stream must be a boolean");
        return NULL;
    }
    struct json_object *msgs = coop_json_arr(body, "messages");
    if (!msgs) {
        coop_http_error(res, req, 400, "invalid_request", "messages must be an array");
        return NULL;
    }
    unsigned status = check_policy(r, ops, model, req, res, &in, &annotate);
    if (status) {
        router_audit_refused(r, req, ops->name, model, "blocked", (int)status);
        return NULL;
    }
    in.body_annotation = annotate;
    in.api_key = coop_config_get(r->cfg, ops->key_var);
    in.base_url = coop_config_get(r->cfg, ops->base_url_var);
    if (!in.base_url)
        in.base_url = ops->default_base_url;
    /* A token bound to a customer uses that customer's own key when one is
     * stored; a key that exists but cannot be opened fails the request
     * rather than falling back to the server's key. */
    struct coop_vault_secret *byok = NULL;
    if (req->principal.customer[0] && r->vault) {
        coop_err ve = coop_vault_open_key(r->vault, req->principal.customer, ops->name, &byok);
        if (ve == COOP_ERR_OK) {
            in.api_key = byok->data;
        } else if (ve != COOP_ERR_NOT_FOUND) {
            coop_http_error(res, req, 503, "byok_unavailable",
                            "the customer's own key for this provider cannot be used");
            router_audit_refused(r, req, ops->name, model, "error", 503);
            return NULL;
        }
    }
    if ((ops->key_required && !in.api_key) || !in.base_url) {
        coop_http_error(res, req, 503, "provider_not_configured",
                        "the provider has no key or endpoint configured on this server");
        router_audit_refused(r, req, ops->name, model, "error", 503);
        coop_vault_secret_free(byok);
        return NULL;
    }
    struct call *call = build_call(r, ops, req, res, &in, msgs, clean, full, usage);
    if (call)
        call->byok = byok != NULL;
    coop_vault_secret_free(byok);
    return call;
}

/* Sanitizes, builds the native request and the call. */
static struct call *build_call(struct coop_router *r, const struct coop_provider_ops *ops,
                               struct coop_http_request *req, struct coop_http_response *res,
                               struct coop_provider_input *in, struct json_object *msgs,
                               struct json_object **clean, const char *full, bool usage)
{
    struct scrub s = {.sanitizer = r->sanitizer};
    coop_buf_init(&s.text, MAX_ANSWER);
    coop_buf_init(&s.clean, MAX_ANSWER);
    const char *problem = "the request could not be prepared";
    coop_err err = clean_messages(&s, msgs, clean, &problem);
    coop_buf_dispose(&s.text);
    coop_buf_dispose(&s.clean);
    if (err) {
        coop_http_error(res, req, err == COOP_ERR_INVALID ? 400 : 500,
                        err == COOP_ERR_INVALID ? "invalid_request" : "internal", problem);
        return NULL;
    }
    in->messages = *clean;
    struct call *call = new_call(r, ops, req, full);
    if (!call) {
        coop_http_error(res, req, 500, "internal", "out of memory");
        return NULL;
    }
    call->stream_mode = in->stream;
    call->t.include_usage = usage;
    call->sanitizer_counts = counts_json(&s.counts);
    coop_buf_init(&call->req.url, 8192);
    coop_buf_init(&call->req.body, MAX_ANSWER);
    err = ops->build(in, &call->req);
    if (!err)
        err = add_retention_headers(&call->req);
    if (err) {
        coop_http_error(res, req, err == COOP_ERR_INVALID ? 400 : 500,
                        err == COOP_ERR_INVALID ? "unsupported_request" : "internal",
                        call->req.problem ? call->req.problem : "the request could not be built");
        call_free(call);
        return NULL;
    }
    zero_retention_names(call, ops);
    return call;
}

void router_chat(struct coop_router *r, struct coop_http_request *req,
                 struct coop_http_response *res, struct json_object *body)
{
    struct json_object *clean = NULL;
    struct call *call = prepare(r, req, res, body, &clean);
    json_object_put(clean);
    json_object_put(body);
    if (!call)
        return;
    call->stream = coop_http_stream_start(
        req, res, 0, call->stream_mode ? "text/event-stream" : "application/json");
    if (!call->stream) {
        coop_http_error(res, req, 500, "internal", "the response stream could not start");
        call_free(call);
        return;
    }
    client_submit(r->client, call);
}

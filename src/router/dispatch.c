/*
 * The request side of a chat: from the parsed OpenAI-format body to a
 * call handed to the router thread. Policy first (nothing about a refused
 * request leaves), then the sanitized copy of every message behind the
 * confidentiality instruction, then the backend's native request with the
 * zero-retention headers added here, for every provider alike.
 */
#include "router_int.h"

#include "coop/vault.h"

#include <sodium.h>

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

/* Policy for one target: false (and *why) when the policy refuses it. */
static bool check_policy(struct coop_router *r, const struct coop_provider_ops *ops,
                         const char *model, struct coop_provider_input *in, struct step_error *why)
{
    const struct coop_policy *p = router_policy_hold(r);
    const struct coop_provider_policy *pp = coop_policy_provider(p, ops->name);
    bool ok = false;
    why->status = 403;
    why->blocked = true;
    if (pp && strcmp(ops->name, "deepseek") == 0 && !pp->dpa_approved) {
        why->code = "dpa_not_approved";
        coop_strlcpy(why->message,
                     "deepseek is blocked: the provider policy has no DPA approval "
                     "(dpa_approved is false)",
                     sizeof why->message);
    } else if (!pp || !pp->enabled) {
        why->code = "provider_disabled";
        snprintf(why->message, sizeof why->message,
                 "the provider %s is not enabled by the provider policy", ops->name);
    } else if (!coop_policy_model_allowed(pp, model)) {
        why->code = "model_not_allowed";
        coop_strlcpy(why->message, "the provider policy does not allow this model",
                     sizeof why->message);
    } else {
        in->features = (COOP_FEATURE_GROUNDING | COOP_FEATURE_CACHED_CONTENT |
                        COOP_FEATURE_SESSION_STORAGE | COOP_FEATURE_TOOLS) &
                       ~pp->disabled;
        in->body_annotation = pp->body_annotation;
        ok = true;
        why->blocked = false;
    }
    router_policy_release(r);
    return ok;
}

static void step_fail(struct step_error *why, unsigned status, const char *code,
                      const char *message)
{
    why->status = status;
    why->code = code;
    why->blocked = false;
    coop_strlcpy(why->message, message, sizeof why->message);
}

static struct call *new_call(struct coop_router *r, struct coop_http_request *req,
                             const char *requested)
{
    struct call *call = calloc(1, sizeof *call);
    if (!call)
        return NULL;
    call->router = r;
    call->start_ns = req->start_ns;
    call->last_write_ns = coop_clock_mono_ns();
    call->deadline_ns = req->start_ns + (int64_t)r->retry.deadline_ms * 1000000;
    call->key_index = -1;
    call->retry_after_ms = -1;
    coop_buf_init(&call->body, MAX_ANSWER);
    coop_buf_init(&call->out, MAX_ANSWER);
    coop_buf_init(&call->route, 4000);
    sse_init(&call->sse, MAX_SSE_EVENT);
    coop_strlcpy(call->request_id, req->request_id, sizeof call->request_id);
    coop_strlcpy(call->customer, req->principal.customer, sizeof call->customer);
    coop_strlcpy(call->token_id, req->principal.token_id, sizeof call->token_id);
    coop_strlcpy(call->requested, requested, sizeof call->requested);
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

/* The targets of the request: a route of the policy, or "provider/model"
 * (answers 400 itself when malformed). */
static bool resolve_targets(struct coop_router *r, struct json_object *body,
                            struct coop_http_request *req, struct coop_http_response *res,
                            const char **requested)
{
    const char *model = coop_json_str(body, "model");
    const char *slash = model ? strchr(model, '/') : NULL;
    if (!slash || slash[1] == '\0' || strlen(model) >= 128) {
        coop_http_error(res, req, 400, "invalid_model",
                        "model must be \"provider/model\", e.g. \"openai/gpt-4o\"");
        return false;
    }
    for (const char *c = slash + 1; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f) {
            coop_http_error(res, req, 400, "invalid_model",
                            "the model name has invalid characters");
            return false;
        }
    *requested = model;
    const struct coop_route *rt = coop_policy_route(router_policy_hold(r), model);
    bool found = rt != NULL;
    router_policy_release(r);
    if (!found && !coop_provider_find(model, (size_t)(slash - model))) {
        coop_http_error(res, req, 400, "unknown_provider",
                        "the provider must be openai, anthropic, gemini, deepseek or selfhosted, "
                        "or the model a route of the provider policy");
        return false;
    }
    return true;
}

/* Copies the route (or the one model) into the call; the route is read
 * again under the policy lock, which a PUT may have changed since. */
static bool set_targets(struct call *call)
{
    struct coop_router *r = call->router;
    const struct coop_route *rt = coop_policy_route(router_policy_hold(r), call->requested);
    if (rt) {
        call->ntargets = rt->ntargets;
        for (size_t i = 0; i < rt->ntargets; i++)
            coop_strlcpy(call->targets[i], rt->targets[i], sizeof call->targets[i]);
    }
    router_policy_release(r);
    if (!rt) {
        const char *slash = strchr(call->requested, '/');
        if (!coop_provider_find(call->requested, (size_t)(slash - call->requested)))
            return false;
        call->ntargets = 1;
        coop_strlcpy(call->targets[0], call->requested, sizeof call->targets[0]);
    }
    return true;
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

void call_record_step(struct call *call, const char *result, long status)
{
    struct coop_buf *b = &call->route;
    size_t mark = b->len;
    coop_err e = coop_buf_puts(b, b->len ? ",{\"target\":" : "{\"target\":");
    if (!e)
        e = coop_buf_json_str(b, call->targets[call->target], strlen(call->targets[call->target]));
    if (!e)
        e = coop_buf_puts(b, ",\"result\":");
    if (!e)
        e = coop_buf_json_str(b, result, strlen(result));
    if (!e && status)
        e = coop_buf_printf(b, ",\"status\":%ld", status);
    if (!e && call->key_index >= 0 && strcmp(result, "skipped") != 0)
        e = coop_buf_printf(b, ",\"key\":%d", call->key_index);
    if (!e)
        e = coop_buf_puts(b, "}");
    if (e) /* the record is bounded: steps past it are counted, not listed */
        b->len = mark;
}

/* Sanitizes the messages once, for every target and attempt. */
static bool sanitize_once(struct call *call, struct step_error *why, bool *final)
{
    if (call->in_msgs)
        return true;
    struct scrub s = {.sanitizer = call->router->sanitizer};
    coop_buf_init(&s.text, MAX_ANSWER);
    coop_buf_init(&s.clean, MAX_ANSWER);
    const char *problem = "the request could not be prepared";
    coop_err err =
        clean_messages(&s, coop_json_arr(call->in_body, "messages"), &call->in_msgs, &problem);
    coop_buf_dispose(&s.text);
    coop_buf_dispose(&s.clean);
    if (err) {
        step_fail(why, err == COOP_ERR_INVALID ? 400 : 500,
                  err == COOP_ERR_INVALID ? "invalid_request" : "internal", problem);
        *final = true;
        return false;
    }
    call->sanitizer_counts = counts_json(&s.counts);
    return true;
}

/* The key for this attempt: the customer's own (never pooled, never
 * replaced by the server's when it exists), else one of the pool. */
static bool choose_key(struct call *call, const struct coop_provider_ops *ops,
                       struct coop_provider_input *in, struct coop_vault_secret **byok,
                       struct step_error *why)
{
    struct coop_router *r = call->router;
    call->key_index = -1;
    call->byok = false;
    if (call->customer[0] && r->vault) {
        coop_err ve = coop_vault_open_key(r->vault, call->customer, ops->name, byok);
        if (ve == COOP_ERR_OK) {
            in->api_key = (*byok)->data;
            call->byok = true;
            return true;
        }
        if (ve != COOP_ERR_NOT_FOUND) {
            step_fail(why, 503, "byok_unavailable",
                      "the customer's own key for this provider cannot be used");
            return false;
        }
    }
    size_t slot = 0;
    while (coop_providers[slot] && coop_providers[slot] != ops)
        slot++;
    struct key_pool *pool = slot < sizeof r->pools / sizeof r->pools[0] ? r->pools[slot] : NULL;
    if (pool) {
        call->key_index = key_pool_pick(pool, coop_clock_mono_ns(), randombytes_random(), -1);
        in->api_key = key_pool_key(pool, call->key_index);
    }
    return true;
}

/* Prepares the current target, or says why it cannot be used. */
static bool prepare_target(struct call *call, struct step_error *why, bool *final)
{
    struct coop_router *r = call->router;
    const char *full = call->targets[call->target];
    const char *slash = strchr(full, '/');
    const struct coop_provider_ops *ops = coop_provider_find(full, (size_t)(slash - full));
    call->ops = ops;
    coop_strlcpy(call->provider, ops->name, sizeof call->provider);
    coop_strlcpy(call->model, slash + 1, sizeof call->model);
    coop_strlcpy(call->t.model, full, sizeof call->t.model);
    struct coop_provider_input in = {
        .body = call->in_body, .model = call->model, .stream = call->stream_mode};
    if (!check_policy(r, ops, call->model, &in, why))
        return false;
    if (!sanitize_once(call, why, final))
        return false;
    /* The same target again with the customer's own key, on the same
     * policy terms: the request built for the last attempt goes again, so
     * the router thread does not read the key from the store again. */
    if (call->byok && call->built && call->built_target == call->target &&
        call->built_features == in.features && call->built_annotation == in.body_annotation)
        return true;
    call->built = false;
    in.messages = call->in_msgs;
    in.base_url = coop_config_get(r->cfg, ops->base_url_var);
    if (!in.base_url)
        in.base_url = ops->default_base_url;
    struct coop_vault_secret *byok = NULL;
    if (!choose_key(call, ops, &in, &byok, why))
        return false;
    if ((ops->key_required && !in.api_key) || !in.base_url) {
        step_fail(why, 503, "provider_not_configured",
                  "the provider has no key or endpoint configured on this server");
        coop_vault_secret_free(byok);
        return false;
    }
    coop_provider_request_dispose(&call->req);
    memset(&call->req, 0, sizeof call->req);
    coop_buf_init(&call->req.url, 8192);
    coop_buf_init(&call->req.body, MAX_ANSWER);
    coop_err err = ops->build(&in, &call->req);
    coop_vault_secret_free(byok);
    if (!err)
        err = add_retention_headers(&call->req);
    if (err) {
        step_fail(why, err == COOP_ERR_INVALID ? 400 : 500,
                  err == COOP_ERR_INVALID ? "unsupported_request" : "internal",
                  call->req.problem ? call->req.problem : "the request could not be built");
        *final = err != COOP_ERR_INVALID;
        return false;
    }
    zero_retention_names(call, ops);
    call->built = true;
    call->built_target = call->target;
    call->built_features = in.features;
    call->built_annotation = in.body_annotation;
    return true;
}

bool call_prepare_attempt(struct call *call, struct step_error *why)
{
    for (;;) {
        bool final = false;
        if (prepare_target(call, why, &final)) {
            call->attempts++;
            call->target_attempts++;
            return true;
        }
        if (final)
            return false;
        call_record_step(call, "skipped", 0);
        size_t n = call->route.len;
        /* The reason goes inside the step just recorded. */
        if (n && call->route.data[n - 1] == '}') {
            call->route.len = n - 1;
            if (coop_buf_puts(&call->route, ",\"reason\":") ||
                coop_buf_json_str(&call->route, why->code, strlen(why->code)) ||
                coop_buf_puts(&call->route, "}"))
                call->route.len = n;
        }
        if (call->target + 1 >= call->ntargets)
            return false;
        call->target++;
        call->target_attempts = 0;
    }
}

/* Prepares the call; on failure answers res and returns NULL. */
static struct call *prepare(struct coop_router *r, struct coop_http_request *req,
                            struct coop_http_response *res, struct json_object *body)
{
    const char *requested = NULL;
    if (!resolve_targets(r, body, req, res, &requested))
        return NULL;
    bool stream = false, usage = false;
    if (!read_stream_flags(body, &stream, &usage)) {
        coop_http_error(res, req, 400, "invalid_request", "stream must be a boolean");
        return NULL;
    }
    if (!coop_json_arr(body, "messages")) {
        coop_http_error(res, req, 400, "invalid_request", "messages must be an array");
        return NULL;
    }
    struct call *call = new_call(r, req, requested);
    if (!call) {
        coop_http_error(res, req, 500, "internal", "out of memory");
        return NULL;
    }
    call->in_body = json_object_get(body);
    call->stream_mode = stream;
    call->t.include_usage = usage;
    struct step_error why = {0};
    if (!set_targets(call)) {
        coop_http_error(res, req, 400, "unknown_provider",
                        "the model's route was removed from the provider policy");
        call_free(call);
        return NULL;
    }
    if (!call_prepare_attempt(call, &why)) {
        coop_http_error(res, req, why.status, why.code, why.message);
        /* Refused before anything left: audited, with the steps skipped. */
        call->status = why.blocked ? "blocked" : "error";
        call->status_code = (int)why.status;
        /* A malformed request is answered, not audited (nothing was
         * decided about a provider); a refusal or a route's skips are. */
        if (why.blocked || why.status == 503 || call->ntargets > 1)
            router_finish_audit(call);
        call_free(call);
        return NULL;
    }
    return call;
}

void router_chat(struct coop_router *r, struct coop_http_request *req,
                 struct coop_http_response *res, struct json_object *body)
{
    router_chat_as(r, req, res, body, ROUTER_FORMAT_OPENAI, NULL);
}

void router_chat_as(struct coop_router *r, struct coop_http_request *req,
                    struct coop_http_response *res, struct json_object *body,
                    enum router_format format, const char *echo_model)
{
    if (!budget_admit(r, req, res, format, body)) {
        json_object_put(body);
        return;
    }
    struct call *call = prepare(r, req, res, body);
    json_object_put(body);
    if (!call)
        return;
    call->format = format;
    coop_strlcpy(call->anth.model, echo_model ? echo_model : call->t.model,
                 sizeof call->anth.model);
    call->stream = coop_http_stream_start(
        req, res, 0, call->stream_mode ? "text/event-stream" : "application/json");
    if (!call->stream) {
        coop_http_error(res, req, 500, "internal", "the response stream could not start");
        call_free(call);
        return;
    }
    client_submit(r->client, call);
}

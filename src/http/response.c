/*
 * Building responses: JSON bodies, the one error shape of the API, and the
 * request's query and header accessors.
 */
#include "http_int.h"

#include "coop/metrics.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* Responses are bounded too: a handler that tries to build more than this
 * has a bug, and gets a 500 rather than exhausting memory. */
#define RESPONSE_MAX (64u << 20)

void coop_http_response_init_(struct coop_http_response *res)
{
    memset(res, 0, sizeof *res);
    res->status = 200;
    coop_buf_init(&res->body, RESPONSE_MAX);
}

void coop_http_response_dispose_(struct coop_http_response *res)
{
    coop_buf_dispose(&res->body);
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->header_names[i]);
        free(res->header_values[i]);
    }
    res->nheaders = 0;
}

coop_err coop_http_set_header(struct coop_http_response *res, const char *name, const char *value)
{
    if (res->nheaders == COOP_HTTP_MAX_HEADERS)
        return COOP_ERR_TOO_LARGE;
    /* Header injection is impossible by construction: no CR or LF. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return COOP_ERR_INVALID;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return COOP_ERR_NOMEM;
    }
    res->header_names[res->nheaders] = n;
    res->header_values[res->nheaders] = v;
    res->nheaders++;
    return COOP_ERR_OK;
}

const char *coop_http_anthropic_error_type(unsigned status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return "api_error";
    }
}

static bool anthropic_route(const struct coop_http_request *req)
{
    const struct request_state *st = req ? req->internal : NULL;
    return st && st->route && (st->route->scope & COOP_ROUTE_ANTHROPIC);
}

void coop_http_error(struct coop_http_response *res, const struct coop_http_request *req,
                     unsigned status, const char *code, const char *message)
{
    res->status = status;
    res->content_type = NULL;
    coop_buf_reset(&res->body);
    if (anthropic_route(req)) {
        const char *type = coop_http_anthropic_error_type(status);
        coop_buf_puts(&res->body, "{\"type\":\"error\",\"error\":{\"type\":");
        coop_buf_json_str(&res->body, type, strlen(type));
        coop_buf_puts(&res->body, ",");
    } else {
        coop_buf_puts(&res->body, "{\"error\":{");
    }
    coop_buf_puts(&res->body, "\"code\":");
    coop_buf_json_str(&res->body, code, strlen(code));
    coop_buf_puts(&res->body, ",\"message\":");
    coop_buf_json_str(&res->body, message, strlen(message));
    coop_buf_puts(&res->body, ",\"request_id\":");
    const char *rid = req && req->request_id ? req->request_id : "";
    coop_buf_json_str(&res->body, rid, strlen(rid));
    coop_buf_puts(&res->body, "}}");
}

void coop_http_json(struct coop_http_response *res, unsigned status, struct json_object *obj)
{
    size_t len;
    const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    res->status = status;
    res->content_type = NULL;
    coop_buf_reset(&res->body);
    if (coop_buf_append(&res->body, text, len) != COOP_ERR_OK) {
        res->status = 500;
        coop_buf_reset(&res->body);
        coop_buf_puts(&res->body, "{\"error\":{\"code\":\"internal\",\"message\":\"response too large\"}}");
    }
}

void coop_http_json_text(struct coop_http_response *res, unsigned status, const char *json)
{
    res->status = status;
    res->content_type = NULL;
    coop_buf_reset(&res->body);
    coop_buf_puts(&res->body, json);
}

const char *coop_http_header(const struct coop_http_request *req, const char *name)
{
    const struct request_state *st = req->internal;
    return MHD_lookup_connection_value(st->conn, MHD_HEADER_KIND, name);
}

char *coop_http_take_body(struct coop_http_request *req, size_t *len)
{
    struct request_state *st = req->internal;
    char *body = coop_buf_steal(&st->body, len);
    req->body = "";
    req->body_len = 0;
    return body;
}

const char *coop_http_query(const struct coop_http_request *req, const char *name)
{
    const struct request_state *st = req->internal;
    return MHD_lookup_connection_value(st->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Each HTTP thread keeps the series it last used per method, route and
 * status, so that recording a request costs no lookup in the registry
 * (a scan of every series, comparing names). The route is kept by value:
 * the pointer alone could be a later server's route at the same address. */
struct metric_slot {
    char route[64];
    const char *method;
    unsigned status;
    struct coop_metric *count, *duration;
};

#define METRIC_SLOTS 32
static _Thread_local struct metric_slot metric_slots[METRIC_SLOTS];

void coop_http_metrics_record_(const char *method, const char *route, unsigned status,
                               double seconds)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    const char *m = "OTHER";
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(method, known[i]) == 0)
            m = known[i];
    uint64_t h = 1469598103934665603ULL ^ status ^ ((uintptr_t)m >> 3);
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    struct metric_slot *slot = &metric_slots[h % METRIC_SLOTS];
    if (slot->method != m || slot->status != status || strcmp(slot->route, route) != 0) {
        char labels[256];
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%u\"", m, route,
                 status);
        struct coop_metric *count =
            coop_metric_get(COOP_METRIC_COUNTER, "coop_http_requests_total",
                            "HTTP requests by method, route and status", labels);
        snprintf(labels, sizeof labels, "route=\"%s\"", route);
        struct coop_metric *duration =
            coop_metric_get(COOP_METRIC_HISTOGRAM, "coop_http_request_duration_seconds",
                            "HTTP request latency by route", labels);
        if (strlen(route) >= sizeof slot->route || !count || !duration) {
            coop_metric_add(count, 1);
            coop_metric_observe(duration, seconds);
            return;
        }
        *slot = (struct metric_slot){.method = m, .status = status, .count = count,
                                     .duration = duration};
        memcpy(slot->route, route, strlen(route) + 1);
    }
    coop_metric_add(slot->count, 1);
    coop_metric_observe(slot->duration, seconds);
}

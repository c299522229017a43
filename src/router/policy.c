/*
 * The provider policy (DESIGN.md section 6): which providers are enabled,
 * on what zero-retention terms (a description, the URL where the terms are
 * published, when someone last verified them), whether a data processing
 * agreement is approved, which models may be used and which provider
 * features are disabled. Built in, read from COOP_POLICY_FILE, or replaced
 * through PUT /v1/admin/policy. A policy never holds a key.
 */
#include "router_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX_PROVIDERS 8
#define POLICY_MAX_MODELS 256
#define POLICY_FILE_MAX (1u << 20)

struct coop_policy {
    size_t n;
    struct coop_provider_policy providers[POLICY_MAX_PROVIDERS];
    size_t nroutes;
    struct coop_route *routes; /* nroutes of them */
};

static const struct {
    const char *name;
    unsigned bit;
} feature_names[] = {
    {"grounding", COOP_FEATURE_GROUNDING},
    {"cached_content", COOP_FEATURE_CACHED_CONTENT},
    {"session_storage", COOP_FEATURE_SESSION_STORAGE},
    {"tools", COOP_FEATURE_TOOLS},
};
#define NFEATURES (sizeof feature_names / sizeof feature_names[0])

/* Terms as published by each provider, checked on the date given. */
static const struct {
    const char *name;
    const char *zero_retention;
    const char *policy_url;
    const char *verified_at;
    bool dpa_approved;
    bool body_annotation;
    unsigned disabled;
} builtin[] = {
    {"openai",
     "API data is not used for training; store:false keeps completions out of stored logs; "
     "zero data retention by agreement",
     "https://openai.com/enterprise-privacy/", "2026-11-02T00:00:00Z", true, false, 0},
    {"anthropic",
     "API inputs and outputs are not used for training; zero data retention by agreement",
     "https://privacy.anthropic.com/", "2026-11-02T00:00:00Z", true, false, 0},
    {"gemini",
     "paid-tier API: prompts and responses are not used to improve products; grounding, "
     "context caching and session storage disabled",
     "https://ai.google.dev/gemini-api/terms", "2026-11-02T00:00:00Z", true, false,
     COOP_FEATURE_GROUNDING | COOP_FEATURE_CACHED_CONTENT | COOP_FEATURE_SESSION_STORAGE},
    {"deepseek", "no zero-retention terms published; blocked until a DPA is approved",
     "https://cdn.deepseek.com/policies/en-US/deepseek-privacy-policy.html", "2026-11-02T00:00:00Z",
     false, false, 0},
    {"selfhosted", "self-hosted: requests stay on the operator's infrastructure", "", "", true,
     true, 0},
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

static void free_models(struct coop_provider_policy *pp)
{
    for (size_t i = 0; i < pp->nmodels; i++)
        free(pp->models[i]);
    free(pp->models);
    pp->models = NULL;
    pp->nmodels = 0;
}

void coop_policy_free(struct coop_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free_models(&p->providers[i]);
    free(p->routes);
    free(p);
}

static bool configured(const struct coop_config *cfg, const struct coop_provider_ops *ops)
{
    char pool[64];
    key_pool_var(ops, pool, sizeof pool);
    if (ops->key_required)
        return coop_config_get(cfg, ops->key_var) != NULL || coop_config_get(cfg, pool) != NULL;
    return coop_config_get(cfg, ops->base_url_var) != NULL;
}

static coop_err builtin_policy(const struct coop_config *cfg, struct coop_policy **out)
{
    struct coop_policy *p = calloc(1, sizeof *p);
    if (!p)
        return COOP_ERR_NOMEM;
    for (size_t i = 0; i < NBUILTIN; i++) {
        struct coop_provider_policy *pp = &p->providers[p->n++];
        const struct coop_provider_ops *ops =
            coop_provider_find(builtin[i].name, strlen(builtin[i].name));
        coop_strlcpy(pp->name, builtin[i].name, sizeof pp->name);
        pp->enabled = ops && configured(cfg, ops);
        pp->dpa_approved = builtin[i].dpa_approved;
        pp->body_annotation = builtin[i].body_annotation;
        coop_strlcpy(pp->zero_retention, builtin[i].zero_retention, sizeof pp->zero_retention);
        coop_strlcpy(pp->policy_url, builtin[i].policy_url, sizeof pp->policy_url);
        coop_strlcpy(pp->verified_at, builtin[i].verified_at, sizeof pp->verified_at);
        pp->disabled = builtin[i].disabled;
    }
    *out = p;
    return COOP_ERR_OK;
}

static coop_err fail(char *err, size_t errlen, const char *what, const char *provider)
{
    if (err)
        snprintf(err, errlen, "policy: %s%s%.31s", what, provider ? " for provider " : "",
                 provider ? provider : "");
    return COOP_ERR_INVALID;
}

static coop_err copy_str(struct json_object *o, const char *key, char *dst, size_t size,
                         const char *name, char *err, size_t errlen)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v)
        return COOP_ERR_OK;
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) >= size)
        return fail(err, errlen, "a string field is mistyped or too long", name);
    coop_strlcpy(dst, json_object_get_string(v), size);
    return COOP_ERR_OK;
}

static coop_err parse_models(struct json_object *o, struct coop_provider_policy *pp, char *err,
                             size_t errlen)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, "allowed_models", &v) || !v)
        return COOP_ERR_OK;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > POLICY_MAX_MODELS)
        return fail(err, errlen, "allowed_models must be an array of at most 256 names", pp->name);
    size_t n = json_object_array_length(v);
    pp->models = calloc(n ? n : 1, sizeof *pp->models);
    if (!pp->models)
        return COOP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(v, i);
        if (!json_object_is_type(m, json_type_string) || json_object_get_string_len(m) == 0 ||
            json_object_get_string_len(m) > 128)
            return fail(err, errlen, "allowed_models holds a non-string or empty name", pp->name);
        pp->models[pp->nmodels] = strdup(json_object_get_string(m));
        if (!pp->models[pp->nmodels])
            return COOP_ERR_NOMEM;
        pp->nmodels++;
    }
    return COOP_ERR_OK;
}

static coop_err parse_features(struct json_object *o, struct coop_provider_policy *pp, char *err,
                               size_t errlen)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, "disabled_features", &v) || !v)
        return COOP_ERR_OK;
    if (!json_object_is_type(v, json_type_array))
        return fail(err, errlen, "disabled_features must be an array", pp->name);
    pp->disabled = 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        const char *f = json_object_get_string(json_object_array_get_idx(v, i));
        size_t k = 0;
        while (k < NFEATURES && !(f && strcmp(f, feature_names[k].name) == 0))
            k++;
        if (k == NFEATURES)
            return fail(
                err, errlen,
                "disabled_features accepts grounding, cached_content, session_storage, tools",
                pp->name);
        pp->disabled |= feature_names[k].bit;
    }
    return COOP_ERR_OK;
}

static coop_err parse_bool(struct json_object *o, const char *key, bool *dst, const char *name,
                           char *err, size_t errlen)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v)
        return COOP_ERR_OK;
    if (!json_object_is_type(v, json_type_boolean))
        return fail(err, errlen, "a boolean field is mistyped", name);
    *dst = json_object_get_boolean(v);
    return COOP_ERR_OK;
}

static coop_err parse_provider(const char *name, struct json_object *o,
                               struct coop_provider_policy *pp, char *err, size_t errlen)
{
    static const char *const known[] = {
        "enabled",           "zero_retention",       "policy_url",
        "verified_at",       "dpa_approved",         "allowed_models",
        "disabled_features", "retention_annotation", NULL};
    if (!json_object_is_type(o, json_type_object))
        return fail(err, errlen, "each provider must be an object", name);
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        size_t k = 0;
        while (known[k] && strcmp(known[k], key) != 0)
            k++;
        if (!known[k])
            return fail(err, errlen, "unknown field", name);
    }
    /* Defaults for what the document leaves out: the built-in values. */
    for (size_t i = 0; i < NBUILTIN; i++)
        if (strcmp(builtin[i].name, name) == 0) {
            pp->dpa_approved = builtin[i].dpa_approved;
            pp->body_annotation = builtin[i].body_annotation;
            pp->disabled = builtin[i].disabled;
        }
    coop_strlcpy(pp->name, name, sizeof pp->name);
    pp->enabled = true;
    coop_err e = parse_bool(o, "enabled", &pp->enabled, name, err, errlen);
    if (!e)
        e = parse_bool(o, "dpa_approved", &pp->dpa_approved, name, err, errlen);
    if (!e)
        e = copy_str(o, "zero_retention", pp->zero_retention, sizeof pp->zero_retention, name, err,
                     errlen);
    if (!e)
        e = copy_str(o, "policy_url", pp->policy_url, sizeof pp->policy_url, name, err, errlen);
    if (!e)
        e = copy_str(o, "verified_at", pp->verified_at, sizeof pp->verified_at, name, err, errlen);
    int64_t ms;
    if (!e && pp->verified_at[0] && coop_clock_parse(pp->verified_at, &ms))
        e = fail(err, errlen, "verified_at is not an RFC 3339 time", name);
    const char *ann = coop_json_str(o, "retention_annotation");
    if (!e && ann) {
        if (strcmp(ann, "body") == 0)
            pp->body_annotation = true;
        else if (strcmp(ann, "headers") == 0)
            pp->body_annotation = false;
        else
            e = fail(err, errlen, "retention_annotation is \"body\" or \"headers\"", name);
    }
    if (!e)
        e = parse_models(o, pp, err, errlen);
    if (!e)
        e = parse_features(o, pp, err, errlen);
    return e;
}

/* "provider/model" with a known provider, a model part of printable
 * characters, shorter than 128 bytes. */
static bool target_ok(const char *t, bool allow_coop)
{
    const char *slash = strchr(t, '/');
    size_t n = strlen(t);
    if (!slash || slash[1] == '\0' || n >= 128)
        return false;
    bool coop = allow_coop && slash - t == 4 && strncmp(t, "coop", 4) == 0;
    if (!coop && !coop_provider_find(t, (size_t)(slash - t)))
        return false;
    for (const char *c = slash + 1; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f)
            return false;
    return true;
}

static coop_err parse_route(const char *name, struct json_object *v, struct coop_route *rt,
                            char *err, size_t errlen)
{
    if (!target_ok(name, true))
        return fail(err, errlen,
                    "a route name is \"coop/<name>\" or \"<provider>/<model>\" (under 128 bytes)",
                    NULL);
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0 ||
        json_object_array_length(v) > COOP_ROUTE_MAX_TARGETS)
        return fail(err, errlen, "a route is an array of 1 to 8 \"provider/model\" targets", NULL);
    coop_strlcpy(rt->name, name, sizeof rt->name);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *t = json_object_array_get_idx(v, i);
        const char *ts =
            json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
        if (!ts || !target_ok(ts, false))
            return fail(err, errlen, "a route target is \"provider/model\" with a known provider",
                        NULL);
        coop_strlcpy(rt->targets[rt->ntargets++], ts, sizeof rt->targets[0]);
    }
    return COOP_ERR_OK;
}

static coop_err parse_routes(struct json_object *root, struct coop_policy *p, char *err,
                             size_t errlen)
{
    struct json_object *routes = NULL;
    if (!json_object_object_get_ex(root, "routes", &routes))
        return COOP_ERR_OK;
    if (!json_object_is_type(routes, json_type_object) ||
        json_object_object_length(routes) > COOP_POLICY_MAX_ROUTES)
        return fail(err, errlen, "routes must be an object of at most 64 routes", NULL);
    p->routes = calloc((size_t)json_object_object_length(routes) + 1, sizeof *p->routes);
    if (!p->routes)
        return COOP_ERR_NOMEM;
    json_object_object_foreach(routes, name, val)
    {
        coop_err e = parse_route(name, val, &p->routes[p->nroutes], err, errlen);
        if (e)
            return e;
        p->nroutes++;
    }
    return COOP_ERR_OK;
}

coop_err coop_policy_parse(const char *json, size_t len, struct coop_policy **out, char *err,
                           size_t errlen)
{
    struct json_object *root = NULL;
    if (coop_json_parse(json, len, 16, true, &root))
        return fail(err, errlen, "not valid JSON", NULL);
    struct json_object *provs = coop_json_obj(root, "providers");
    bool has_routes = json_object_object_get_ex(root, "routes", NULL);
    if (!provs || json_object_object_length(root) != 1 + (has_routes ? 1 : 0)) {
        json_object_put(root);
        return fail(err, errlen, "expected {\"providers\":{...}} and optionally \"routes\":{...}",
                    NULL);
    }
    struct coop_policy *p = calloc(1, sizeof *p);
    coop_err e = p ? COOP_ERR_OK : COOP_ERR_NOMEM;
    json_object_object_foreach(provs, name, val)
    {
        if (e)
            break;
        if (!coop_provider_find(name, strlen(name))) {
            e = fail(err, errlen,
                     "unknown provider (openai, anthropic, gemini, deepseek, selfhosted)", NULL);
            break;
        }
        e = parse_provider(name, val, &p->providers[p->n++], err, errlen);
    }
    if (!e)
        e = parse_routes(root, p, err, errlen);
    json_object_put(root);
    if (e) {
        coop_policy_free(p);
        return e;
    }
    *out = p;
    return COOP_ERR_OK;
}

coop_err coop_policy_load(const struct coop_config *cfg, struct coop_policy **out, char *err,
                          size_t errlen)
{
    const char *path = coop_config_get(cfg, "COOP_POLICY_FILE");
    if (!path)
        return builtin_policy(cfg, out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "COOP_POLICY_FILE cannot be read: %s", strerror(errno));
        return COOP_ERR_CONFIG;
    }
    struct coop_buf b;
    coop_buf_init(&b, POLICY_FILE_MAX);
    char chunk[4096];
    size_t n;
    coop_err e = COOP_ERR_OK;
    while (!e && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        e = coop_buf_append(&b, chunk, n);
    fclose(f);
    if (!e)
        e = coop_policy_parse(b.data ? b.data : "", b.len, out, err, errlen);
    else
        snprintf(err, errlen, "COOP_POLICY_FILE is larger than 1 MiB");
    coop_buf_dispose(&b);
    return e ? COOP_ERR_CONFIG : COOP_ERR_OK;
}

struct json_object *coop_policy_to_json(const struct coop_policy *p)
{
    struct json_object *root = json_object_new_object();
    struct json_object *provs = json_object_new_object();
    for (size_t i = 0; i < p->n; i++) {
        const struct coop_provider_policy *pp = &p->providers[i];
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "enabled", json_object_new_boolean(pp->enabled));
        json_object_object_add(o, "zero_retention", json_object_new_string(pp->zero_retention));
        json_object_object_add(o, "policy_url", json_object_new_string(pp->policy_url));
        json_object_object_add(o, "verified_at", json_object_new_string(pp->verified_at));
        json_object_object_add(o, "dpa_approved", json_object_new_boolean(pp->dpa_approved));
        struct json_object *models = json_object_new_array();
        for (size_t k = 0; k < pp->nmodels; k++)
            json_object_array_add(models, json_object_new_string(pp->models[k]));
        json_object_object_add(o, "allowed_models", models);
        struct json_object *feats = json_object_new_array();
        for (size_t k = 0; k < NFEATURES; k++)
            if (pp->disabled & feature_names[k].bit)
                json_object_array_add(feats, json_object_new_string(feature_names[k].name));
        json_object_object_add(o, "disabled_features", feats);
        json_object_object_add(o, "retention_annotation",
                               json_object_new_string(pp->body_annotation ? "body" : "headers"));
        json_object_object_add(provs, pp->name, o);
    }
    json_object_object_add(root, "providers", provs);
    if (p->nroutes) {
        struct json_object *routes = json_object_new_object();
        for (size_t i = 0; i < p->nroutes; i++) {
            struct json_object *t = json_object_new_array();
            for (size_t k = 0; k < p->routes[i].ntargets; k++)
                json_object_array_add(t, json_object_new_string(p->routes[i].targets[k]));
            json_object_object_add(routes, p->routes[i].name, t);
        }
        json_object_object_add(root, "routes", routes);
    }
    return root;
}

const struct coop_route *coop_policy_route(const struct coop_policy *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->nroutes; i++)
        if (strcmp(p->routes[i].name, name) == 0)
            return &p->routes[i];
    return NULL;
}

const struct coop_route *coop_policy_route_at(const struct coop_policy *p, size_t i)
{
    return p && i < p->nroutes ? &p->routes[i] : NULL;
}

const struct coop_provider_policy *coop_policy_provider(const struct coop_policy *p,
                                                        const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (strcmp(p->providers[i].name, name) == 0)
            return &p->providers[i];
    return NULL;
}

bool coop_policy_model_allowed(const struct coop_provider_policy *pp, const char *model)
{
    if (pp->nmodels == 0)
        return true;
    for (size_t i = 0; i < pp->nmodels; i++)
        if (strcmp(pp->models[i], model) == 0)
            return true;
    return false;
}

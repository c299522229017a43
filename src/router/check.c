/*
 * The startup compliance checks of the Model Router, shared by
 * `coopd check` and `coopd serve` (production refuses to start on a
 * failure). Each finding is one line naming the provider and what is
 * wrong; a key is reported as set or missing, never shown, and an
 * endpoint only by its scheme (a URL can carry credentials).
 */
#include "router_int.h"

#include <string.h>

#define VERIFIED_MAX_AGE_DAYS 180

static bool loopback_host(const char *host, size_t len)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strlen(names[i]) == len && strncasecmp(host, names[i], len) == 0)
            return true;
    return len > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == len;
}

bool coop_router_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    if (strchr(host, '@') && strchr(host, '@') < host + strcspn(host, "/"))
        return false; /* userinfo: the host is what follows it; refuse */
    size_t len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
    return loopback_host(host, len);
}

static void line(struct coop_buf *out, const char *level, const char *provider, const char *what)
{
    if (out)
        coop_buf_printf(out, "%-4s provider %s: %s\n", level, provider, what);
}

static int check_provider(const struct coop_config *cfg, const struct coop_provider_ops *ops,
                          const struct coop_provider_policy *pp, struct coop_buf *out,
                          int *warnings)
{
    int failures = 0;
    char pool_var[64], perr[96];
    key_pool_var(ops, pool_var, sizeof pool_var);
    const char *pool_spec = coop_config_get(cfg, pool_var);
    struct key_pool *pool = NULL;
    if (pool_spec && key_pool_parse(pool_spec, &pool, perr, sizeof perr)) {
        failures++;
        line(out, "FAIL", ops->name,
             "its key pool setting (COOP_<PROVIDER>_API_KEYS) is malformed");
    }
    key_pool_free(pool);
    if (ops->key_required && !coop_config_get(cfg, ops->key_var) && !pool_spec) {
        failures++;
        line(out, "FAIL", ops->name, "enabled but its API key is not set");
    }
    const char *url = coop_config_get(cfg, ops->base_url_var);
    if (!url)
        url = ops->default_base_url;
    if (!url) {
        failures++;
        line(out, "FAIL", ops->name, "enabled but its base URL is not set");
    } else if (!coop_router_url_allowed(url)) {
        failures++;
        line(out, "FAIL", ops->name,
             "the endpoint is not https (http is allowed to loopback only)");
    }
    if (!pp->policy_url[0]) {
        failures++;
        line(out, "FAIL", ops->name, "the policy has no policy_url for its retention terms");
    }
    int64_t verified;
    if (!pp->verified_at[0] || coop_clock_parse(pp->verified_at, &verified)) {
        failures++;
        line(out, "FAIL", ops->name, "the policy has no valid verified_at date");
    } else if (coop_clock_now_ms() - verified > (int64_t)VERIFIED_MAX_AGE_DAYS * 86400000) {
        (*warnings)++;
        line(out, "WARN", ops->name, "the retention terms were verified more than 180 days ago");
    }
    if (strcmp(ops->name, "deepseek") == 0 && !pp->dpa_approved) {
        failures++;
        line(out, "FAIL", ops->name, "enabled without DPA approval (dpa_approved is false)");
    }
    unsigned must =
        COOP_FEATURE_GROUNDING | COOP_FEATURE_CACHED_CONTENT | COOP_FEATURE_SESSION_STORAGE;
    if (strcmp(ops->name, "gemini") == 0 && (pp->disabled & must) != must) {
        failures++;
        line(out, "FAIL", ops->name,
             "grounding, cached_content and session_storage must be in disabled_features");
    }
    if (failures == 0)
        line(out, "ok", ops->name, "enabled, key and endpoint configured, terms recorded");
    return failures;
}

static bool target_allowed(const struct coop_policy *p, const char *target)
{
    const char *slash = strchr(target, '/');
    char provider[32];
    if (!slash || (size_t)(slash - target) >= sizeof provider)
        return false;
    memcpy(provider, target, (size_t)(slash - target));
    provider[slash - target] = '\0';
    const struct coop_provider_policy *pp = coop_policy_provider(p, provider);
    return pp && pp->enabled && (strcmp(provider, "deepseek") != 0 || pp->dpa_approved) &&
           coop_policy_model_allowed(pp, slash + 1);
}

/* A route whose every target the policy refuses can never answer: a
 * warning (the route itself is valid, and a PUT may enable a target). */
static int check_routes(const struct coop_policy *p, struct coop_buf *out)
{
    int warn = 0;
    for (size_t i = 0; coop_policy_route_at(p, i); i++) {
        const struct coop_route *rt = coop_policy_route_at(p, i);
        size_t allowed = 0;
        for (size_t k = 0; k < rt->ntargets; k++)
            allowed += target_allowed(p, rt->targets[k]);
        if (out && allowed == 0)
            coop_buf_printf(out, "WARN route %s: the policy refuses every target\n", rt->name);
        else if (out)
            coop_buf_printf(out, "ok   route %s: %zu of %zu targets allowed\n", rt->name, allowed,
                            rt->ntargets);
        warn += allowed == 0;
    }
    return warn;
}

int coop_router_check(const struct coop_config *cfg, const struct coop_policy *p,
                      struct coop_buf *out, int *warnings)
{
    int failures = 0, warn = 0;
    for (size_t i = 0; coop_providers[i]; i++) {
        const struct coop_provider_ops *ops = coop_providers[i];
        const struct coop_provider_policy *pp = coop_policy_provider(p, ops->name);
        if (!pp || !pp->enabled) {
            line(out, "off", ops->name, "not enabled");
            continue;
        }
        failures += check_provider(cfg, ops, pp, out, &warn);
    }
    warn += check_routes(p, out);
    if (warnings)
        *warnings = warn;
    return failures;
}

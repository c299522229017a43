/*
 * Which host serves a repository and how to reach it: the public hosts by
 * name, self-hosted instances by the host part of their configured API
 * URL; base URLs and tokens from the configuration (DESIGN.md section 3).
 */
#include "hosts_int.h"

#include <stdio.h>
#include <string.h>

/* The host name of an URL (no scheme, user info or port) into out. */
static void url_host(const char *url, char *out, size_t size)
{
    out[0] = '\0';
    if (!url)
        return;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    const char *colon = *p == '[' ? NULL : memchr(p, ':', (size_t)(end - p));
    if (colon)
        end = colon;
    size_t n = (size_t)(end - p);
    if (n >= size)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
}

static const char *base_url(const struct coop_config *cfg, const struct coop_host_ops *ops)
{
    const char *b = coop_config_get(cfg, ops->base_var);
    return b ? b : ops->base_default;
}

coop_err coop_hosts_for_repo(const struct coop_config *cfg, const char *repo,
                             const struct coop_host_ops **ops, const char **project)
{
    *ops = NULL;
    *project = NULL;
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || slash == repo || !slash[1] || (size_t)(slash - repo) >= 256)
        return COOP_ERR_INVALID;
    char host[256];
    memcpy(host, repo, (size_t)(slash - repo));
    host[slash - repo] = '\0';
    *project = slash + 1;
    if (!strcasecmp(host, "github.com"))
        *ops = &coop_host_github;
    else if (!strcasecmp(host, "gitlab.com"))
        *ops = &coop_host_gitlab;
    else if (!strcasecmp(host, "bitbucket.org"))
        *ops = &coop_host_bitbucket;
    for (size_t i = 0; !*ops && coop_host_backends[i]; i++) {
        char h[256];
        url_host(coop_config_get(cfg, coop_host_backends[i]->base_var), h, sizeof h);
        if (h[0] && !strcasecmp(h, host))
            *ops = coop_host_backends[i];
    }
    return *ops ? COOP_ERR_OK : COOP_ERR_NOT_FOUND;
}

coop_err coop_hosts_client_from_config(const struct coop_config *cfg,
                                       const struct coop_host_ops *ops, const char *project,
                                       struct coop_store *store, struct coop_hosts_client **out)
{
    *out = NULL;
    const char *base = base_url(cfg, ops);
    if (!base)
        return COOP_ERR_CONFIG;
    const char *token = coop_config_get(cfg, ops->token_var);
    if (!token && ops->kind == COOP_HOST_BITBUCKET_DC)
        token = coop_config_get(cfg, "COOP_BITBUCKET_TOKEN");
    long timeout_s = 30;
    char why[128];
    if (coop_config_get_int(cfg, "COOP_HOSTS_TIMEOUT_S", 30, 1, 600, &timeout_s, why, sizeof why))
        return COOP_ERR_CONFIG;
    struct coop_hosts_client_options opt = {
        .ops = ops,
        .base_url = base,
        .token = token,
        .store = store,
        .timeout_ms = timeout_s * 1000,
    };
    /* A GitHub App, when configured, is used instead of COOP_GITHUB_TOKEN. */
    if (ops->kind == COOP_HOST_GITHUB && project) {
        coop_err err = coop_github_app_from_config(cfg, &opt.app, why, sizeof why);
        if (err) {
            coop_log_error("hosts: GitHub App not usable", COOP_F_STR("detail", why));
            return err;
        }
        opt.project = project;
    }
    return coop_hosts_client_new(&opt, out);
}

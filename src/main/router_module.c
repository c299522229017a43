/*
 * The Model Router as a coopd module: created with the routes, its
 * thread started with the server, its compliance checks run at start
 * (production refuses to start on a failure).
 */
#include "app.h"

#include "coop/attest.h"
#include "coop/router.h"

#include <stdio.h>
#include <string.h>

static struct coop_router *router;

static coop_err register_routes(struct coop_app *app)
{
    coop_err err = coop_router_new(&app->config, app->store, app->sanitizer, &router);
    if (err)
        return err;
    err = coop_router_register(router, app->http);
    if (err) {
        coop_router_free(router);
        router = NULL;
    }
    return err;
}

/* Each finding as a log line (serve keeps its output JSON). */
static void log_findings(const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        char line[256];
        coop_strlcpy(line, text, n + 1 < sizeof line ? n + 1 : sizeof line);
        if (strncmp(line, "FAIL", 4) == 0 || strncmp(line, "WARN", 4) == 0)
            coop_log_warn("provider compliance check", COOP_F_STR("finding", line));
        else
            coop_log_info("provider compliance check", COOP_F_STR("finding", line));
        text = nl ? nl + 1 : NULL;
    }
}

int coop_app_router_check(const struct coop_app *app, bool print)
{
    struct coop_policy *p = NULL;
    char err[200] = "";
    /* coopd serve checks the policy in force (a stored one first); coopd
     * check, which opens no store, the configured one. */
    if (coop_policy_load_in_force(&app->config, app->store, &p, err, sizeof err)) {
        if (print)
            printf("FAIL %s\n", err);
        else
            coop_log_error("provider policy refused", COOP_F_STR("reason", err));
        return 1;
    }
    struct coop_buf out;
    coop_buf_init(&out, 1u << 20);
    int warnings = 0;
    int failures = coop_router_check(&app->config, p, &out, &warnings);
    if (print && out.len)
        fputs(out.data, stdout);
    else
        log_findings(out.data);
    coop_buf_dispose(&out);
    coop_policy_free(p);
    return failures;
}

static struct json_object *policy_json(void *ctx)
{
    return coop_router_policy_json(ctx);
}

static coop_err start(struct coop_app *app)
{
    int failures = coop_app_router_check(app, false);
    if (failures && app->config.production) {
        coop_log_error("production refuses to start: provider compliance checks failed",
                       COOP_F_INT("failures", failures));
        return COOP_ERR_CONFIG;
    }
    if (failures)
        coop_log_warn("provider compliance checks failed (allowed in development)",
                      COOP_F_INT("failures", failures));
    /* The vault opens its keys at its own start, which comes before ours. */
    coop_router_set_vault(router, app->vault);
    /* Attestations report the policy in force, including admin changes. */
    coop_attest_set_policy_source(policy_json, router);
    return coop_router_start(router);
}

static void stop(struct coop_app *app)
{
    (void)app;
    coop_attest_set_policy_source(NULL, NULL);
    coop_router_free(router);
    router = NULL;
}

const struct coop_app_module coop_router_module = {
    .name = "router",
    .register_routes = register_routes,
    .start = start,
    .stop = stop,
};

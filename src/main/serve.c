/*
 * coopd serve: refuse an unsafe production configuration, open and migrate
 * the store, register every module's routes, serve until SIGTERM or SIGINT,
 * then let in-flight requests finish and stop the modules in reverse order.
 */
#include "app.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define SHUTDOWN_GRACE_MS 8000

int coop_app_production_failures(const struct coop_app *app, bool print)
{
    const struct coop_config *c = &app->config;
    int failures = 0;
    if (!c->production)
        return 0;
    if (!c->api_token) {
        failures++;
        if (print)
            fprintf(stderr, "coopd: production requires COOP_API_TOKEN\n");
    }
    if (!coop_config_get(c, "COOP_MASTER_KEY")) {
        failures++;
        if (print)
            fprintf(stderr, "coopd: production requires COOP_MASTER_KEY\n");
    }
    if (!c->tls_cert[0] && !c->tls_by_proxy) {
        failures++;
        if (print)
            fprintf(stderr, "coopd: production requires TLS: set COOP_TLS_CERT and COOP_TLS_KEY, "
                            "or COOP_TLS_TERMINATED_BY_PROXY=1 behind a TLS-terminating proxy\n");
    }
    return failures;
}

static void stop_modules(struct coop_app *app, size_t started)
{
    while (started > 0) {
        const struct coop_app_module *m = coop_app_modules[--started];
        if (m->stop)
            m->stop(app);
    }
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigwait(&set, &sig);
    return sig;
}

int coop_cmd_serve(int argc, char **argv)
{
    /* Block the stop signals before any thread exists, so that every
     * thread inherits the mask and only sigwait() below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next < argc) {
        fprintf(stderr, "coopd serve: unknown option '%.40s'\n", argv[next]);
        coop_app_dispose(&app);
        return 2;
    }
    if (coop_app_production_failures(&app, true) > 0) {
        coop_app_dispose(&app);
        return 1;
    }
    if (!app.config.api_token)
        coop_log_warn("authentication is off: development mode without COOP_API_TOKEN");
    if ((rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return rc;
    }

    struct coop_http_options opt = {.config = &app.config, .store = app.store};
    coop_err err = coop_http_new(&opt, &app.http);
    if (!err)
        err = coop_http_add_core_routes(app.http);
    for (size_t i = 0; !err && coop_app_modules[i]; i++)
        if (coop_app_modules[i]->register_routes)
            err = coop_app_modules[i]->register_routes(&app);
    size_t started = 0;
    for (; !err && coop_app_modules[started]; started++)
        if (coop_app_modules[started]->start && (err = coop_app_modules[started]->start(&app)))
            coop_log_error("module failed to start", COOP_F_STR("module", coop_app_modules[started]->name),
                           COOP_F_ERR(err));
    if (!err)
        err = coop_http_start(app.http, &app.port);
    if (err) {
        fprintf(stderr, "coopd serve: cannot start: %s\n", coop_strerror(err));
        stop_modules(&app, started);
        coop_http_free(app.http);
        coop_app_dispose(&app);
        return 1;
    }
    coop_log_info("listening", COOP_F_STR("address", app.config.listen_host),
                  COOP_F_INT("port", app.port), COOP_F_BOOL("tls", app.config.tls_cert[0] != '\0'),
                  COOP_F_STR("store", coop_store_backend_name(app.store)),
                  COOP_F_STR("mode", app.config.production ? "production" : "development"));

    int sig = wait_for_signal();
    coop_log_info("shutting down", COOP_F_INT("signal", sig));
    coop_http_shutdown(app.http, SHUTDOWN_GRACE_MS);
    stop_modules(&app, started);
    coop_http_free(app.http);
    coop_app_dispose(&app);
    coop_log_info("stopped");
    return 0;
}

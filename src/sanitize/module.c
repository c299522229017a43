/*
 * The sanitize module of coopd serve: compiles the rule set once, from start
 * (in the background; a broken rule lets no text out unchecked: every use
 * fails, and the failure is logged as an error),
 * hands the sanitizer to later modules through the app, and adds the rules
 * endpoint.
 */
#include "coop/sanitize.h"
#include "main/app.h"

static coop_err sanitize_register(struct coop_app *app)
{
    coop_err err = coop_sanitizer_new(&app->sanitizer);
    if (err) {
        coop_log_error("sanitizer rules do not compile", COOP_F_ERR(err));
        return err;
    }
    return coop_sanitize_register_routes(app->http);
}

static void sanitize_stop(struct coop_app *app)
{
    coop_sanitizer_free(app->sanitizer);
    app->sanitizer = NULL;
}

const struct coop_app_module coop_sanitize_module = {
    .name = "sanitize",
    .register_routes = sanitize_register,
    .stop = sanitize_stop,
};

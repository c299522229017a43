/*
 * coopd check: the startup compliance checks, as a report. Modules with
 * checks of their own (the Model Router's provider checks) add them here.
 */
#include "app.h"

#include <stdio.h>

int coop_cmd_check(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    int failures = coop_app_production_failures(&app, true);
    failures += coop_app_router_check(&app, true);
    printf("mode: %s\n", app.config.production ? "production" : "development");
    printf("api token: %s\n", app.config.api_token ? "set" : "not set");
    printf("tls: %s\n", app.config.tls_cert[0] ? "in process"
                        : app.config.tls_by_proxy ? "terminated by proxy"
                                                  : "off");
    printf("result: %s (%d failure%s)\n", failures ? "FAIL" : "PASS", failures,
           failures == 1 ? "" : "s");
    coop_app_dispose(&app);
    return failures ? 1 : 0;
}

/*
 * The modules coopd serve runs, in start order (stopped in reverse).
 * A module adds one line here and one `const struct coop_app_module`.
 */
#include "app.h"

extern const struct coop_app_module coop_jobs_module;
extern const struct coop_app_module coop_audit_module;
extern const struct coop_app_module coop_vault_module;
extern const struct coop_app_module coop_webhook_module;
extern const struct coop_app_module coop_attest_module;
extern const struct coop_app_module coop_graph_module;
extern const struct coop_app_module coop_sanitize_module;
extern const struct coop_app_module coop_hosts_module;
extern const struct coop_app_module coop_router_module;

const struct coop_app_module *const coop_app_modules[] = {
    &coop_jobs_module,
    &coop_audit_module,
    &coop_vault_module,
    &coop_webhook_module,
    &coop_attest_module,
    &coop_graph_module,
    &coop_sanitize_module,
    &coop_hosts_module,
    &coop_router_module,
    NULL,
};

/*
 * The schema of every module, in the order it is applied. A module adds its
 * own list here; its steps are "<module>.<nnn>" and never change once
 * released (a fix is a new step).
 */
#include "coop/store.h"

extern const struct coop_migration coop_auth_migrations[];
extern const struct coop_migration coop_audit_migrations[];
extern const struct coop_migration coop_jobs_migrations[];
extern const struct coop_migration coop_vault_migrations[];
extern const struct coop_migration coop_webhook_migrations[];
extern const struct coop_migration coop_graph_migrations[];
extern const struct coop_migration coop_hosts_migrations[];
extern const struct coop_migration coop_router_migrations[];

const struct coop_migration *const coop_schema[] = {
    coop_auth_migrations,
    coop_audit_migrations,
    coop_jobs_migrations,
    coop_vault_migrations,
    coop_webhook_migrations,
    coop_graph_migrations,
    coop_hosts_migrations,
    coop_router_migrations,
    NULL,
};

/*
 * Schema migrations. Each module contributes a list of steps named
 * "<module>.<nnn>"; a step is applied once, in its own transaction together
 * with its row in coop_migrations, so a crash leaves either both or neither.
 * Several instances starting at once on PostgreSQL serialize on the
 * migrations table's lock.
 */
#include "coop/store.h"

#include <string.h>

static const char create_table[] =
    "CREATE TABLE IF NOT EXISTS coop_migrations ("
    " id TEXT PRIMARY KEY,"
    " applied_at BIGINT NOT NULL)";

struct step_ctx {
    const struct coop_migration *m;
    bool applied;
};

static coop_err apply_step(struct coop_conn *c, void *arg)
{
    struct step_ctx *ctx = arg;
    int64_t found;
    ctx->applied = false;
    if (coop_conn_dialect(c) == COOP_STORE_POSTGRES) {
        coop_err err = coop_conn_exec(c, "LOCK TABLE coop_migrations IN EXCLUSIVE MODE",
                                      COOP_NOPARAMS, NULL);
        if (err)
            return err;
    }
    coop_err err = coop_conn_query_int(c, "SELECT 1 FROM coop_migrations WHERE id = ?",
                                       COOP_PARAMS(COOP_PT(ctx->m->id)), &found);
    if (err == COOP_ERR_OK)
        return COOP_ERR_OK;
    if (err != COOP_ERR_NOT_FOUND)
        return err;
    const char *sql =
        coop_conn_dialect(c) == COOP_STORE_POSTGRES ? ctx->m->postgres : ctx->m->sqlite;
    if (sql && (err = coop_conn_script(c, sql)))
        return err;
    err = coop_conn_exec(c, "INSERT INTO coop_migrations (id, applied_at) VALUES (?, ?)",
                         COOP_PARAMS(COOP_PT(ctx->m->id), COOP_PI(coop_clock_now_ms())), NULL);
    if (!err)
        ctx->applied = true;
    return err;
}

coop_err coop_store_migrate(struct coop_store *store, int *applied)
{
    int count = 0;
    coop_err err = coop_store_exec(store, create_table, COOP_NOPARAMS, NULL);
    if (err == COOP_ERR_CONFLICT) /* PostgreSQL: another instance created it just now */
        err = coop_store_exec(store, create_table, COOP_NOPARAMS, NULL);
    if (err == COOP_ERR_CONFLICT) /* PostgreSQL: another instance created it just now */
        err = coop_store_exec(store, create_table, COOP_NOPARAMS, NULL);
    for (size_t i = 0; !err && coop_schema[i]; i++) {
        for (const struct coop_migration *m = coop_schema[i]; !err && m->id; m++) {
            struct step_ctx ctx = {.m = m};
            err = coop_store_tx(store, true, apply_step, &ctx);
            if (!err && ctx.applied) {
                count++;
                coop_log_info("migration applied", COOP_F_STR("migration", m->id));
            } else if (err) {
                coop_log_error("migration failed", COOP_F_STR("migration", m->id), COOP_F_ERR(err));
            }
        }
    }
    if (applied)
        *applied = count;
    return err;
}

/*
 * coopd audit verify|purge: checks both hash chains from their anchors to
 * their heads (exit 0 intact, 1 broken, 2 usage/store error), or runs the
 * retention purge once.
 */
#include "app.h"

#include "coop/audit.h"

#include <stdio.h>
#include <string.h>

static int verify(struct coop_app *app)
{
    const char *chains[] = {COOP_AUDIT_CHAIN_LLM, COOP_AUDIT_CHAIN_CONFIG};
    int rc = 0;
    for (size_t i = 0; i < 2; i++) {
        struct coop_audit_verify_result v;
        struct coop_audit_chain_state st;
        if (coop_audit_verify(app->store, chains[i], &v) != COOP_ERR_OK ||
            coop_audit_chain_state(app->store, chains[i], &st) != COOP_ERR_OK) {
            fprintf(stderr, "coopd audit verify: the store could not be read\n");
            return 2;
        }
        if (v.intact) {
            printf("%s chain: intact, %lld entries (seq %lld..%lld), anchor %s, head %s\n",
                   chains[i], (long long)v.entries, (long long)st.anchor_seq,
                   (long long)st.head_seq, st.anchor_hash, v.head_hash);
        } else {
            printf("%s chain: BROKEN at seq %lld: %s\n", chains[i], (long long)v.bad_seq, v.reason);
            rc = 1;
        }
    }
    return rc;
}

static int purge(struct coop_app *app)
{
    int days = 0;
    int64_t deleted = 0;
    if (coop_audit_retention_days(&app->config, &days) != COOP_ERR_OK) {
        fprintf(stderr, "coopd audit purge: COOP_AUDIT_RETENTION_DAYS must be 1 to 3650\n");
        return 2;
    }
    coop_err err = coop_audit_purge(app->store, coop_clock_now_ms(), days, &deleted);
    if (err) {
        fprintf(stderr, "coopd audit purge: %s\n", coop_strerror(err));
        return 1;
    }
    printf("purged %lld entries older than %d days\n", (long long)deleted, days);
    return 0;
}

int coop_cmd_audit(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next + 1 != argc || (strcmp(argv[next], "verify") && strcmp(argv[next], "purge"))) {
        fprintf(stderr, "usage: coopd audit verify|purge\n");
        coop_app_dispose(&app);
        return 2;
    }
    if ((rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return 2;
    }
    rc = strcmp(argv[next], "verify") == 0 ? verify(&app) : purge(&app);
    coop_app_dispose(&app);
    return rc;
}

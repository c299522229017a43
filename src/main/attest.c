/*
 * coopd attest [--days N]: prints a signed attestation envelope (DSSE,
 * in-toto Statement v1) for the last N days (default 90) on stdout.
 */
#include "app.h"

#include "coop/attest.h"
#include "coop/audit.h"
#include "coop/router.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static json_object *configured_policy(void *ctx)
{
    return coop_policy_to_json(ctx);
}

int coop_cmd_attest(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    int64_t days = 90;
    for (int i = next; i < argc; i++) {
        if (strcmp(argv[i], "--days") == 0 && i + 1 < argc &&
            coop_parse_i64(argv[i + 1], &days) == COOP_ERR_OK && days >= 1 && days <= 3650) {
            i++;
        } else {
            fprintf(stderr, "usage: coopd attest [--days N]   (N from 1 to 3650)\n");
            coop_app_dispose(&app);
            return 2;
        }
    }
    int retention = 0;
    if (coop_audit_retention_days(&app.config, &retention) != COOP_ERR_OK ||
        coop_app_open_store(&app, true) != 0) {
        coop_app_dispose(&app);
        return 2;
    }
    char msg[200] = "";
    struct coop_attest_signer *s = NULL;
    if (coop_attest_signer_open(&app.config, &s, msg, sizeof msg) != COOP_ERR_OK) {
        fprintf(stderr, "coopd attest: %s\n", msg);
        coop_app_dispose(&app);
        return 2;
    }
    /* Outside coopd serve the policy in force is the stored one (PUT
     * /v1/admin/policy) when there is one, else the configured one
     * (COOP_POLICY_FILE or the built-in one). */
    struct coop_policy *policy = NULL;
    if (coop_policy_load_in_force(&app.config, app.store, &policy, msg, sizeof msg) == COOP_ERR_OK)
        coop_attest_set_policy_source(configured_policy, policy);
    else
        fprintf(stderr, "coopd attest: provider policy not loaded: %s\n", msg);
    json_object *env = NULL;
    coop_err err =
        coop_attest_envelope(s, app.store, coop_clock_now_ms(), (int)days, retention, &env);
    coop_attest_set_policy_source(NULL, NULL);
    coop_policy_free(policy);
    if (err) {
        fprintf(stderr, "coopd attest: %s\n", coop_strerror(err));
        rc = 1;
    } else {
        puts(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(env);
    }
    coop_attest_signer_free(s);
    coop_app_dispose(&app);
    return rc;
}

/*
 * coopd vault status|rewrap. Rotation without downtime: restart the
 * servers with the new COOP_MASTER_KEY and the old one in
 * COOP_MASTER_KEY_PREVIOUS (they open keys sealed under either), run
 * `coopd vault rewrap` with the same settings, then drop the old key.
 * Nothing here prints a key; master keys appear only by their ids.
 */
#include "app.h"

#include "coop/vault.h"

#include <stdio.h>
#include <string.h>

int coop_cmd_vault(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next + 1 != argc || (strcmp(argv[next], "status") && strcmp(argv[next], "rewrap"))) {
        fprintf(stderr, "usage: coopd vault status|rewrap\n");
        coop_app_dispose(&app);
        return 2;
    }
    if ((rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return 2;
    }
    char msg[200] = "";
    struct coop_vault *v = NULL;
    if (coop_vault_open(&app.config, app.store, &v, msg, sizeof msg) != COOP_ERR_OK) {
        fprintf(stderr, "coopd vault: %s\n", msg);
        coop_app_dispose(&app);
        return 2;
    }
    int64_t current = 0, previous = 0, unopenable = 0, done = 0, failed = 0;
    coop_err err = COOP_ERR_OK;
    if (strcmp(argv[next], "rewrap") == 0) {
        err = coop_vault_rewrap(v, &done, &failed);
        if (!err)
            printf("resealed %lld keys under master key %s\n", (long long)done,
                   coop_vault_master_id(v));
        if (!err && failed)
            fprintf(stderr,
                    "coopd vault rewrap: %lld keys could not be opened with COOP_MASTER_KEY or "
                    "COOP_MASTER_KEY_PREVIOUS and were left as they are\n",
                    (long long)failed);
    }
    if (!err)
        err = coop_vault_check(v, &current, &previous, &unopenable);
    if (err) {
        fprintf(stderr, "coopd vault: %s\n", coop_strerror(err));
        rc = 2;
    } else {
        printf("master key %s: %lld keys; under a previous master key: %lld; unopenable: %lld\n",
               coop_vault_master_id(v), (long long)current, (long long)previous,
               (long long)unopenable);
        rc = (failed || unopenable) ? 1 : 0;
    }
    coop_vault_free(v);
    coop_app_dispose(&app);
    return rc;
}

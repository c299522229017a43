/*
 * coopd token create|list|revoke. The token is printed once, alone on the
 * last line of the output, so scripts can take it with `tail -n1`.
 */
#include "app.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static int create(struct coop_app *app, int argc, char **argv)
{
    unsigned scopes = 0;
    const char *customer = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) {
            char list[128];
            coop_strlcpy(list, argv[++i], sizeof list);
            for (char *save = NULL, *s = strtok_r(list, ",", &save); s;
                 s = strtok_r(NULL, ",", &save)) {
                unsigned bit = coop_scope_parse(s);
                if (!bit) {
                    fprintf(stderr, "coopd token create: --scope takes read, llm or admin\n");
                    return 2;
                }
                scopes |= bit;
            }
        } else if (strcmp(argv[i], "--customer") == 0 && i + 1 < argc) {
            customer = argv[++i];
        } else {
            fprintf(stderr, "coopd token create: unknown option\n");
            return 2;
        }
    }
    if (!scopes) {
        fprintf(stderr, "coopd token create: --scope is required\n");
        return 2;
    }
    char token[80], id[40], names[32];
    coop_err err = coop_auth_token_create(app->store, scopes, customer, token, id);
    if (err) {
        fprintf(stderr, "coopd token create: %s\n", coop_strerror(err));
        return 1;
    }
    coop_scope_format(scopes, names, sizeof names);
    printf("id: %s\nscopes: %s\ncustomer: %s\n", id, names, customer ? customer : "-");
    printf("%s\n", token);
    memset(token, 0, sizeof token);
    return 0;
}

int coop_cmd_token(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next >= argc) {
        fprintf(stderr, "usage: coopd token create|list|revoke\n");
        coop_app_dispose(&app);
        return 2;
    }
    if ((rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return rc;
    }
    const char *sub = argv[next];
    if (strcmp(sub, "create") == 0) {
        rc = create(&app, argc - next - 1, argv + next + 1);
    } else if (strcmp(sub, "list") == 0) {
        json_object *rows;
        if (coop_auth_token_list(app.store, &rows) == COOP_ERR_OK) {
            puts(json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PRETTY));
            json_object_put(rows);
        } else {
            rc = 1;
        }
    } else if (strcmp(sub, "revoke") == 0 && next + 1 < argc) {
        coop_err err = coop_auth_token_revoke(app.store, argv[next + 1]);
        if (err) {
            fprintf(stderr, "coopd token revoke: %s\n", coop_strerror(err));
            rc = 1;
        } else {
            printf("revoked\n");
        }
    } else {
        fprintf(stderr, "usage: coopd token create|list|revoke\n");
        rc = 2;
    }
    coop_app_dispose(&app);
    return rc;
}

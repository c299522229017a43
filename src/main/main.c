/*
 * coopd: the command-line entry point. Each subcommand lives in its own
 * file; this one dispatches and holds what they share (configuration and
 * opening the store).
 */
#include "app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fputs("usage: coopd <command> [options]\n"
          "\n"
          "commands:\n"
          "  serve [--listen ADDR:PORT] [--store URL] [--data-dir DIR] [--config FILE]\n"
          "                    run the server\n"
          "  check             run the startup compliance checks and print a report\n"
          "  migrate           apply schema migrations to the configured store\n"
          "  token create --scope read|llm|admin[,...] [--customer ID]\n"
          "  token list | token revoke ID\n"
          "  audit verify      check the audit hash chains (exit 1 when broken)\n"
          "  audit purge       delete audit entries past COOP_AUDIT_RETENTION_DAYS now\n"
          "  vault status      count BYOK keys by the master key that sealed them\n"
          "  vault rewrap      reseal every BYOK key under COOP_MASTER_KEY\n"
          "  attest [--days N] print a signed attestation envelope (DSSE, in-toto)\n"
          "  verify FILE [--pubkey FILE]\n"
          "                    verify an attestation envelope\n"
          "  webhook parse SOURCE EVENT [FILE]\n"
          "                    print the events Coop makes of a webhook payload\n"
          "  import --repo ID (--git DIR | --stdin)\n"
          "                    backfill commit history from a checkout or a git log stream\n"
          "  repos             list the repositories the graph holds\n"
          "  version           print the version\n",
          out);
}

/* Flags every command accepts, mapped to the variable they override. */
static const struct {
    const char *flag;
    const char *var;
} common_flags[] = {
    {"--listen", "COOP_LISTEN"},
    {"--store", "COOP_STORE"},
    {"--data-dir", "COOP_DATA_DIR"},
    {"--config", "COOP_CONFIG"},
};

int coop_app_configure(struct coop_app *app, int argc, char **argv, int *next_arg)
{
    memset(app, 0, sizeof *app);
    int i = 1;
    for (; i < argc; i++) {
        bool matched = false;
        for (size_t f = 0; f < sizeof common_flags / sizeof *common_flags; f++) {
            if (strcmp(argv[i], common_flags[f].flag) != 0)
                continue;
            if (i + 1 >= argc) {
                fprintf(stderr, "coopd: %s needs a value\n", argv[i]);
                return 2;
            }
            coop_config_override(&app->config, common_flags[f].var, argv[++i]);
            matched = true;
        }
        if (!matched)
            break;
    }
    *next_arg = i;
    char err[256];
    if (coop_config_load(&app->config, err, sizeof err) != COOP_ERR_OK) {
        fprintf(stderr, "coopd: configuration refused: %s\n", err);
        coop_config_dispose(&app->config);
        return 2;
    }
    coop_log_set_level(app->config.log_level);
    return 0;
}

static int make_data_dir(const char *dir)
{
    char path[PATH_MAX];
    coop_strlcpy(path, dir, sizeof path);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int coop_app_open_store(struct coop_app *app, bool migrate)
{
    const char *url = app->config.store_url;
    if (strncmp(url, "sqlite:", 7) == 0 && make_data_dir(app->config.data_dir) != 0) {
        fprintf(stderr, "coopd: COOP_DATA_DIR cannot be created\n");
        return 1;
    }
    int pool = app->config.threads + app->config.workers + 2;
    coop_err err = coop_store_open(url, pool, &app->store);
    if (err) {
        fprintf(stderr, "coopd: COOP_STORE cannot be opened: %s\n", coop_strerror(err));
        return 1;
    }
    if (migrate) {
        int applied = 0;
        err = coop_store_migrate(app->store, &applied);
        if (err) {
            fprintf(stderr, "coopd: migrations failed: %s\n", coop_strerror(err));
            return 1;
        }
    }
    return 0;
}

void coop_app_dispose(struct coop_app *app)
{
    coop_store_close(app->store);
    app->store = NULL;
    coop_config_dispose(&app->config);
}

int coop_cmd_migrate(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next < argc) {
        fprintf(stderr, "coopd migrate: unexpected argument\n");
        coop_app_dispose(&app);
        return 2;
    }
    rc = coop_app_open_store(&app, false);
    int applied = 0;
    if (!rc) {
        coop_err err = coop_store_migrate(app.store, &applied);
        if (err) {
            fprintf(stderr, "coopd migrate: failed: %s\n", coop_strerror(err));
            rc = 1;
        } else {
            printf("migrations applied: %d (store: %s)\n", applied,
                   coop_store_backend_name(app.store));
        }
    }
    coop_app_dispose(&app);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (coop_core_init() != COOP_ERR_OK) {
        fprintf(stderr, "coopd: libsodium failed to initialise\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("coopd %s\n", COOP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"serve", coop_cmd_serve},
        {"migrate", coop_cmd_migrate},
        {"token", coop_cmd_token},
        {"check", coop_cmd_check},
        {"audit", coop_cmd_audit},
        {"vault", coop_cmd_vault},
        {"attest", coop_cmd_attest},
        {"verify", coop_cmd_verify},
        {"webhook", coop_cmd_webhook},
        {"import", coop_cmd_import},
        {"repos", coop_cmd_repos},
    };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "coopd: unknown command '%.40s'\n", cmd);
    usage(stderr);
    return 2;
}

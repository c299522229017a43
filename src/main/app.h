/*
 * The running coopd: what serve builds and hands to each module, and the
 * table of modules it starts and stops. Commands other than serve use the
 * same struct with the parts they need.
 */
#ifndef COOP_MAIN_APP_H
#define COOP_MAIN_APP_H

#include "coop/config.h"
#include "coop/http.h"
#include "coop/store.h"

struct coop_vault;
struct coop_sanitizer;

struct coop_app {
    struct coop_config config;
    struct coop_store *store;
    struct coop_http_server *http;
    uint16_t port;
    /* Opened by the vault module's start, so modules started after it
     * (and request handlers) may use it; NULL outside coopd serve. */
    struct coop_vault *vault;
    /* Compiled by the sanitize module before later modules (the router)
     * register; shared by all threads; NULL outside coopd serve. */
    struct coop_sanitizer *sanitizer;
};

/*
 * A module of the server: register adds its routes (before the server
 * starts), start launches its background work (after), stop ends it (before
 * the store closes). Any of them may be NULL.
 */
struct coop_app_module {
    const char *name;
    coop_err (*register_routes)(struct coop_app *app);
    coop_err (*start)(struct coop_app *app);
    void (*stop)(struct coop_app *app);
};

/* NULL-terminated, in start order; defined in modules.c. */
extern const struct coop_app_module *const coop_app_modules[];

/* Loads the configuration from flags and environment; prints the reason
 * and returns non-zero on failure. argv[0] is the subcommand. */
int coop_app_configure(struct coop_app *app, int argc, char **argv, int *next_arg /* OUT */);
/* Opens (and migrates) the configured store. */
int coop_app_open_store(struct coop_app *app, bool migrate);
void coop_app_dispose(struct coop_app *app);

int coop_cmd_serve(int argc, char **argv);
int coop_cmd_migrate(int argc, char **argv);
int coop_cmd_token(int argc, char **argv);
int coop_cmd_check(int argc, char **argv);
int coop_cmd_audit(int argc, char **argv);
int coop_cmd_vault(int argc, char **argv);
int coop_cmd_attest(int argc, char **argv);
int coop_cmd_verify(int argc, char **argv);
int coop_cmd_webhook(int argc, char **argv);
int coop_cmd_import(int argc, char **argv);
int coop_cmd_repos(int argc, char **argv);

/* Production refusals shared by serve and check: prints each failure,
 * returns how many there were. */
int coop_app_production_failures(const struct coop_app *app, bool print);
/* The Model Router's provider compliance checks: prints the report to
 * stdout when print, else logs it; returns how many failed. */
int coop_app_router_check(const struct coop_app *app, bool print);

#endif

/*
 * PostgreSQL for unit tests: the server comes from COOP_TEST_PG_URL, or
 * from the file the ctest fixture (tests/pg/pg_harness start) wrote, named
 * by COOP_TEST_PG_URL_FILE. Each test binary gets its own schema, so tests
 * running in parallel on one server never see each other's tables; the
 * store URL it gets selects that schema through libpq's `options`.
 *
 * A test file that uses this header mentions COOP_TEST_PG, which is how
 * CMakeLists.txt knows to make it require the PostgreSQL fixture.
 */
#ifndef COOP_TEST_PG_H
#define COOP_TEST_PG_H

#include "coop/core.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct coop_test_pg {
    char base[1024]; /* the server's URL as given */
    char schema[64]; /* this test's schema */
    char url[1280];  /* the store URL selecting the schema */
};

/* The server URL, or "" when none is configured. */
static inline void coop_test_pg_base(char *out, size_t cap)
{
    out[0] = '\0';
    const char *env = getenv("COOP_TEST_PG_URL");
    if (env && *env) {
        coop_strlcpy(out, env, cap);
        return;
    }
    const char *file = getenv("COOP_TEST_PG_URL_FILE");
    FILE *f = file && *file ? fopen(file, "r") : NULL;
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
}

/* True on CI, where PostgreSQL tests must run rather than skip. */
static inline bool coop_test_pg_required(void)
{
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

static inline bool coop_test_pg_sql(const char *url, const char *sql)
{
    PGconn *db = PQconnectdb(url);
    bool ok = PQstatus(db) == CONNECTION_OK;
    if (ok) {
        PQclear(PQexec(db, "SET client_min_messages = warning"));
        PGresult *res = PQexec(db, sql);
        ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "pg_test: %s", PQerrorMessage(db));
        PQclear(res);
    } else {
        fprintf(stderr, "pg_test: cannot connect to the test server\n");
    }
    PQfinish(db);
    return ok;
}

/*
 * Creates a fresh schema on the test server and fills pg. Returns false
 * when no server is configured or it cannot be reached.
 */
static inline bool coop_test_pg_open(struct coop_test_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    coop_test_pg_base(pg->base, sizeof pg->base);
    if (!pg->base[0])
        return false;
    char rnd[9];
    coop_random_hex(rnd, 4);
    snprintf(pg->schema, sizeof pg->schema, "coop_test_%d_%s", (int)getpid(), rnd);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", pg->schema);
    if (!coop_test_pg_sql(pg->base, sql))
        return false;
    snprintf(pg->url, sizeof pg->url, "%s%soptions=-c%%20search_path%%3D%s", pg->base,
             strchr(pg->base, '?') ? "&" : "?", pg->schema);
    return true;
}

static inline void coop_test_pg_close(struct coop_test_pg *pg)
{
    if (!pg->schema[0])
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", pg->schema);
    coop_test_pg_sql(pg->base, sql);
    pg->schema[0] = '\0';
}

#endif

/*
 * A cmocka group run on both backends: first on a private in-memory SQLite
 * store, then on PostgreSQL in a schema of its own (pg_test.h). Each group
 * run gets a freshly migrated `store`. PostgreSQL's half is skipped when no
 * server is configured, except on CI, where that is a failure.
 *
 * Include after <cmocka.h>. A test file using it must still mention
 * COOP_TEST_PG itself: that is what makes CMake give it the PostgreSQL
 * fixture.
 */
#ifndef COOP_TEST_STORE_BOTH_H
#define COOP_TEST_STORE_BOTH_H

#include "pg_test.h"

#include "coop/store.h"

static struct coop_store *store;
static struct coop_test_pg both_pg;
static bool both_on_pg;

static int both_setup(void **state)
{
    (void)state;
    if (both_on_pg && !coop_test_pg_open(&both_pg))
        return -1;
    if (coop_store_open(both_on_pg ? both_pg.url : "memory", 1, &store) != COOP_ERR_OK)
        return -1;
    return coop_store_migrate(store, NULL) == COOP_ERR_OK ? 0 : -1;
}

static int both_teardown(void **state)
{
    (void)state;
    coop_store_close(store);
    if (both_on_pg)
        coop_test_pg_close(&both_pg);
    return 0;
}

/* The number of failed tests of both runs. */
static int run_on_both(const struct CMUnitTest *tests, size_t n)
{
    int failed = _cmocka_run_group_tests("sqlite", tests, n, both_setup, both_teardown);
    char base[1024];
    coop_test_pg_base(base, sizeof base);
    if (!base[0]) {
        if (coop_test_pg_required()) {
            fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server on CI\n");
            return 1;
        }
        fprintf(stderr, "COOP_TEST_PG: no PostgreSQL server, its half is skipped\n");
        return failed;
    }
    both_on_pg = true;
    return failed + _cmocka_run_group_tests("postgres", tests, n, both_setup, both_teardown);
}

#endif

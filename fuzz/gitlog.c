/*
 * Fuzz target: the `git log` stream `coopd import --stdin` reads. Each
 * input is imported into a fresh in-memory store; malformed records must be
 * skipped and counted, never crash or corrupt what was imported.
 */
#include "coop/graph.h"
#include "coop/store.h"

#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        coop_core_init();
        coop_log_set_level(COOP_LOG_ERROR);
        init = true;
    }
    if (size > 60000)
        return 0; /* fits a pipe buffer, so one thread can write then read */
    struct coop_store *store;
    if (coop_store_open("memory", 1, &store) || coop_store_migrate(store, NULL))
        abort();
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    if (size && write(fds[1], data, size) != (ssize_t)size)
        abort();
    close(fds[1]);
    struct coop_graph_import_stats stats;
    (void)coop_graph_import_fd(store, "fuzz.example/repo", fds[0], NULL, NULL, &stats);
    close(fds[0]);
    if (stats.commits_applied > stats.commits_read)
        abort();
    coop_store_close(store);
    return 0;
}

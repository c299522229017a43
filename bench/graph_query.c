/*
 * bench-graph_query STORE_URL REPO PATH [N]: the CPU time of one question,
 * in process (no HTTP), averaged over N calls: owners (JSON tree built and
 * serialized) and history (JSON text, limit 20), plus the first and the
 * cached truck factor of the whole repository. CPU time, not wall time, so
 * the figure holds on a machine that other work is loading.
 */
#include "bench_args.h"
#include "coop/graph.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-graph_query STORE_URL REPO PATH [N]\n");
        return 2;
    }
    int n = bench_arg_int(argc, argv, 4, 20000);
    struct coop_store *s;
    if (coop_core_init() || coop_store_open(argv[1], 2, &s)) {
        fprintf(stderr, "bench-graph_query: cannot open the store\n");
        return 1;
    }
    struct coop_graph_query q = {.repo = argv[2], .path = argv[3], .limit = 20};
    const char *what;
    struct coop_buf b;
    coop_buf_init(&b, COOP_GRAPH_TEXT_MAX);
    double t = cpu_now();
    for (int i = 0; i < n; i++) {
        struct json_object *o;
        if (coop_graph_owners(s, &q, &o, &what))
            return 1;
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        json_object_put(o);
    }
    printf("owners   %8.1f us CPU per question\n", (cpu_now() - t) / n * 1e6);
    t = cpu_now();
    for (int i = 0; i < n; i++)
        if (coop_graph_history_text(s, &q, &b, &what))
            return 1;
    printf("history  %8.1f us CPU per question (limit 20)\n", (cpu_now() - t) / n * 1e6);
    struct coop_graph_query tq = {.repo = argv[2]};
    for (int k = 0; k < 2; k++) {
        struct json_object *o;
        t = cpu_now();
        if (coop_graph_truck_factor_query(s, &tq, &o, &what))
            return 1;
        printf("truck factor of the repository, %s %8.1f ms CPU\n", k ? "cached:" : "first: ",
               (cpu_now() - t) * 1e3);
        json_object_put(o);
    }
    coop_buf_dispose(&b);
    coop_store_close(s);
    return 0;
}

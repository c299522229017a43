/* Command-line numbers for the benchmark programs: a positive integer or
 * the default when the argument is absent; anything else exits with 2. */
#ifndef COOP_BENCH_ARGS_H
#define COOP_BENCH_ARGS_H

#include "coop/core.h"

#include <stdio.h>
#include <stdlib.h>

static inline int bench_arg_int(int argc, char **argv, int i, int dflt)
{
    int64_t v;
    if (i >= argc)
        return dflt;
    if (coop_parse_i64(argv[i], &v) != COOP_ERR_OK || v < 1 || v > 1000000000) {
        fprintf(stderr, "argument %d must be a positive integer\n", i);
        exit(2);
    }
    return (int)v;
}

#endif

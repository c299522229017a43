/*
 * Fuzz target: CODEOWNERS parsing and matching in the three flavors. The
 * first byte picks the flavor; the rest is the file. Every parsed file is
 * matched against a few paths, and each reported match must point at a
 * real line of the input.
 */
#include "coop/graph.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {"README.md", "src/a/b/c.c", "docs/x/index.md",
                                        ".github/CODEOWNERS", "a b/c[1].txt", "x"};
    if (size < 1)
        return 0;
    enum coop_codeowners_flavor flavor = (enum coop_codeowners_flavor)(data[0] % 3);
    struct coop_codeowners *co = NULL;
    if (coop_codeowners_parse((const char *)data + 1, size - 1, flavor, &co) != COOP_ERR_OK)
        return 0;
    int lines = 1;
    for (size_t i = 1; i < size; i++)
        lines += data[i] == '\n';
    for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
        struct coop_codeowners_match m[8];
        size_t n = coop_codeowners_match(co, paths[p], m, 8);
        for (size_t i = 0; i < n && i < 8; i++)
            if (m[i].line < 1 || m[i].line > lines || !m[i].pattern)
                abort();
    }
    const struct coop_codeowners_error *errs;
    size_t nerr = coop_codeowners_errors(co, &errs);
    for (size_t i = 0; i < nerr; i++)
        if (errs[i].line < 1 || errs[i].line > lines || !errs[i].message)
            abort();
    coop_codeowners_free(co);
    return 0;
}

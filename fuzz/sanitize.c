/*
 * Fuzz target: the sanitizer over arbitrary bytes, with and without the
 * PII rules. It must never fail on input it can hold, never read outside
 * the input (ASan), leave a text without redactions unchanged, and find
 * something wherever the PCRE2-only baseline does: a secret the prefilter
 * lets through is a bug.
 */
#include "coop/sanitize.h"
#include "sanitize/sanitize_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct coop_sanitizer *san;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!san && coop_sanitizer_new(&san) != COOP_ERR_OK)
        abort();
    /* A heap copy of exactly size bytes, so any over-read is caught. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    unsigned groups = (size && (data[0] & 1)) ? COOP_SANITIZE_PII : 0;
    struct coop_buf out, base;
    coop_buf_init(&out, size * 8 + 1024);
    coop_buf_init(&base, size * 8 + 1024);
    struct coop_sanitize_counts c = {0}, cb = {0};
    if (coop_sanitize_payload(san, groups, text, size, &out, &c) != COOP_ERR_OK)
        abort();
    if (coop_sanitize_payload_pcre2_only(san, groups, text, size, &base, &cb) != COOP_ERR_OK)
        abort();
    if (c.total == 0 && (out.len != size || (size && memcmp(out.data, text, size) != 0)))
        abort();
    if (cb.total > 0 && c.total == 0)
        abort();
    coop_buf_dispose(&out);
    coop_buf_dispose(&base);
    free(text);
    return 0;
}

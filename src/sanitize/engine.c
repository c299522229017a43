/*
 * The redaction engine. One Vectorscan database (block mode, no start of
 * match, so it stays small and fast) finds where candidates end over the
 * whole text; each hit opens a window around it in which the rule's PCRE2
 * pattern (JIT-compiled) finds the exact span; the filters drop
 * placeholders; overlapping spans merge; the text is copied out with each
 * span replaced by "[REDACTED:<rule-id>]".
 *
 * Everything compiled is built once, on a thread coop_sanitizer_new()
 * starts (compiling the rule set takes seconds, which a server start should
 * not wait for), and only read afterwards; every use waits for that thread
 * to finish, and fails closed if it could not compile. The per-call state (Vectorscan scratch, PCRE2 match data, the
 * window and span lists) lives in a pool of scratch sets: a call takes one
 * and puts it back, so any number of threads can sanitize at once and
 * steady state allocates nothing.
 */
#include "sanitize_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 64

/* Database 0 holds the secret rules, database 1 the secret and PII rules. */
enum { DB_SECRETS, DB_ALL, DB_COUNT };

/* PCRE2 looks for matches starting in [start, start_max] and ending by end
 * (the end widens when a match reaches it). */
struct window {
    size_t start, start_max, end;
    unsigned rule;
};

struct span {
    size_t start, end;
    unsigned rule;
};

struct scratch {
    struct scratch *next;
    hs_scratch_t *hs;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* per scratch: it carries the offset limit */
    struct window *win;
    size_t nwin, capwin;
    struct span *spans;
    size_t nspan, capspan;
    /* The window each rule has open while Vectorscan reports hits. */
    size_t open_start[MAX_RULES], open_start_max[MAX_RULES], open_end[MAX_RULES];
    bool open[MAX_RULES];
    /* Set for the duration of one call. */
    size_t len;
    bool nomem;
};

struct coop_sanitizer {
    hs_database_t *db[DB_COUNT];
    hs_scratch_t *proto; /* sized for both databases; cloned per scratch set */
    pcre2_code *re[MAX_RULES];
    bool jit[MAX_RULES];
    uint32_t max_groups;
    pthread_mutex_t lock;
    struct scratch *pool;
    /* Background compilation: ready is set (under ready_lock) when done. */
    pthread_t compiler;
    bool compiler_started;
    pthread_mutex_t ready_lock;
    pthread_cond_t ready_cond;
    bool ready;
    coop_err compile_err;
    atomic_bool cancel; /* set by coop_sanitizer_free: stop between stages */
};

/* ---- rule information -------------------------------------------------- */

static struct coop_sanitize_rule_info rule_infos[MAX_RULES];
static size_t rule_info_count;
static pthread_once_t rule_infos_once = PTHREAD_ONCE_INIT;

static void build_rule_infos(void)
{
    for (size_t i = 0; i < coop_sanitize_rule_count && i < MAX_RULES; i++)
        rule_infos[i] = coop_sanitize_rule_table[i].info;
    rule_info_count = coop_sanitize_rule_count < MAX_RULES ? coop_sanitize_rule_count : MAX_RULES;
}

size_t coop_sanitize_rules(const struct coop_sanitize_rule_info **out)
{
    pthread_once(&rule_infos_once, build_rule_infos);
    *out = rule_infos;
    return rule_info_count;
}

/* ---- compilation ------------------------------------------------------- */

static coop_err compile_db(unsigned groups, hs_database_t **out)
{
    const char *exprs[MAX_RULES];
    unsigned flags[MAX_RULES], ids[MAX_RULES];
    unsigned n = 0;
    for (size_t i = 0; i < coop_sanitize_rule_count; i++) {
        const struct sanitize_rule *r = &coop_sanitize_rule_table[i];
        if (!(r->info.group & groups))
            continue;
        exprs[n] = r->prefilter;
        flags[n] = r->prefilter_flags;
        ids[n] = (unsigned)i;
        n++;
    }
    hs_compile_error_t *cerr = NULL;
    if (hs_compile_multi(exprs, flags, ids, n, HS_MODE_BLOCK, NULL, out, &cerr) != HS_SUCCESS) {
        const char *id = (cerr && cerr->expression >= 0 && (unsigned)cerr->expression < n)
                             ? coop_sanitize_rule_table[ids[cerr->expression]].info.id
                             : "(database)";
        coop_log_error("sanitizer prefilter does not compile", COOP_F_STR("rule", id),
                       COOP_F_STR("reason", cerr ? cerr->message : "unknown"));
        hs_free_compile_error(cerr);
        return COOP_ERR_INTERNAL;
    }
    return COOP_ERR_OK;
}

static coop_err compile_patterns(struct coop_sanitizer *s)
{
    for (size_t i = 0; i < coop_sanitize_rule_count; i++) {
        const struct sanitize_rule *r = &coop_sanitize_rule_table[i];
        int errcode;
        PCRE2_SIZE erroff;
        s->re[i] =
            pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED,
                          r->pattern_flags | PCRE2_USE_OFFSET_LIMIT, &errcode, &erroff, NULL);
        if (!s->re[i]) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            coop_log_error("sanitizer pattern does not compile", COOP_F_STR("rule", r->info.id),
                           COOP_F_STR("reason", (const char *)msg), COOP_F_INT("offset", erroff));
            return COOP_ERR_INTERNAL;
        }
        s->jit[i] = pcre2_jit_compile(s->re[i], PCRE2_JIT_COMPLETE) == 0;
        uint32_t groups = 0;
        pcre2_pattern_info(s->re[i], PCRE2_INFO_CAPTURECOUNT, &groups);
        if (groups + 1 > s->max_groups)
            s->max_groups = groups + 1;
    }
    return COOP_ERR_OK;
}

/* A stage is never interrupted (Vectorscan has no way to), but a sanitizer
 * freed while compiling stops at the next stage instead of finishing: a
 * server stopped during its first seconds does not wait for the whole set. */
static bool cancelled(struct coop_sanitizer *s)
{
    return atomic_load(&s->cancel);
}

static coop_err compile_all(struct coop_sanitizer *s)
{
    coop_err err = compile_db(COOP_SANITIZE_SECRETS, &s->db[DB_SECRETS]);
    if (!err && cancelled(s))
        err = COOP_ERR_UNAVAILABLE;
    if (!err)
        err = compile_db(COOP_SANITIZE_SECRETS | COOP_SANITIZE_PII, &s->db[DB_ALL]);
    if (!err && cancelled(s))
        err = COOP_ERR_UNAVAILABLE;
    for (int i = 0; !err && i < DB_COUNT; i++)
        if (hs_alloc_scratch(s->db[i], &s->proto) != HS_SUCCESS)
            err = COOP_ERR_NOMEM;
    if (!err)
        err = compile_patterns(s);
    return err;
}

static void *compile_thread(void *arg)
{
    struct coop_sanitizer *s = arg;
    coop_err err = compile_all(s);
    if (err && !cancelled(s))
        coop_log_error("sanitizer rules do not compile: every LLM request will be refused",
                       COOP_F_ERR(err));
    pthread_mutex_lock(&s->ready_lock);
    s->compile_err = err;
    s->ready = true;
    pthread_cond_broadcast(&s->ready_cond);
    pthread_mutex_unlock(&s->ready_lock);
    return NULL;
}

/* Blocks until compilation has finished; its result. */
static coop_err wait_ready(struct coop_sanitizer *s)
{
    pthread_mutex_lock(&s->ready_lock);
    while (!s->ready)
        pthread_cond_wait(&s->ready_cond, &s->ready_lock);
    coop_err err = s->compile_err;
    pthread_mutex_unlock(&s->ready_lock);
    return err;
}

coop_err coop_sanitizer_new(struct coop_sanitizer **out)
{
    *out = NULL;
    if (coop_sanitize_rule_count > MAX_RULES)
        return COOP_ERR_INTERNAL;
    struct coop_sanitizer *s = calloc(1, sizeof *s);
    if (!s)
        return COOP_ERR_NOMEM;
    atomic_init(&s->cancel, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->ready_lock, NULL);
    pthread_cond_init(&s->ready_cond, NULL);
    if (pthread_create(&s->compiler, NULL, compile_thread, s) != 0) {
        compile_thread(s); /* no thread to be had: compile here */
    } else {
        s->compiler_started = true;
    }
    *out = s;
    return COOP_ERR_OK;
}

coop_err coop_sanitizer_wait(const struct coop_sanitizer *s)
{
    return s ? wait_ready((struct coop_sanitizer *)s) : COOP_ERR_INVALID;
}

static void scratch_free(struct scratch *sc)
{
    if (!sc)
        return;
    hs_free_scratch(sc->hs);
    pcre2_match_data_free(sc->md);
    pcre2_match_context_free(sc->mctx);
    free(sc->win);
    free(sc->spans);
    free(sc);
}

void coop_sanitizer_free(struct coop_sanitizer *s)
{
    if (!s)
        return;
    if (s->compiler_started) {
        atomic_store(&s->cancel, true);
        pthread_join(s->compiler, NULL);
    }
    pthread_mutex_destroy(&s->ready_lock);
    pthread_cond_destroy(&s->ready_cond);
    while (s->pool) {
        struct scratch *next = s->pool->next;
        scratch_free(s->pool);
        s->pool = next;
    }
    for (int i = 0; i < DB_COUNT; i++)
        hs_free_database(s->db[i]);
    hs_free_scratch(s->proto);
    for (size_t i = 0; i < coop_sanitize_rule_count && i < MAX_RULES; i++)
        pcre2_code_free(s->re[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the scratch pool -------------------------------------------------- */

static struct scratch *scratch_take(struct coop_sanitizer *s)
{
    pthread_mutex_lock(&s->lock);
    struct scratch *sc = s->pool;
    if (sc)
        s->pool = sc->next;
    pthread_mutex_unlock(&s->lock);
    if (sc)
        return sc;
    sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    if (hs_clone_scratch(s->proto, &sc->hs) != HS_SUCCESS ||
        !(sc->md = pcre2_match_data_create(s->max_groups, NULL)) ||
        !(sc->mctx = pcre2_match_context_create(NULL))) {
        scratch_free(sc);
        return NULL;
    }
    /* The patterns are linear, but a pathological input must end in
     * bounded time whatever a future rule does. */
    pcre2_set_match_limit(sc->mctx, 5000000);
    return sc;
}

static void scratch_give(struct coop_sanitizer *s, struct scratch *sc)
{
    pthread_mutex_lock(&s->lock);
    sc->next = s->pool;
    s->pool = sc;
    pthread_mutex_unlock(&s->lock);
}

/* ---- collecting windows and spans -------------------------------------- */

static bool push_window(struct scratch *sc, unsigned rule, size_t start, size_t start_max,
                        size_t end)
{
    if (sc->nwin == sc->capwin) {
        size_t cap = sc->capwin ? sc->capwin * 2 : 64;
        struct window *w = realloc(sc->win, cap * sizeof *w);
        if (!w)
            return false;
        sc->win = w;
        sc->capwin = cap;
    }
    sc->win[sc->nwin++] = (struct window){start, start_max, end, rule};
    return true;
}

static bool push_span(struct scratch *sc, unsigned rule, size_t start, size_t end)
{
    if (sc->nspan == sc->capspan) {
        size_t cap = sc->capspan ? sc->capspan * 2 : 32;
        struct span *p = realloc(sc->spans, cap * sizeof *p);
        if (!p)
            return false;
        sc->spans = p;
        sc->capspan = cap;
    }
    sc->spans[sc->nspan++] = (struct span){start, end, rule};
    return true;
}

/* Vectorscan reports where a candidate ends; the match PCRE2 confirms starts
 * at most `back` bytes before. Hits of one rule close to each other share
 * one window. */
static int on_hit(unsigned int id, unsigned long long from, unsigned long long to,
                  unsigned int flags, void *ctx)
{
    struct scratch *sc = ctx;
    const struct sanitize_rule *r = &coop_sanitize_rule_table[id];
    size_t end_at = (size_t)to;
    size_t start = end_at > r->back ? end_at - r->back : 0;
    size_t end = sc->len - end_at > r->fwd ? end_at + r->fwd : sc->len;
    if (sc->open[id] && start >= sc->open_start[id] && start <= sc->open_start_max[id] + 1) {
        if (end > sc->open_end[id])
            sc->open_end[id] = end;
        if (end_at > sc->open_start_max[id])
            sc->open_start_max[id] = end_at;
        return 0;
    }
    if (sc->open[id] &&
        !push_window(sc, id, sc->open_start[id], sc->open_start_max[id], sc->open_end[id])) {
        sc->nomem = true;
        return 1;
    }
    sc->open[id] = true;
    sc->open_start[id] = start;
    sc->open_start_max[id] = end_at;
    sc->open_end[id] = end;
    return 0;
}

static int pcre_run(const struct coop_sanitizer *s, struct scratch *sc, unsigned rule,
                    const char *text, size_t limit, size_t pos)
{
    if (s->jit[rule])
        return pcre2_jit_match(s->re[rule], (PCRE2_SPTR)text, limit, pos, 0, sc->md, sc->mctx);
    return pcre2_match(s->re[rule], (PCRE2_SPTR)text, limit, pos, 0, sc->md, sc->mctx);
}

/*
 * Runs one rule's pattern over a window of text: matches start in
 * [w->start, w->start_max] (PCRE2's offset limit, so a window without a
 * match costs a few anchored attempts, not a scan) and end by w->end; the
 * bytes before the window stay visible to lookbehinds; a match reaching the
 * end is retried with a wider window, so an edge never cuts a secret short.
 * Records the accepted spans.
 */
static bool confirm(const struct coop_sanitizer *s, struct scratch *sc, const struct window *w,
                    const char *text, size_t len)
{
    unsigned rule = w->rule;
    const struct sanitize_rule *r = &coop_sanitize_rule_table[rule];
    size_t pos = w->start, limit = w->end;
    pcre2_set_offset_limit(sc->mctx, w->start_max >= len ? PCRE2_UNSET : w->start_max);
    while (pos <= limit && pos <= w->start_max) {
        int rc = pcre_run(s, sc, rule, text, limit, pos);
        if (rc == PCRE2_ERROR_NOMATCH)
            return true;
        if (rc < 0) {
            /* The match limit: fail closed, the whole window goes. */
            return push_span(sc, rule, pos, limit);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
        size_t mstart = ov[0], mend = ov[1];
        if (mend == limit && limit < len) {
            size_t grow = r->fwd > 4096 ? r->fwd : 4096;
            limit = len - limit > grow ? limit + grow : len;
            continue;
        }
        size_t ss = mstart, se = mend;
        if (rc > 1 && ov[2] != PCRE2_UNSET) {
            ss = ov[2];
            se = ov[3];
        }
        bool quoted =
            ss > 0 && (text[ss - 1] == '"' || text[ss - 1] == '\'' || text[ss - 1] == '`');
        bool accepted = se > ss && coop_sanitize_accept(r, text + ss, se - ss, quoted);
        if (accepted && !push_span(sc, rule, ss, se))
            return false;
        /* A rejected candidate may hide a real one that starts inside it
         * (a placeholder-looking run swallowing the next assignment), so
         * the search goes on from the next byte; an accepted one is
         * redacted whole. */
        pos = accepted && mend > mstart ? mend : mstart + 1;
    }
    return true;
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    unsigned px = coop_sanitize_rule_table[x->rule].priority;
    unsigned py = coop_sanitize_rule_table[y->rule].priority;
    if (px != py)
        return px < py ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    return x->rule < y->rule ? -1 : (x->rule > y->rule);
}

static void count_rule(struct coop_sanitize_counts *counts, const char *id)
{
    counts->total++;
    for (size_t i = 0; i < counts->n; i++) {
        if (counts->by_rule[i].rule_id == id || strcmp(counts->by_rule[i].rule_id, id) == 0) {
            counts->by_rule[i].count++;
            return;
        }
    }
    if (counts->n < COOP_SANITIZE_MAX_COUNTS) {
        counts->by_rule[counts->n].rule_id = id;
        counts->by_rule[counts->n].count = 1;
        counts->n++;
    }
}

/* Merges overlapping spans (the best-priority rule names the result) and
 * writes the redacted text. */
static coop_err emit(struct scratch *sc, const char *text, size_t len, struct coop_buf *out,
                     struct coop_sanitize_counts *counts)
{
    qsort(sc->spans, sc->nspan, sizeof *sc->spans, span_cmp);
    struct coop_sanitize_counts local = {0};
    coop_err err = COOP_ERR_OK;
    size_t copied = 0;
    size_t i = 0;
    while (!err && i < sc->nspan) {
        struct span cur = sc->spans[i++];
        while (i < sc->nspan && sc->spans[i].start < cur.end) {
            if (sc->spans[i].end > cur.end)
                cur.end = sc->spans[i].end;
            if (coop_sanitize_rule_table[sc->spans[i].rule].priority <
                coop_sanitize_rule_table[cur.rule].priority)
                cur.rule = sc->spans[i].rule;
            i++;
        }
        const char *id = coop_sanitize_rule_table[cur.rule].info.id;
        err = coop_buf_append(out, text + copied, cur.start - copied);
        if (!err)
            err = coop_buf_puts(out, "[REDACTED:");
        if (!err)
            err = coop_buf_puts(out, id);
        if (!err)
            err = coop_buf_append(out, "]", 1);
        copied = cur.end;
        count_rule(&local, id);
    }
    if (!err)
        err = coop_buf_append(out, text + copied, len - copied);
    if (!err && counts) {
        for (size_t k = 0; k < local.n; k++)
            for (unsigned c = 0; c < local.by_rule[k].count; c++)
                count_rule(counts, local.by_rule[k].rule_id);
    }
    return err;
}

static coop_err prefilter(const struct coop_sanitizer *s, struct scratch *sc, unsigned groups,
                          const char *text, size_t len)
{
    const hs_database_t *db = (groups & COOP_SANITIZE_PII) ? s->db[DB_ALL] : s->db[DB_SECRETS];
    memset(sc->open, 0, sizeof sc->open);
    hs_error_t rc = hs_scan(db, text, (unsigned)len, 0, sc->hs, on_hit, sc);
    if (sc->nomem)
        return COOP_ERR_NOMEM;
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED)
        return COOP_ERR_INTERNAL;
    for (unsigned i = 0; i < coop_sanitize_rule_count; i++)
        if (sc->open[i] &&
            !push_window(sc, i, sc->open_start[i], sc->open_start_max[i], sc->open_end[i]))
            return COOP_ERR_NOMEM;
    return COOP_ERR_OK;
}

static coop_err run(const struct coop_sanitizer *cs, unsigned groups, const char *text, size_t len,
                    struct coop_buf *out, struct coop_sanitize_counts *counts, bool use_prefilter)
{
    /* The pool is the only part that changes; the compiled rules do not. */
    struct coop_sanitizer *s = (struct coop_sanitizer *)cs;
    if (!s || !out || (!text && len))
        return COOP_ERR_INVALID;
    if (len > 0xFFFFFFFFu)
        return COOP_ERR_TOO_LARGE;
    coop_err ready = wait_ready(s);
    if (ready)
        return ready; /* rules that did not compile let nothing through */
    groups |= COOP_SANITIZE_SECRETS;
    size_t base = out->len;
    struct scratch *sc = scratch_take(s);
    if (!sc)
        return COOP_ERR_NOMEM;
    sc->nwin = sc->nspan = 0;
    sc->len = len;
    sc->nomem = false;
    coop_err err = COOP_ERR_OK;
    if (use_prefilter) {
        err = len ? prefilter(s, sc, groups, text, len) : COOP_ERR_OK;
    } else {
        for (unsigned i = 0; !err && i < coop_sanitize_rule_count; i++)
            if ((coop_sanitize_rule_table[i].info.group & groups) &&
                !push_window(sc, i, 0, len, len))
                err = COOP_ERR_NOMEM;
    }
    for (size_t i = 0; !err && i < sc->nwin; i++) {
        if (!confirm(s, sc, &sc->win[i], text, len))
            err = COOP_ERR_NOMEM;
    }
    if (!err)
        err = sc->nspan ? emit(sc, text, len, out, counts) : coop_buf_append(out, text, len);
    scratch_give(s, sc);
    if (err && out->data) {
        out->len = base;
        out->data[base] = '\0';
    }
    return err;
}

coop_err coop_sanitize_payload(const struct coop_sanitizer *s, unsigned groups, const char *text,
                               size_t len, struct coop_buf *out,
                               struct coop_sanitize_counts *counts)
{
    return run(s, groups, text, len, out, counts, true);
}

coop_err coop_sanitize_payload_pcre2_only(const struct coop_sanitizer *s, unsigned groups,
                                          const char *text, size_t len, struct coop_buf *out,
                                          struct coop_sanitize_counts *counts)
{
    return run(s, groups, text, len, out, counts, false);
}

/*
 * Import of a `git log` stream (the format is in include/coop/graph.h and
 * docs/graph.md): NUL-separated tokens, a commit header starting with
 * \x01, then status/path tokens. Commits are applied a batch per
 * transaction, so the fsync of a commit is paid once per batch, and the
 * last imported sha is recorded in the same transaction: stopping at any
 * point leaves a consistent store that a new import continues.
 */
#include "graph_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)
#define BATCH_COMMITS 2000
#define MAX_TOKEN (64u << 10)
#define MAX_CHANGES 200000

enum expect {
    EXPECT_HEADER,
    EXPECT_STATUS,
    EXPECT_PATH,     /* the only path of A/M/D */
    EXPECT_OLD_PATH, /* first path of R */
    EXPECT_NEW_PATH, /* second path of R */
};

struct pending_change {
    char status;
    size_t path, old_path; /* offsets into the arena */
};

struct parser {
    struct coop_buf arena; /* the current commit's strings, NUL-separated */
    size_t header[5];      /* sha, time, name, email, subject */
    int nheader;
    bool in_commit;
    bool bad; /* the current record is malformed */
    enum expect expect;
    char status;
    size_t old_off; /* the old path of the rename being read */
    struct pending_change *changes;
    size_t nchanges, cap;
    struct coop_graph_change *out; /* built at flush */
    size_t out_cap;
};

struct importer {
    struct coop_store *store;
    const char *repo;
    struct coop_conn *conn;
    int64_t repo_id;
    int batch;
    char last_sha[64];
    struct coop_graph_import_stats *stats;
    coop_graph_progress_fn progress;
    void *progress_ctx;
    int64_t start_ns;
    struct parser p;
};

static coop_err arena_add(struct parser *p, const char *s, size_t n, size_t *off)
{
    *off = p->arena.len;
    coop_err err = coop_buf_append(&p->arena, s, n);
    return err ? err : coop_buf_append(&p->arena, "", 1);
}

static coop_err add_change(struct parser *p, char status, size_t path, size_t old_path)
{
    if (p->nchanges == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        if (cap > MAX_CHANGES)
            return COOP_ERR_TOO_LARGE;
        struct pending_change *n = realloc(p->changes, cap * sizeof *n);
        if (!n)
            return COOP_ERR_NOMEM;
        p->changes = n;
        p->cap = cap;
    }
    p->changes[p->nchanges++] = (struct pending_change){status, path, old_path};
    return COOP_ERR_OK;
}

static coop_err begin_batch(struct importer *im)
{
    coop_err err = coop_store_acquire(im->store, &im->conn);
    if (err)
        return err;
    err = coop_conn_begin(im->conn, true);
    if (!err)
        err = coop_graph_repo_ensure(im->conn, im->repo, &im->repo_id);
    if (err) {
        coop_conn_rollback(im->conn);
        coop_store_release(im->store, im->conn);
        im->conn = NULL;
    }
    return err;
}

static coop_err end_batch(struct importer *im, bool ok)
{
    if (!im->conn)
        return COOP_ERR_OK;
    coop_err err = COOP_ERR_OK;
    if (ok && im->last_sha[0])
        err = coop_conn_exec(im->conn, "UPDATE graph_repos SET import_head = ? WHERE id = ?",
                             COOP_PARAMS(COOP_PT(im->last_sha), COOP_PI(im->repo_id)), NULL);
    if (ok && !err)
        err = coop_conn_commit(im->conn);
    if (!ok || err)
        coop_conn_rollback(im->conn);
    coop_store_release(im->store, im->conn);
    im->conn = NULL;
    im->batch = 0;
    im->stats->seconds = (double)(coop_clock_mono_ns() - im->start_ns) / 1e9;
    if (ok && !err && im->progress && !im->progress(im->stats, im->progress_ctx))
        return COOP_ERR_TIMEOUT;
    return err;
}

/* Applies the commit gathered so far (if any) and resets the parser. */
static coop_err flush(struct importer *im)
{
    struct parser *p = &im->p;
    coop_err err = COOP_ERR_OK;
    if (!p->in_commit)
        return COOP_ERR_OK;
    if (p->bad || p->nheader < 5) {
        im->stats->errors++;
        goto reset;
    }
    if (p->nchanges > p->out_cap) {
        struct coop_graph_change *n = realloc(p->out, p->nchanges * sizeof *n);
        if (!n)
            return COOP_ERR_NOMEM;
        p->out = n;
        p->out_cap = p->nchanges;
    }
    const char *a = p->arena.data;
    for (size_t i = 0; i < p->nchanges; i++)
        p->out[i] = (struct coop_graph_change){p->changes[i].status, a + p->changes[i].path,
                                               p->changes[i].status == 'R'
                                                   ? a + p->changes[i].old_path
                                                   : NULL};
    int64_t secs = 0;
    if (coop_parse_i64(a + p->header[1], &secs) != COOP_ERR_OK) {
        im->stats->errors++;
        goto reset;
    }
    struct coop_graph_commit cm = {
        .sha = a + p->header[0],
        .author_name = a + p->header[2],
        .author_email = a + p->header[3],
        .time_ms = secs * 1000,
        .message = a + p->header[4],
        .changes = p->out,
        .n_changes = p->nchanges,
    };
    if (!im->conn && (err = begin_batch(im)))
        return err;
    bool applied = false;
    if ((err = coop_graph_commit_apply(im->conn, im->repo_id, &cm, &applied)))
        return err;
    im->stats->commits_read++;
    if (applied) {
        im->stats->commits_applied++;
        im->stats->changes += (int64_t)p->nchanges;
    }
    coop_strlcpy(im->last_sha, cm.sha, sizeof im->last_sha);
    if (++im->batch >= BATCH_COMMITS)
        err = end_batch(im, true);
reset:
    coop_buf_reset(&p->arena);
    p->nheader = 0;
    p->nchanges = 0;
    p->in_commit = false;
    p->bad = false;
    p->expect = EXPECT_HEADER;
    return err;
}

static coop_err on_status(struct parser *p, const char *t, size_t n)
{
    switch (t[0]) {
    case 'A':
    case 'C': /* a copy adds its destination */
        p->status = 'A';
        break;
    case 'M':
    case 'T':
        p->status = 'M';
        break;
    case 'D':
        p->status = 'D';
        break;
    case 'R':
        p->status = 'R';
        break;
    default:
        p->status = 0; /* U, X: nothing to record, but a path follows */
        break;
    }
    p->expect = t[0] == 'R' || t[0] == 'C' ? EXPECT_OLD_PATH : EXPECT_PATH;
    if (t[0] == 'C')
        p->status = 'C'; /* remembered to drop the source path */
    (void)n;
    return COOP_ERR_OK;
}

static coop_err on_token(struct importer *im, const char *t, size_t n)
{
    struct parser *p = &im->p;
    coop_err err = COOP_ERR_OK;
    while (n && t[0] == '\n' && p->expect != EXPECT_PATH && p->expect != EXPECT_OLD_PATH &&
           p->expect != EXPECT_NEW_PATH) {
        t++;
        n--;
    }
    if (n && t[0] == '\x01') {
        if ((err = flush(im)))
            return err;
        p->in_commit = true;
        p->expect = EXPECT_HEADER;
        return arena_add(p, t + 1, n - 1, &p->header[p->nheader++]);
    }
    if (!p->in_commit)
        return n ? COOP_ERR_PROTOCOL : COOP_ERR_OK;
    size_t off;
    switch (p->expect) {
    case EXPECT_HEADER:
        if ((err = arena_add(p, t, n, &off)))
            return err;
        p->header[p->nheader++] = off;
        if (p->nheader == 5)
            p->expect = EXPECT_STATUS;
        return COOP_ERR_OK;
    case EXPECT_STATUS:
        if (!n)
            return COOP_ERR_OK;
        return on_status(p, t, n);
    case EXPECT_PATH:
        p->expect = EXPECT_STATUS;
        if (!p->status)
            return COOP_ERR_OK;
        if ((err = arena_add(p, t, n, &off)))
            return err;
        return add_change(p, p->status, off, 0);
    case EXPECT_OLD_PATH:
        if ((err = arena_add(p, t, n, &off)))
            return err;
        p->old_off = off;
        p->expect = EXPECT_NEW_PATH;
        return COOP_ERR_OK;
    case EXPECT_NEW_PATH:
        p->expect = EXPECT_STATUS;
        if ((err = arena_add(p, t, n, &off)))
            return err;
        if (p->status == 'C')
            return add_change(p, 'A', off, 0);
        return add_change(p, 'R', off, p->old_off);
    }
    return COOP_ERR_OK;
}

/* Feeds a chunk of bytes; *used says how many formed whole tokens. */
static coop_err feed(struct importer *im, const char *data, size_t len, size_t *used)
{
    size_t start = 0;
    for (;;) {
        const char *nul = memchr(data + start, '\0', len - start);
        if (!nul)
            break;
        size_t n = (size_t)(nul - (data + start));
        coop_err err = on_token(im, data + start, n);
        if (err == COOP_ERR_PROTOCOL) {
            im->stats->errors++;
            err = COOP_ERR_OK;
        }
        if (err)
            return err;
        start += n + 1;
    }
    *used = start;
    return COOP_ERR_OK;
}

static coop_err read_all(struct importer *im, int fd)
{
    size_t cap = READ_CHUNK + MAX_TOKEN, have = 0;
    char *buf = malloc(cap);
    if (!buf)
        return COOP_ERR_NOMEM;
    coop_err err = COOP_ERR_OK;
    for (;;) {
        ssize_t r = read(fd, buf + have, cap - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = COOP_ERR_IO;
            break;
        }
        if (r == 0) {
            /* A stream that does not end with NUL: the last token still counts. */
            if (have)
                err = on_token(im, buf, have);
            break;
        }
        have += (size_t)r;
        size_t used;
        if ((err = feed(im, buf, have, &used)))
            break;
        memmove(buf, buf + used, have - used);
        have -= used;
        if (have >= MAX_TOKEN) {
            err = COOP_ERR_TOO_LARGE;
            break;
        }
    }
    free(buf);
    if (err == COOP_ERR_PROTOCOL) {
        im->stats->errors++;
        err = COOP_ERR_OK;
    }
    return err;
}

coop_err coop_graph_import_fd(struct coop_store *store, const char *repo, int fd,
                              coop_graph_progress_fn progress, void *progress_ctx,
                              struct coop_graph_import_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    struct importer im = {
        .store = store,
        .repo = repo,
        .stats = stats,
        .progress = progress,
        .progress_ctx = progress_ctx,
        .start_ns = coop_clock_mono_ns(),
    };
    coop_buf_init(&im.p.arena, (size_t)MAX_CHANGES * 2 * MAX_TOKEN);
    coop_err err = read_all(&im, fd);
    if (!err)
        err = flush(&im);
    coop_err end = end_batch(&im, err == COOP_ERR_OK);
    if (!err)
        err = end;
    if (err == COOP_ERR_OK)
        coop_graph_cache_clear_();
    coop_buf_dispose(&im.p.arena);
    free(im.p.changes);
    free(im.p.out);
    stats->seconds = (double)(coop_clock_mono_ns() - im.start_ns) / 1e9;
    return err;
}

static coop_err head_tx(struct coop_conn *c, void *ctx)
{
    void **a = ctx;
    struct coop_graph_text_ t = {a[1], 64, false};
    coop_err err = coop_conn_query(c, "SELECT import_head FROM graph_repos WHERE name = ?",
                                   COOP_PARAMS(COOP_PT(a[0])), coop_graph_row_text_, &t);
    return err == COOP_ERR_DUPLICATE ? COOP_ERR_OK : err;
}

coop_err coop_graph_import_head(struct coop_store *store, const char *repo, char out[64])
{
    out[0] = '\0';
    void *a[2] = {(void *)repo, out};
    return coop_store_tx(store, false, head_tx, a);
}

/*
 * The hosts jobs: they run outside transactions (COOP_JOBS_OUTSIDE_TX),
 * call a code host, then write what they learned in one transaction each.
 *
 *  hosts.codeowners  repo        the default branch's CODEOWNERS, first found
 *                                of the host's documented locations
 *  hosts.backfill    repo        history newest first, a bounded number of
 *                                pages per run, resumable from a cursor kept
 *                                in hosts_sync, with each commit's files
 *  hosts.gap         repo@after  the commits a truncated push left out: from
 *                                `after` back to the push's `before` (or the
 *                                first commit already known)
 *  hosts.pull        repo#N      a pull request's files and reviewers
 *  hosts.slack_user  U123        a Slack user's email, linking them to a person
 *
 * A host that says to wait (429, X-RateLimit-Remaining 0, Retry-After,
 * GitHub's secondary limits) does not fail the job: what was fetched is
 * kept, and a continuation job is enqueued to run when the host allows.
 * A 401 fails the job with an error naming the setting to fix, never the
 * token.
 */
#include "coop/jobs.h"
#include "hosts_int.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHANGE_PAGES 20
#define MAX_GAP_PAGES 50

struct hosts_env {
    const struct coop_config *cfg;
    struct coop_store *store;
};

static struct hosts_env env;

/* ---- errors and rescheduling ------------------------------------------------- */

static void job_error(struct coop_job *job, const struct coop_host_ops *ops, coop_err err,
                      const char *what)
{
    const char *why;
    switch (err) {
    case COOP_ERR_AUTH:
        why = "401 unauthorized: the token is missing, expired or revoked; check";
        break;
    case COOP_ERR_FORBIDDEN:
        why = "403 forbidden: the token lacks access; check";
        break;
    case COOP_ERR_NOT_FOUND:
        why = "404 not found (unknown repository, or no access with";
        break;
    case COOP_ERR_CONFIG:
        why = "not configured: https base URL needed; check";
        break;
    case COOP_ERR_OK:
    case COOP_ERR_NOMEM:
    case COOP_ERR_INVALID:
    case COOP_ERR_TOO_LARGE:
    case COOP_ERR_CONFLICT:
    case COOP_ERR_DUPLICATE:
    case COOP_ERR_IO:
    case COOP_ERR_STORE:
    case COOP_ERR_BUSY:
    case COOP_ERR_UNAVAILABLE:
    case COOP_ERR_TIMEOUT:
    case COOP_ERR_PROTOCOL:
    case COOP_ERR_CRYPTO:
    case COOP_ERR_RATE_LIMITED:
    case COOP_ERR_UPSTREAM:
    case COOP_ERR_INTERNAL:
    default:
        snprintf(job->error, sizeof job->error, "%s: %s: %s", ops->name, what,
                 coop_strerror(err));
        return;
    }
    /* With a GitHub App, credentials are the app's settings, not a token. */
    const char *credentials =
        ops->kind == COOP_HOST_GITHUB && coop_config_get(env.cfg, "COOP_GITHUB_APP_ID")
            ? "COOP_GITHUB_APP_ID and COOP_GITHUB_APP_PRIVATE_KEY_FILE"
            : ops->token_var;
    snprintf(job->error, sizeof job->error, "%s: %s: %s %s%s", ops->name, what, why,
             err == COOP_ERR_CONFIG ? ops->base_var : credentials,
             err == COOP_ERR_NOT_FOUND ? ")" : "");
}

struct cont {
    const char *kind, *payload;
    int64_t run_at;
};

static coop_err cont_tx(struct coop_conn *conn, void *ctx)
{
    const struct cont *c = ctx;
    /* No unique key: the running job holds it until it is acknowledged. */
    struct coop_job_spec spec = {.kind = c->kind, .payload = c->payload, .run_at_ms = c->run_at,
                                 .max_attempts = 5};
    return coop_jobs_enqueue(conn, &spec, NULL, NULL);
}

/* Enqueues the job's continuation to run at run_at. */
static coop_err reschedule(struct coop_job *job, int64_t run_at, bool limited)
{
    struct cont c = {.kind = job->kind, .payload = job->payload, .run_at = run_at};
    coop_err err = coop_store_tx(job->store, true, cont_tx, &c);
    if (err) {
        snprintf(job->error, sizeof job->error, "could not reschedule: %s", coop_strerror(err));
        return err;
    }
    coop_jobs_notify();
    if (limited)
        coop_log_info("hosts: rate limited, job rescheduled", COOP_F_STR("kind", job->kind),
                      COOP_F_INT("job", job->id),
                      COOP_F_INT("wait_ms", run_at - coop_clock_now_ms()));
    return COOP_ERR_OK;
}

static coop_err open_client(struct coop_job *job, const char *repo,
                            struct coop_hosts_client **client, const char **project)
{
    const struct coop_host_ops *ops;
    coop_err err = coop_hosts_for_repo(env.cfg, repo, &ops, project);
    if (err) {
        snprintf(job->error, sizeof job->error, "no code host configured for this repository");
        return err;
    }
    err = coop_hosts_client_from_config(env.cfg, ops, *project, job->store, client);
    if (err)
        job_error(job, ops, err, "client");
    return err;
}

/* ---- shared fetch steps ----------------------------------------------------- */

/* The page after r: a body's absolute next, a relative one (&start=N) on
 * the first page's URL, or the Link header's. */
static void next_page(const char *first, const struct coop_hosts_response *r,
                      const char *body_next, char *out, size_t size)
{
    if (body_next[0] && !strncmp(body_next, "http", 4))
        coop_strlcpy(out, body_next, size);
    else if (body_next[0])
        snprintf(out, size, "%s%s", first, body_next);
    else
        coop_strlcpy(out, r->next_url, size);
}

static coop_err default_branch(struct coop_hosts_client *c, const char *project, char *branch,
                               size_t size)
{
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    struct coop_buf url;
    struct coop_hosts_response r;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    coop_err err = coop_hosts_client_base(c, &url);
    if (!err)
        err = ops->repo_url(&url, project);
    if (err) {
        coop_buf_dispose(&url);
        return err;
    }
    err = coop_hosts_get(c, url.data, true, &r);
    if (!err)
        err = ops->repo_parse(r.body.data, r.body.len, branch, size);
    coop_hosts_response_dispose(&r);
    coop_buf_dispose(&url);
    return err;
}

struct branch_tx {
    const char *repo, *branch;
};

static coop_err branch_apply(struct coop_conn *conn, void *ctx)
{
    const struct branch_tx *b = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(conn, b->repo, &id);
    return err ? err : coop_graph_repo_set_default_branch(conn, id, b->branch);
}

/* ---- CODEOWNERS ---------------------------------------------------------------- */

struct codeowners_tx {
    const char *repo, *branch, *file, *text;
};

static coop_err codeowners_apply(struct coop_conn *conn, void *ctx)
{
    const struct codeowners_tx *t = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(conn, t->repo, &id);
    if (!err)
        err = coop_graph_repo_set_default_branch(conn, id, t->branch);
    if (!err)
        err = coop_graph_codeowners_set(conn, t->repo, t->branch, t->file, t->text);
    return err;
}

/* The first CODEOWNERS found at the branch, into text; *file names it. */
static coop_err find_codeowners(struct coop_hosts_client *c, const char *project,
                                const char *branch, struct coop_buf *text, const char **file)
{
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    coop_err err = COOP_ERR_NOT_FOUND;
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    for (size_t i = 0; ops->codeowners_paths[i] && err == COOP_ERR_NOT_FOUND; i++) {
        struct coop_hosts_response r;
        err = coop_hosts_client_base(c, &url);
        if (!err)
            err = ops->file_url(&url, project, ops->codeowners_paths[i], branch);
        if (err)
            break;
        err = coop_hosts_get(c, url.data, true, &r);
        if (!err)
            err = ops->file_parse(r.body.data, r.body.len, text);
        if (!err)
            *file = ops->codeowners_paths[i];
        coop_hosts_response_dispose(&r);
    }
    coop_buf_dispose(&url);
    return err;
}

static int64_t retry_at_of(const struct coop_hosts_client *c)
{
    int64_t at = coop_hosts_client_retry_at(c), now = coop_clock_now_ms();
    return at > now ? at : now + 60000;
}

static coop_err job_codeowners(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    const char *repo = job->payload, *project;
    struct coop_hosts_client *c;
    coop_err err = open_client(job, repo, &c, &project);
    if (err)
        return err;
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    char branch[256] = "";
    struct coop_buf text;
    coop_buf_init(&text, COOP_HOSTS_MAX_FILE);
    const char *file = NULL;
    err = default_branch(c, project, branch, sizeof branch);
    if (!err)
        err = find_codeowners(c, project, branch, &text, &file);
    if (!err || err == COOP_ERR_NOT_FOUND) {
        /* No CODEOWNERS anywhere is an answer too: any text kept for the
         * branch goes, and the job is done. A missing repository is not. */
        struct codeowners_tx t = {.repo = repo, .branch = branch, .file = file ? file : "-",
                                  .text = err ? NULL : text.data};
        bool missing = err == COOP_ERR_NOT_FOUND;
        if (!branch[0] && missing) {
            job_error(job, ops, err, "repository");
        } else {
            err = coop_store_tx(job->store, true, codeowners_apply, &t);
            coop_log_info("hosts: CODEOWNERS synced", COOP_F_STR("host", ops->name),
                          COOP_F_STR("repo", repo), COOP_F_STR("file", missing ? "" : file),
                          COOP_F_BOOL("found", !missing));
        }
    } else if (err == COOP_ERR_RATE_LIMITED) {
        err = reschedule(job, retry_at_of(c), true);
    } else {
        job_error(job, ops, err, "CODEOWNERS");
    }
    coop_buf_dispose(&text);
    coop_hosts_client_free(c);
    return err;
}

/* ---- commits: backfill and gaps ------------------------------------------------- */

static coop_err known_row(void *ctx, const struct coop_row *row)
{
    *(bool *)ctx = true;
    return COOP_ERR_OK;
}

/* True when the graph already holds repo's commit sha. */
static bool commit_known(struct coop_store *store, const char *repo, const char *sha)
{
    bool known = false;
    coop_store_query(store,
                     "SELECT 1 FROM graph_commits c JOIN graph_repos r ON r.id = c.repo"
                     " WHERE r.name = ? AND c.sha = ?",
                     COOP_PARAMS(COOP_PT(repo), COOP_PT(sha)), known_row, &known);
    return known;
}

/* Fetches every page of commit i's file changes. */
static coop_err fetch_changes(struct coop_hosts_client *c, const char *project,
                              struct coop_hosts_commits *l, size_t i)
{
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    char first[COOP_HOSTS_URL_MAX], next[COOP_HOSTS_URL_MAX], body_next[COOP_HOSTS_URL_MAX];
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    coop_err err = coop_hosts_client_base(c, &url);
    if (!err)
        err = ops->changes_url(&url, project, l->items[i].sha);
    if (!err)
        coop_strlcpy(first, url.data, sizeof first);
    coop_buf_dispose(&url);
    coop_strlcpy(next, first, sizeof next);
    for (int page = 0; !err && next[0] && page < MAX_CHANGE_PAGES; page++) {
        struct coop_hosts_response r;
        err = coop_hosts_get(c, next, false, &r);
        body_next[0] = '\0';
        if (!err)
            err = ops->changes_parse(r.body.data, r.body.len, l, i, body_next, sizeof body_next);
        if (!err)
            next_page(first, &r, body_next, next, sizeof next);
        coop_hosts_response_dispose(&r);
    }
    return err;
}

struct walk {
    const char *repo;
    const char *kind;     /* hosts_sync row: "backfill" or "gap:<after>" */
    bool gap;
    const char *stop_sha; /* gaps: the push's before, when there was one */
    bool seen_unknown;
    int max_pages;
    int64_t staged; /* rows staged so far: the next row's seq */
    char first[COOP_HOSTS_URL_MAX];
    char cursor[COOP_HOSTS_URL_MAX]; /* the next page to read; "" when finished */
    int64_t applied;
    bool finished;
};

struct walk_tx {
    struct walk *w;
    struct coop_hosts_commits *l;
    size_t n;         /* the first n items are complete */
    const bool *skip; /* known already */
    const char *cursor;
    bool finished;
};

/* One commit as a staged row: what coop_graph_commit holds, in JSON. */
static coop_err commit_to_json(const struct coop_graph_commit *cm, struct coop_buf *b)
{
    coop_buf_reset(b);
    const char *strs[] = {cm->sha, cm->author_name, cm->author_email, cm->author_login,
                          cm->message};
    coop_err err = coop_buf_puts(b, "{\"c\":[");
    for (size_t i = 0; !err && i < 5; i++) {
        if (i)
            err = coop_buf_puts(b, ",");
        if (!err)
            err = strs[i] ? coop_buf_json_str(b, strs[i], strlen(strs[i])) : coop_buf_puts(b, "null");
    }
    if (!err)
        err = coop_buf_printf(b, "],\"t\":%lld,\"f\":[", (long long)cm->time_ms);
    for (size_t i = 0; !err && i < cm->n_changes; i++) {
        const struct coop_graph_change *ch = &cm->changes[i];
        char st[2] = {ch->status, 0};
        err = coop_buf_puts(b, i ? ",[" : "[");
        if (!err)
            err = coop_buf_json_str(b, st, 1);
        if (!err)
            err = coop_buf_puts(b, ",");
        if (!err)
            err = coop_buf_json_str(b, ch->path, strlen(ch->path));
        if (!err && ch->old_path) {
            err = coop_buf_puts(b, ",");
            if (!err)
                err = coop_buf_json_str(b, ch->old_path, strlen(ch->old_path));
        }
        if (!err)
            err = coop_buf_puts(b, "]");
    }
    return err ? err : coop_buf_puts(b, "]}");
}

static coop_err stage_page(struct coop_conn *conn, void *ctx)
{
    struct walk_tx *t = ctx;
    struct coop_buf b;
    coop_buf_init(&b, 4u * 1024u * 1024u);
    coop_err err = COOP_ERR_OK;
    int64_t staged = 0;
    for (size_t i = 0; !err && i < t->n; i++) {
        if (t->skip[i])
            continue;
        int64_t changes = 0;
        err = commit_to_json(&t->l->items[i], &b);
        if (!err)
            err = coop_conn_exec(conn,
                                 "INSERT INTO hosts_staged (repo, kind, seq, sha, commit_json)"
                                 " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                 COOP_PARAMS(COOP_PT(t->w->repo), COOP_PT(t->w->kind),
                                             COOP_PI(t->w->staged + staged),
                                             COOP_PT(t->l->items[i].sha), COOP_PTN(b.data, b.len)),
                                 &changes);
        staged += changes;
    }
    coop_buf_dispose(&b);
    if (!err)
        err = coop_conn_exec(conn,
                             "INSERT INTO hosts_sync (repo, kind, first_url, cursor, done, staged,"
                             " updated_at) VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (repo, kind)"
                             " DO UPDATE SET first_url = excluded.first_url,"
                             " cursor = excluded.cursor, staged = hosts_sync.staged + ?,"
                             " updated_at = excluded.updated_at",
                             COOP_PARAMS(COOP_PT(t->w->repo), COOP_PT(t->w->kind),
                                         COOP_PT(t->w->first), COOP_PT(t->cursor), COOP_PI(staged),
                                         COOP_PI(coop_clock_now_ms()), COOP_PI(staged)),
                             NULL);
    if (!err)
        t->w->staged += staged;
    return err;
}

/* True when repo's commit sha is in the graph or already staged by this walk. */
static bool commit_seen(struct coop_store *store, const struct walk *w, const char *sha)
{
    bool staged = false;
    coop_store_query(store, "SELECT 1 FROM hosts_staged WHERE repo = ? AND kind = ? AND sha = ?",
                     COOP_PARAMS(COOP_PT(w->repo), COOP_PT(w->kind), COOP_PT(sha)), known_row,
                     &staged);
    return staged || commit_known(store, w->repo, sha);
}

/* One page: list, fetch the unknown commits' changes, stage them. */
static coop_err walk_page(struct coop_hosts_client *c, const char *project, struct walk *w,
                          struct coop_store *store)
{
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    struct coop_hosts_commits l;
    struct coop_hosts_response r;
    char next[COOP_HOSTS_URL_MAX], body_next[COOP_HOSTS_URL_MAX] = "";
    coop_hosts_commits_init(&l);
    coop_err err = coop_hosts_get(c, w->cursor, false, &r);
    if (!err)
        err = ops->commits_parse(r.body.data, r.body.len, &l, body_next, sizeof body_next);
    if (!err)
        next_page(w->first, &r, body_next, next, sizeof next);
    coop_hosts_response_dispose(&r);
    if (err) {
        coop_hosts_commits_dispose(&l);
        return err;
    }
    bool *skip = calloc(l.n + 1, sizeof *skip);
    if (!skip) {
        coop_hosts_commits_dispose(&l);
        return COOP_ERR_NOMEM;
    }
    bool stop = false;
    size_t n = 0;
    for (; n < l.n && !err; n++) {
        const char *sha = l.items[n].sha;
        if (w->stop_sha && !strcmp(sha, w->stop_sha)) {
            stop = true;
            break;
        }
        if (commit_seen(store, w, sha)) {
            skip[n] = true;
            /* A gap without a usable `before` ends where known history
             * resumes below the missing commits (the push's own newest
             * commits, known already, come first). */
            if (w->gap && !w->stop_sha && w->seen_unknown) {
                stop = true;
                break;
            }
            continue;
        }
        w->seen_unknown = true;
        err = fetch_changes(c, project, &l, n);
        if (err)
            break;
    }
    /* Commits complete so far are kept even when the host stopped us;
     * the cursor moves only past a whole page. */
    bool whole = !err;
    struct walk_tx t = {.w = w, .l = &l, .n = n, .skip = skip,
                        .cursor = whole ? (stop ? "" : next) : w->cursor,
                        .finished = whole && (stop || !next[0])};
    coop_err aerr = coop_store_tx(store, true, stage_page, &t);
    if (!err)
        err = aerr;
    if (!err) {
        coop_strlcpy(w->cursor, t.cursor, sizeof w->cursor);
        w->finished = t.finished;
    }
    free(skip);
    coop_hosts_commits_dispose(&l);
    return err;
}

struct sync_state {
    char first[COOP_HOSTS_URL_MAX], cursor[COOP_HOSTS_URL_MAX];
    int64_t staged;
    bool found, done;
};

static coop_err state_row(void *ctx, const struct coop_row *row)
{
    struct sync_state *s = ctx;
    const char *f = coop_row_text(row, 0, NULL), *cur = coop_row_text(row, 1, NULL);
    coop_strlcpy(s->first, f ? f : "", sizeof s->first);
    coop_strlcpy(s->cursor, cur ? cur : "", sizeof s->cursor);
    s->done = coop_row_int(row, 2) != 0;
    s->staged = coop_row_int(row, 3);
    s->found = true;
    return COOP_ERR_OK;
}

static coop_err load_state(struct coop_store *store, const char *repo, const char *kind,
                           struct sync_state *s)
{
    memset(s, 0, sizeof *s);
    return coop_store_query(store,
                            "SELECT first_url, cursor, done, staged FROM hosts_sync"
                            " WHERE repo = ? AND kind = ?",
                            COOP_PARAMS(COOP_PT(repo), COOP_PT(kind)), state_row, s);
}

/* Resumes w from a stored state: *walking true when pages remain, false
 * when only staged commits are left to apply. */
static void resume(struct walk *w, const struct sync_state *st)
{
    coop_strlcpy(w->first, st->first, sizeof w->first);
    coop_strlcpy(w->cursor, st->cursor, sizeof w->cursor);
    w->staged = st->staged;
    w->finished = !st->cursor[0];
}

/* ---- applying staged commits, oldest first ---- */

#define APPLY_BATCH 200
#define APPLY_PER_RUN 5000

struct staged_batch {
    struct coop_hosts_commits l;
    int64_t min_seq;
    int n;
};

static coop_err staged_row(void *ctx, const struct coop_row *row)
{
    struct staged_batch *b = ctx;
    size_t len = 0;
    const char *text = coop_row_text(row, 1, &len);
    struct json_object *o = NULL;
    b->min_seq = coop_row_int(row, 0);
    b->n++;
    if (!text || coop_json_parse(text, len, 8, false, &o))
        return COOP_ERR_OK; /* not ours to fail on: skipped */
    struct json_object *cv = coop_json_arr(o, "c"), *fv = coop_json_arr(o, "f");
    struct coop_graph_commit *g = cv && json_object_array_length(cv) == 5 ? hosts_commit_add(&b->l)
                                                                          : NULL;
    if (g) {
        const char **dst[] = {&g->sha, &g->author_name, &g->author_email, &g->author_login,
                              &g->message};
        for (size_t i = 0; i < 5; i++) {
            struct json_object *x = json_object_array_get_idx(cv, i);
            *dst[i] = json_object_is_type(x, json_type_string)
                          ? hosts_strdup(&b->l.arena_, json_object_get_string(x))
                          : NULL;
        }
        int64_t t = 0;
        coop_json_int(o, "t", &t);
        g->time_ms = t;
        size_t idx = b->l.n - 1;
        for (size_t i = 0; fv && i < json_object_array_length(fv); i++) {
            struct json_object *f = json_object_array_get_idx(fv, i);
            const char *st = json_object_get_string(json_object_array_get_idx(f, 0));
            const char *path = json_object_get_string(json_object_array_get_idx(f, 1));
            struct json_object *old = json_object_array_get_idx(f, 2);
            if (st && path)
                hosts_change_add(&b->l, idx, st[0], path, old ? json_object_get_string(old) : NULL);
        }
        if (!g->sha)
            b->l.n--;
    }
    json_object_put(o);
    return COOP_ERR_OK;
}

struct apply_tx {
    struct walk *w;
    struct staged_batch *b;
    int64_t applied;
};

static coop_err apply_batch(struct coop_conn *conn, void *ctx)
{
    struct apply_tx *t = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(conn, t->w->repo, &id);
    t->applied = 0;
    for (size_t i = 0; !err && i < t->b->l.n; i++) {
        bool a = false;
        struct coop_graph_commit cm = t->b->l.items[i];
        if (!cm.time_ms)
            cm.time_ms = 1; /* a host that gave no date still orders the commit */
        err = coop_graph_commit_apply(conn, id, &cm, &a);
        t->applied += a;
    }
    if (!err)
        err = coop_conn_exec(conn, "DELETE FROM hosts_staged WHERE repo = ? AND kind = ? AND seq >= ?",
                             COOP_PARAMS(COOP_PT(t->w->repo), COOP_PT(t->w->kind),
                                         COOP_PI(t->b->min_seq)),
                             NULL);
    if (!err)
        err = coop_conn_exec(conn,
                             "UPDATE hosts_sync SET commits = commits + ?, updated_at = ?"
                             " WHERE repo = ? AND kind = ?",
                             COOP_PARAMS(COOP_PI(t->applied), COOP_PI(coop_clock_now_ms()),
                                         COOP_PT(t->w->repo), COOP_PT(t->w->kind)),
                             NULL);
    return err;
}

/*
 * Applies staged commits oldest first (the walk staged them newest first,
 * with rising seq), as the graph's incremental state needs: a file's
 * creator, renames and history order follow application order.
 * *more is true when the run's budget ended before the staging did.
 */
static coop_err apply_staged(struct coop_store *store, struct walk *w, bool *more)
{
    coop_err err = COOP_ERR_OK;
    *more = false;
    for (int done = 0; !err; done += APPLY_BATCH) {
        if (done >= APPLY_PER_RUN) {
            *more = true;
            break;
        }
        struct staged_batch b = {0};
        coop_hosts_commits_init(&b.l);
        err = coop_store_query(store,
                               "SELECT seq, commit_json FROM hosts_staged WHERE repo = ? AND kind = ?"
                               " ORDER BY seq DESC LIMIT ?",
                               COOP_PARAMS(COOP_PT(w->repo), COOP_PT(w->kind),
                                           COOP_PI(APPLY_BATCH)),
                               staged_row, &b);
        if (!err && b.n > 0) {
            struct apply_tx t = {.w = w, .b = &b};
            err = coop_store_tx(store, true, apply_batch, &t);
            w->applied += t.applied;
        }
        coop_hosts_commits_dispose(&b.l);
        if (b.n < APPLY_BATCH)
            break;
    }
    return err;
}

static coop_err mark_done(struct coop_conn *conn, void *ctx)
{
    const struct walk *w = ctx;
    return coop_conn_exec(conn, "UPDATE hosts_sync SET done = 1 WHERE repo = ? AND kind = ?",
                          COOP_PARAMS(COOP_PT(w->repo), COOP_PT(w->kind)), NULL);
}

/* Runs pages of w until finished, the page budget or an error; once the
 * walk is finished, applies what it staged. */
static coop_err walk_run(struct coop_job *job, struct coop_hosts_client *c, const char *project,
                         struct walk *w)
{
    coop_err err = COOP_ERR_OK;
    for (int page = 0; !err && !w->finished && page < w->max_pages; page++)
        err = walk_page(c, project, w, job->store);
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    if (err == COOP_ERR_RATE_LIMITED)
        return reschedule(job, retry_at_of(c), true);
    if (err) {
        job_error(job, ops, err, "commits");
        return err;
    }
    if (!w->finished)
        return reschedule(job, coop_clock_now_ms(), false);
    bool more = false;
    err = apply_staged(job->store, w, &more);
    if (err) {
        snprintf(job->error, sizeof job->error, "applying commits: %s", coop_strerror(err));
        return err;
    }
    if (more)
        return reschedule(job, coop_clock_now_ms(), false);
    if ((err = coop_store_tx(job->store, true, mark_done, w)))
        return err;
    coop_log_info("hosts: commits synced", COOP_F_STR("host", ops->name),
                  COOP_F_STR("repo", w->repo), COOP_F_STR("kind", w->kind),
                  COOP_F_INT("applied", w->applied));
    return COOP_ERR_OK;
}

static coop_err job_backfill(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    const char *repo = job->payload, *project;
    struct coop_hosts_client *c;
    coop_err err = open_client(job, repo, &c, &project);
    if (err)
        return err;
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    long pages = 5;
    char why[128];
    coop_config_get_int(env.cfg, "COOP_HOSTS_BACKFILL_PAGES", 5, 1, 1000, &pages, why, sizeof why);
    struct walk *w = calloc(1, sizeof *w);
    struct sync_state *st = calloc(1, sizeof *st);
    if (!w || !st) {
        err = COOP_ERR_NOMEM;
        goto out;
    }
    w->repo = repo;
    w->kind = "backfill";
    w->max_pages = (int)pages;
    if ((err = load_state(job->store, repo, w->kind, st)))
        goto out;
    if (st->found && st->done)
        goto out; /* already complete */
    if (st->found && st->first[0]) {
        resume(w, st);
    } else {
        char branch[256] = "";
        err = default_branch(c, project, branch, sizeof branch);
        if (err == COOP_ERR_RATE_LIMITED) {
            err = reschedule(job, retry_at_of(c), true);
            goto out;
        }
        if (err) {
            job_error(job, ops, err, "repository");
            goto out;
        }
        struct branch_tx b = {.repo = repo, .branch = branch};
        if ((err = coop_store_tx(job->store, true, branch_apply, &b)))
            goto out;
        struct coop_buf url;
        coop_buf_init(&url, COOP_HOSTS_URL_MAX);
        err = coop_hosts_client_base(c, &url);
        if (!err)
            err = ops->commits_url(&url, project, branch);
        if (!err) {
            coop_strlcpy(w->first, url.data, sizeof w->first);
            coop_strlcpy(w->cursor, url.data, sizeof w->cursor);
        }
        coop_buf_dispose(&url);
        if (err)
            goto out;
    }
    err = walk_run(job, c, project, w);
out:
    free(w);
    free(st);
    coop_hosts_client_free(c);
    return err;
}

struct gap {
    char before[128], ref[256];
    bool found;
};

static coop_err gap_row(void *ctx, const struct coop_row *row)
{
    struct gap *g = ctx;
    const char *b = coop_row_text(row, 0, NULL), *r = coop_row_text(row, 1, NULL);
    coop_strlcpy(g->before, b ? b : "", sizeof g->before);
    coop_strlcpy(g->ref, r ? r : "", sizeof g->ref);
    g->found = true;
    return COOP_ERR_OK;
}

struct gap_done {
    const char *repo, *after;
};

static coop_err gap_mark(struct coop_conn *conn, void *ctx)
{
    const struct gap_done *g = ctx;
    return coop_conn_exec(conn,
                          "UPDATE graph_gaps SET filled = 1 WHERE after_sha = ? AND repo ="
                          " (SELECT id FROM graph_repos WHERE name = ?)",
                          COOP_PARAMS(COOP_PT(g->after), COOP_PT(g->repo)), NULL);
}

/* payload "repo@after": the gap the graph recorded for that push. */
static coop_err job_gap(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    char repo[512], kind[192];
    const char *at = strrchr(job->payload, '@');
    size_t n = at ? (size_t)(at - job->payload) : 0;
    if (!at || n == 0 || n >= sizeof repo || !at[1] || strlen(at + 1) > 100) {
        snprintf(job->error, sizeof job->error, "payload must be repo@sha");
        return COOP_ERR_INVALID;
    }
    memcpy(repo, job->payload, n);
    repo[n] = '\0';
    const char *after = at + 1, *project;
    snprintf(kind, sizeof kind, "gap:%s", after);
    struct gap g = {0};
    coop_err err = coop_store_query(job->store,
                                    "SELECT g.before_sha, g.ref FROM graph_gaps g JOIN graph_repos r"
                                    " ON r.id = g.repo WHERE r.name = ? AND g.after_sha = ?"
                                    " ORDER BY g.recorded_at LIMIT 1",
                                    COOP_PARAMS(COOP_PT(repo), COOP_PT(after)), gap_row, &g);
    if (err)
        return err;
    struct coop_hosts_client *c;
    if ((err = open_client(job, repo, &c, &project)))
        return err;
    struct walk *w = calloc(1, sizeof *w);
    struct sync_state *st = calloc(1, sizeof *st);
    if (!w || !st) {
        err = COOP_ERR_NOMEM;
        goto out;
    }
    w->repo = repo;
    w->kind = kind;
    w->max_pages = MAX_GAP_PAGES;
    /* 40 zeros: the ref was created; the walk stops at known history. */
    w->gap = true;
    w->stop_sha = g.before[0] && strspn(g.before, "0") != strlen(g.before) ? g.before : NULL;
    if ((err = load_state(job->store, repo, kind, st)))
        goto out;
    if (st->found && st->done)
        goto out;
    if (st->found && st->first[0]) {
        resume(w, st);
    } else {
        struct coop_buf url;
        coop_buf_init(&url, COOP_HOSTS_URL_MAX);
        err = coop_hosts_client_base(c, &url);
        if (!err)
            err = coop_hosts_client_ops(c)->commits_url(&url, project, after);
        if (!err) {
            coop_strlcpy(w->first, url.data, sizeof w->first);
            coop_strlcpy(w->cursor, url.data, sizeof w->cursor);
        }
        coop_buf_dispose(&url);
        if (err)
            goto out;
    }
    err = walk_run(job, c, project, w);
    if (!err && w->finished) {
        struct gap_done d = {.repo = repo, .after = after};
        err = coop_store_tx(job->store, true, gap_mark, &d);
    }
out:
    free(w);
    free(st);
    coop_hosts_client_free(c);
    return err;
}

/* ---- pull requests --------------------------------------------------------------- */

typedef coop_err (*pull_url_fn)(struct coop_buf *, const char *, int64_t);
typedef coop_err (*pull_parse_fn)(const char *, size_t, struct coop_hosts_pull *, char *, size_t);

static coop_err fetch_pull_part(struct coop_hosts_client *c, const char *project, int64_t number,
                                pull_url_fn url_fn, pull_parse_fn parse, struct coop_hosts_pull *p)
{
    char first[COOP_HOSTS_URL_MAX], next[COOP_HOSTS_URL_MAX], body_next[COOP_HOSTS_URL_MAX];
    struct coop_buf url;
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    coop_err err = coop_hosts_client_base(c, &url);
    if (!err)
        err = url_fn(&url, project, number);
    if (!err)
        coop_strlcpy(first, url.data, sizeof first);
    coop_buf_dispose(&url);
    if (err)
        return err;
    coop_strlcpy(next, first, sizeof next);
    for (int page = 0; !err && next[0] && page < MAX_CHANGE_PAGES; page++) {
        struct coop_hosts_response r;
        body_next[0] = '\0';
        err = coop_hosts_get(c, next, false, &r);
        if (!err)
            err = parse(r.body.data, r.body.len, p, body_next, sizeof body_next);
        if (!err)
            next_page(first, &r, body_next, next, sizeof next);
        coop_hosts_response_dispose(&r);
    }
    return err;
}

struct pull_tx {
    const char *repo;
    int64_t number;
    const struct coop_hosts_pull *p;
};

static coop_err pull_apply(struct coop_conn *conn, void *ctx)
{
    const struct pull_tx *t = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(conn, t->repo, &id);
    if (!err)
        err = coop_graph_pull_set_files(conn, id, t->number, (const char *const *)t->p->files,
                                        t->p->n_files);
    for (size_t i = 0; !err && i < t->p->n_reviewers; i++)
        err = coop_graph_pull_reviewer(conn, id, t->number, t->p->reviewers[i], t->p->states[i],
                                       coop_clock_now_ms());
    return err;
}

static coop_err job_pull(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    char repo[512];
    const char *hash = strrchr(job->payload, '#');
    size_t n = hash ? (size_t)(hash - job->payload) : 0;
    int64_t number = 0;
    if (!hash || n == 0 || n >= sizeof repo || coop_parse_i64(hash + 1, &number) || number < 1) {
        snprintf(job->error, sizeof job->error, "payload must be repo#number");
        return COOP_ERR_INVALID;
    }
    memcpy(repo, job->payload, n);
    repo[n] = '\0';
    const char *project;
    struct coop_hosts_client *c;
    coop_err err = open_client(job, repo, &c, &project);
    if (err)
        return err;
    const struct coop_host_ops *ops = coop_hosts_client_ops(c);
    struct coop_hosts_pull p = {0};
    err = fetch_pull_part(c, project, number, ops->pull_files_url, ops->pull_files_parse, &p);
    if (!err)
        err = fetch_pull_part(c, project, number, ops->pull_reviews_url, ops->pull_reviews_parse,
                              &p);
    if (!err) {
        struct pull_tx t = {.repo = repo, .number = number, .p = &p};
        err = coop_store_tx(job->store, true, pull_apply, &t);
    } else if (err == COOP_ERR_RATE_LIMITED) {
        err = reschedule(job, retry_at_of(c), true);
    } else {
        job_error(job, ops, err, "pull request");
    }
    coop_hosts_pull_dispose(&p);
    coop_hosts_client_free(c);
    return err;
}

/* ---- Slack users ------------------------------------------------------------------ */

struct slack_tx {
    const struct coop_hosts_slack_user *u;
};

static coop_err slack_apply(struct coop_conn *conn, void *ctx)
{
    const struct coop_hosts_slack_user *u = ((struct slack_tx *)ctx)->u;
    return coop_graph_person_add_slack(conn, u->team[0] ? u->team : "-", u->id,
                                       u->real_name[0] ? u->real_name : u->name,
                                       u->email[0] ? u->email : NULL);
}

static coop_err job_slack_user(struct coop_job *job, struct coop_conn *conn, void *ctx)
{
    const char *user = job->payload;
    if (!*user || strlen(user) > 32 || strspn(user, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
                                          strlen(user)) {
        snprintf(job->error, sizeof job->error, "payload must be a Slack user id");
        return COOP_ERR_INVALID;
    }
    if (!coop_config_get(env.cfg, coop_host_slack.token_var)) {
        snprintf(job->error, sizeof job->error, "slack: COOP_SLACK_BOT_TOKEN is not set");
        return COOP_ERR_CONFIG;
    }
    struct coop_hosts_client *c;
    coop_err err = coop_hosts_client_from_config(env.cfg, &coop_host_slack, NULL, job->store, &c);
    if (err) {
        job_error(job, &coop_host_slack, err, "client");
        return err;
    }
    struct coop_buf url;
    struct coop_hosts_response r;
    struct coop_hosts_slack_user u;
    char why[64] = "";
    coop_buf_init(&url, COOP_HOSTS_URL_MAX);
    err = coop_hosts_client_base(c, &url);
    if (!err)
        err = coop_buf_printf(&url, "/users.info?user=%s", user);
    if (!err) {
        err = coop_hosts_get(c, url.data, false, &r);
        if (!err)
            err = coop_hosts_slack_parse_user(r.body.data, r.body.len, &u, why, sizeof why);
        coop_hosts_response_dispose(&r);
    }
    coop_buf_dispose(&url);
    if (!err) {
        struct slack_tx t = {.u = &u};
        err = coop_store_tx(job->store, true, slack_apply, &t);
    } else if (err == COOP_ERR_RATE_LIMITED) {
        err = reschedule(job, retry_at_of(c), true);
    } else if (err == COOP_ERR_NOT_FOUND) {
        err = COOP_ERR_OK; /* nobody to link */
    } else if (err == COOP_ERR_AUTH) {
        snprintf(job->error, sizeof job->error,
                 "slack: users.info refused the bot token (%s); check COOP_SLACK_BOT_TOKEN", why);
    } else {
        job_error(job, &coop_host_slack, err, "users.info");
    }
    coop_hosts_client_free(c);
    return err;
}

/* ---- registration ------------------------------------------------------------------- */

coop_err coop_hosts_enqueue(struct coop_conn *conn, const char *kind, const char *payload,
                            int64_t run_at_ms, int64_t *id)
{
    char key[600];
    if (!kind || !payload || strncmp(kind, "hosts.", 6) ||
        (size_t)snprintf(key, sizeof key, "%s:%s", kind, payload) >= sizeof key)
        return COOP_ERR_INVALID;
    struct coop_job_spec spec = {.kind = kind, .payload = payload, .run_at_ms = run_at_ms,
                                 .max_attempts = 5, .unique_key = key};
    return coop_jobs_enqueue(conn, &spec, id, NULL);
}

coop_err coop_hosts_register_jobs(const struct coop_config *cfg, struct coop_store *store)
{
    env.cfg = cfg;
    env.store = store;
    static const struct {
        const char *kind;
        coop_job_handler_fn fn;
    } jobs[] = {
        {COOP_HOSTS_JOB_CODEOWNERS, job_codeowners}, {COOP_HOSTS_JOB_BACKFILL, job_backfill},
        {COOP_HOSTS_JOB_GAP, job_gap},               {COOP_HOSTS_JOB_PULL, job_pull},
        {COOP_HOSTS_JOB_SLACK_USER, job_slack_user},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; i++) {
        coop_err err = coop_jobs_register_handler_ex(jobs[i].kind, jobs[i].fn, NULL,
                                                     COOP_JOBS_OUTSIDE_TX);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

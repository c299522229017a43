/*
 * Writes that are not commits: pull requests and their reviewers and
 * files, CODEOWNERS text per branch, and the gaps a truncated push leaves
 * for the code-host sync. All idempotent: writing the same thing twice
 * leaves the same rows.
 */
#include "graph_int.h"

#include <string.h>

coop_err coop_graph_pull_upsert(struct coop_conn *c, int64_t repo, const char *host,
                                const struct coop_graph_pull *p)
{
    if (p->number <= 0 || !p->state)
        return COOP_ERR_INVALID;
    int64_t author = 0;
    coop_err err = COOP_ERR_OK;
    if (p->author_name || p->author_email || p->author_login)
        err = coop_graph_person_resolve(c, host, p->author_name, p->author_email, p->author_login,
                                        &author);
    if (err)
        return err;
    return coop_conn_exec(
        c,
        "INSERT INTO graph_pulls (repo, number, title, state, author, url, source_branch,"
        " target_branch, head_sha, merge_sha, created_at, updated_at, closed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (repo, number) DO UPDATE SET title = excluded.title,"
        " state = excluded.state, author = COALESCE(excluded.author, graph_pulls.author),"
        " url = COALESCE(excluded.url, graph_pulls.url),"
        " source_branch = COALESCE(excluded.source_branch, graph_pulls.source_branch),"
        " target_branch = COALESCE(excluded.target_branch, graph_pulls.target_branch),"
        " head_sha = COALESCE(excluded.head_sha, graph_pulls.head_sha),"
        " merge_sha = COALESCE(excluded.merge_sha, graph_pulls.merge_sha),"
        " created_at = CASE WHEN graph_pulls.created_at > 0 THEN graph_pulls.created_at"
        " ELSE excluded.created_at END,"
        " updated_at = excluded.updated_at, closed_at = excluded.closed_at"
        " WHERE excluded.updated_at >= graph_pulls.updated_at",
        COOP_PARAMS(COOP_PI(repo), COOP_PI(p->number), COOP_PT(p->title ? p->title : ""),
                    COOP_PT(p->state), author ? COOP_PI(author) : COOP_PNULL, COOP_PT(p->url),
                    COOP_PT(p->source_branch), COOP_PT(p->target_branch), COOP_PT(p->head_sha),
                    COOP_PT(p->merge_sha), COOP_PI(p->created_ms), COOP_PI(p->updated_ms),
                    COOP_PI(p->closed_ms)),
        NULL);
}

coop_err coop_graph_pull_reviewer(struct coop_conn *c, int64_t repo, int64_t number,
                                  const char *login, const char *state, int64_t time_ms)
{
    if (!login || !*login || !state)
        return COOP_ERR_INVALID;
    if (strcmp(state, "requested") == 0)
        return coop_conn_exec(c,
                              "INSERT INTO graph_pull_reviewers (repo, number, login, state,"
                              " updated_at) VALUES (?, ?, ?, 'requested', ?) ON CONFLICT DO NOTHING",
                              COOP_PARAMS(COOP_PI(repo), COOP_PI(number), COOP_PT(login),
                                          COOP_PI(time_ms)),
                              NULL);
    return coop_conn_exec(c,
                          "INSERT INTO graph_pull_reviewers (repo, number, login, state, updated_at)"
                          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo, number, login) DO UPDATE"
                          " SET state = excluded.state, updated_at = excluded.updated_at"
                          " WHERE excluded.updated_at >= graph_pull_reviewers.updated_at"
                          " OR graph_pull_reviewers.state = 'requested'",
                          COOP_PARAMS(COOP_PI(repo), COOP_PI(number), COOP_PT(login),
                                      COOP_PT(state), COOP_PI(time_ms)),
                          NULL);
}

coop_err coop_graph_pull_set_files(struct coop_conn *c, int64_t repo, int64_t number,
                                   const char *const *paths, size_t n)
{
    coop_err err = coop_conn_exec(c, "DELETE FROM graph_pull_files WHERE repo = ? AND number = ?",
                                  COOP_PARAMS(COOP_PI(repo), COOP_PI(number)), NULL);
    for (size_t i = 0; !err && i < n; i++)
        err = coop_conn_exec(c,
                             "INSERT INTO graph_pull_files (repo, number, path) VALUES (?, ?, ?)"
                             " ON CONFLICT DO NOTHING",
                             COOP_PARAMS(COOP_PI(repo), COOP_PI(number), COOP_PT(paths[i])), NULL);
    return err;
}

coop_err coop_graph_codeowners_set(struct coop_conn *c, const char *repo, const char *branch,
                                   const char *file, const char *text)
{
    int64_t id;
    if (!branch || !*branch || !file || !*file)
        return COOP_ERR_INVALID;
    coop_err err = coop_graph_repo_ensure(c, repo, &id);
    if (err)
        return err;
    if (!text) {
        /* The repository's version moves, so that answers kept under the
         * old one are not served. */
        int64_t removed = 0;
        err = coop_conn_exec(c, "DELETE FROM graph_codeowners WHERE repo = ? AND branch = ?",
                             COOP_PARAMS(COOP_PI(id), COOP_PT(branch)), &removed);
        if (!err && removed)
            err = coop_conn_exec(c, "UPDATE graph_repos SET version = version + 1 WHERE id = ?",
                                 COOP_PARAMS(COOP_PI(id)), NULL);
        return err;
    }
    /* The same text again keeps its version (and the parsed copies every
     * instance keeps under it). */
    int64_t same = 0;
    err = coop_conn_query_int(c,
                              "SELECT COUNT(*) FROM graph_codeowners WHERE repo = ? AND branch = ?"
                              " AND file = ? AND text = ?",
                              COOP_PARAMS(COOP_PI(id), COOP_PT(branch), COOP_PT(file), COOP_PT(text)),
                              &same);
    if (err || same)
        return err;
    /* A new text takes the repository's next version as its own. Parsed
     * copies are kept by repository and CODEOWNERS version, in every
     * instance; the repository's version only ever grows (a removal moves
     * it too), so a number once given to one text is never given to
     * another, and no instance can take a stale copy for the new text. */
    int64_t version = 0;
    err = coop_conn_exec(c, "UPDATE graph_repos SET version = version + 1 WHERE id = ?",
                         COOP_PARAMS(COOP_PI(id)), NULL);
    if (!err)
        err = coop_conn_query_int(c, "SELECT version FROM graph_repos WHERE id = ?",
                                  COOP_PARAMS(COOP_PI(id)), &version);
    if (err)
        return err;
    return coop_conn_exec(c,
                          "INSERT INTO graph_codeowners (repo, branch, file, text, version)"
                          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (repo, branch) DO UPDATE SET"
                          " file = excluded.file, text = excluded.text, version = excluded.version",
                          COOP_PARAMS(COOP_PI(id), COOP_PT(branch), COOP_PT(file), COOP_PT(text),
                                      COOP_PI(version)),
                          NULL);
}

coop_err coop_graph_gap_record(struct coop_conn *c, int64_t repo, const char *ref,
                               const char *before, const char *after, int64_t expected,
                               int64_t received, const char *reason)
{
    if (!after || !*after || !reason)
        return COOP_ERR_INVALID;
    return coop_conn_exec(c,
                          "INSERT INTO graph_gaps (repo, after_sha, reason, ref, before_sha,"
                          " expected, received, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                          " ON CONFLICT DO NOTHING",
                          COOP_PARAMS(COOP_PI(repo), COOP_PT(after), COOP_PT(reason), COOP_PT(ref),
                                      COOP_PT(before), COOP_PI(expected), COOP_PI(received),
                                      COOP_PI(coop_clock_now_ms())),
                          NULL);
}

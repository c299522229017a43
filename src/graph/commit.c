/*
 * Recording a commit: the commit row, one change row per file, and every
 * count the questions read, all in the caller's transaction. This is the
 * one place where history turns into state; imports and webhook pushes
 * both come through here, so both keep the same counts.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

static coop_err path_file(struct coop_conn *c, int64_t repo, const char *path, int64_t *file)
{
    *file = 0;
    coop_err err = coop_conn_query_int(c, "SELECT file FROM graph_paths WHERE repo = ? AND path = ?",
                                       COOP_PARAMS(COOP_PI(repo), COOP_PT(path)), file);
    return err == COOP_ERR_NOT_FOUND ? COOP_ERR_OK : err;
}

/* Points path at file. An identity that lived at the path before (a rename
 * or an add over it) no longer lives anywhere: it counts as deleted. */
static coop_err map_path(struct coop_conn *c, int64_t repo, const char *path, int64_t file)
{
    int64_t before = 0;
    coop_err err = path_file(c, repo, path, &before);
    if (!err && before && before != file)
        err = coop_conn_exec(c, "UPDATE graph_files SET deleted = 1 WHERE id = ?",
                             COOP_PARAMS(COOP_PI(before)), NULL);
    if (err)
        return err;
    return coop_conn_exec(c,
                          "INSERT INTO graph_paths (repo, path, file) VALUES (?, ?, ?)"
                          " ON CONFLICT (repo, path) DO UPDATE SET file = excluded.file",
                          COOP_PARAMS(COOP_PI(repo), COOP_PT(path), COOP_PI(file)), NULL);
}

static coop_err file_create(struct coop_conn *c, int64_t repo, const char *path, int64_t creator,
                            int64_t *file)
{
    coop_err err = coop_conn_query_int(
        c, "INSERT INTO graph_files (repo, path, creator) VALUES (?, ?, ?) RETURNING id",
        COOP_PARAMS(COOP_PI(repo), COOP_PT(path), creator ? COOP_PI(creator) : COOP_PNULL), file);
    return err ? err : map_path(c, repo, path, *file);
}

/* The file identity a change applies to, created or moved as the change
 * says. A file first seen modified or deleted (history that starts
 * mid-way) gets an identity without a creator. */
static coop_err change_file(struct coop_conn *c, int64_t repo, int64_t person,
                            const struct coop_graph_change *ch, int64_t *file)
{
    coop_err err;
    if (ch->status == 'R') {
        if ((err = path_file(c, repo, ch->old_path, file)))
            return err;
        if (!*file)
            return file_create(c, repo, ch->path, 0, file);
        err = coop_conn_exec(c, "DELETE FROM graph_paths WHERE repo = ? AND path = ?",
                             COOP_PARAMS(COOP_PI(repo), COOP_PT(ch->old_path)), NULL);
        if (!err)
            err = map_path(c, repo, ch->path, *file);
        if (!err)
            err = coop_conn_exec(c, "UPDATE graph_files SET path = ? WHERE id = ?",
                                 COOP_PARAMS(COOP_PT(ch->path), COOP_PI(*file)), NULL);
        return err;
    }
    if ((err = path_file(c, repo, ch->path, file)))
        return err;
    /* An add for a file first seen modified gives it its creator: pushes
     * applied out of order (several workers or instances) end up where
     * applying them in order would. */
    if (*file && ch->status == 'A')
        return coop_conn_exec(c, "UPDATE graph_files SET creator = ? WHERE id = ? AND creator IS NULL",
                              COOP_PARAMS(COOP_PI(person), COOP_PI(*file)), NULL);
    if (*file)
        return COOP_ERR_OK;
    return file_create(c, repo, ch->path, ch->status == 'A' ? person : 0, file);
}

static coop_err count_change(struct coop_conn *c, int64_t file, int64_t person, int64_t time_ms,
                             bool coupled, bool deleted)
{
    coop_err err = coop_conn_exec(
        c,
        "UPDATE graph_files SET revisions = revisions + 1,"
        " coupling_revisions = coupling_revisions + ?, deleted = ?,"
        " last_change = CASE WHEN last_change > ? THEN last_change ELSE ? END WHERE id = ?",
        COOP_PARAMS(COOP_PI(coupled ? 1 : 0), COOP_PI(deleted ? 1 : 0), COOP_PI(time_ms),
                    COOP_PI(time_ms), COOP_PI(file)),
        NULL);
    if (err)
        return err;
    return coop_conn_exec(
        c,
        "INSERT INTO graph_authorship (file, person, changes, last_change) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (file, person) DO UPDATE SET changes = graph_authorship.changes + 1,"
        " last_change = CASE WHEN excluded.last_change > graph_authorship.last_change"
        " THEN excluded.last_change ELSE graph_authorship.last_change END",
        COOP_PARAMS(COOP_PI(file), COOP_PI(person), COOP_PI(time_ms)), NULL);
}

static coop_err count_pairs(struct coop_conn *c, const int64_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (i == j)
                continue;
            coop_err err = coop_conn_exec(
                c,
                "INSERT INTO graph_coupling (a, b, shared) VALUES (?, ?, 1)"
                " ON CONFLICT (a, b) DO UPDATE SET shared = graph_coupling.shared + 1",
                COOP_PARAMS(COOP_PI(files[i]), COOP_PI(files[j])), NULL);
            if (err)
                return err;
        }
    }
    return COOP_ERR_OK;
}

static coop_err count_commit(struct coop_conn *c, int64_t repo, int64_t person, int64_t time_ms)
{
    coop_err err = coop_conn_exec(
        c,
        "INSERT INTO graph_repo_people (repo, person, commits, last_change) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (repo, person) DO UPDATE SET commits = graph_repo_people.commits + 1,"
        " last_change = CASE WHEN excluded.last_change > graph_repo_people.last_change"
        " THEN excluded.last_change ELSE graph_repo_people.last_change END",
        COOP_PARAMS(COOP_PI(repo), COOP_PI(person), COOP_PI(time_ms)), NULL);
    if (err)
        return err;
    return coop_conn_exec(c,
                          "UPDATE graph_repos SET commits = commits + 1, version = version + 1,"
                          " last_event_at = CASE WHEN last_event_at > ? THEN last_event_at"
                          " ELSE ? END WHERE id = ?",
                          COOP_PARAMS(COOP_PI(time_ms), COOP_PI(time_ms), COOP_PI(repo)), NULL);
}

static bool change_valid(const struct coop_graph_change *ch)
{
    if (!ch->path || !*ch->path)
        return false;
    switch (ch->status) {
    case 'A':
    case 'M':
    case 'D':
        return true;
    case 'R':
        return ch->old_path && *ch->old_path;
    default:
        return false;
    }
}

static coop_err apply_changes(struct coop_conn *c, int64_t repo, int64_t commit_id, int64_t person,
                              const struct coop_graph_commit *cm)
{
    int64_t stack_files[64];
    int64_t *files = cm->n_changes <= 64 ? stack_files : malloc(cm->n_changes * sizeof *files);
    if (!files)
        return COOP_ERR_NOMEM;
    bool coupled = cm->n_changes <= COOP_GRAPH_COUPLING_MAX_FILES;
    size_t n = 0;
    coop_err err = COOP_ERR_OK;
    for (size_t i = 0; !err && i < cm->n_changes; i++) {
        const struct coop_graph_change *ch = &cm->changes[i];
        if (!change_valid(ch))
            continue;
        int64_t file, inserted = 0;
        if ((err = change_file(c, repo, person, ch, &file)))
            break;
        char status[2] = {ch->status, '\0'};
        err = coop_conn_exec(c,
                             "INSERT INTO graph_changes (file, commit_id, status, path, old_path)"
                             " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                             COOP_PARAMS(COOP_PI(file), COOP_PI(commit_id), COOP_PT(status),
                                         COOP_PT(ch->path),
                                         COOP_PT(ch->status == 'R' ? ch->old_path : NULL)),
                             &inserted);
        if (err || !inserted)
            continue;
        err = count_change(c, file, person, cm->time_ms, coupled, ch->status == 'D');
        files[n++] = file;
    }
    if (!err && coupled && n > 1)
        err = count_pairs(c, files, n);
    if (files != stack_files)
        free(files);
    return err;
}

coop_err coop_graph_commit_apply(struct coop_conn *c, int64_t repo,
                                 const struct coop_graph_commit *cm, bool *applied)
{
    if (applied)
        *applied = false;
    if (!cm->sha || !*cm->sha || strlen(cm->sha) > 64)
        return COOP_ERR_INVALID;
    int64_t commit_id = 0;
    coop_err err = coop_conn_query_int(c, "SELECT id FROM graph_commits WHERE repo = ? AND sha = ?",
                                       COOP_PARAMS(COOP_PI(repo), COOP_PT(cm->sha)), &commit_id);
    if (err == COOP_ERR_OK)
        return COOP_ERR_OK; /* already known: nothing changes */
    if (err != COOP_ERR_NOT_FOUND)
        return err;
    char host[256];
    struct coop_graph_text_ name = {host, sizeof host, false};
    err = coop_conn_query(c, "SELECT name FROM graph_repos WHERE id = ?",
                          COOP_PARAMS(COOP_PI(repo)), coop_graph_row_text_, &name);
    if (err && err != COOP_ERR_DUPLICATE)
        return err;
    if (!name.found)
        return COOP_ERR_NOT_FOUND;
    coop_graph_repo_host_(host, host, sizeof host);
    int64_t person;
    const char *author_name = cm->author_name;
    if (!author_name && !cm->author_email && !cm->author_login)
        author_name = "unknown";
    err = coop_graph_person_resolve(c, host, author_name, cm->author_email, cm->author_login,
                                    &person);
    if (!err)
        err = coop_conn_query_int(c,
                                  "INSERT INTO graph_commits (repo, sha, author, time, message, files)"
                                  " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                  COOP_PARAMS(COOP_PI(repo), COOP_PT(cm->sha), COOP_PI(person),
                                              COOP_PI(cm->time_ms), COOP_PT(cm->message),
                                              COOP_PI((int64_t)cm->n_changes)),
                                  &commit_id);
    if (!err)
        err = apply_changes(c, repo, commit_id, person, cm);
    if (!err)
        err = count_commit(c, repo, person, cm->time_ms);
    if (!err && applied)
        *applied = true;
    return err;
}

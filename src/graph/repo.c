/*
 * Repositories and people: the two things every other record points at.
 * A person is found through an identity (an email, a login on a host, a
 * Slack user id); when one commit shows that two identities belong to
 * different people, the two are merged into one.
 */
#include "graph_int.h"

#include <ctype.h>
#include <json-c/json.h>
#include <string.h>

coop_err coop_graph_row_int_(void *ctx, const struct coop_row *row)
{
    *(int64_t *)ctx = coop_row_int(row, 0);
    return COOP_ERR_DUPLICATE;
}

coop_err coop_graph_row_text_(void *ctx, const struct coop_row *row)
{
    struct coop_graph_text_ *t = ctx;
    const char *s = coop_row_text(row, 0, NULL);
    t->found = true;
    coop_strlcpy(t->buf, s ? s : "", t->size);
    return COOP_ERR_DUPLICATE;
}

coop_err coop_graph_read_begin_(struct coop_store *s, struct coop_conn **c)
{
    coop_err err = coop_store_acquire(s, c);
    if (err)
        return err;
    if ((err = coop_conn_begin(*c, false))) {
        coop_store_release(s, *c);
        *c = NULL;
    }
    return err;
}

void coop_graph_read_end_(struct coop_store *s, struct coop_conn *c)
{
    if (coop_conn_commit(c) != COOP_ERR_OK)
        coop_conn_rollback(c);
    coop_store_release(s, c);
}

void coop_graph_repo_host_(const char *repo, char *out, size_t size)
{
    const char *slash = strchr(repo, '/');
    size_t n = slash ? (size_t)(slash - repo) : strlen(repo);
    if (n >= size)
        n = size - 1;
    memcpy(out, repo, n);
    out[n] = '\0';
}

/* RFC 3339 with milliseconds, without stdio (days to civil date after
 * Howard Hinnant); history formats twenty of these per page. */
size_t coop_graph_format_time_(int64_t ms, char out[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000, milli = ms - secs * 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400, rem = secs - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999)
        y = 0;
    int64_t f[] = {y, m, d, rem / 3600, rem / 60 % 60, rem % 60, milli};
    static const int width[] = {4, 2, 2, 2, 2, 2, 3};
    static const char sep[] = "--T::.Z";
    size_t n = 0;
    for (int i = 0; i < 7; i++) {
        for (int k = width[i] - 1; k >= 0; k--) {
            out[n + (size_t)k] = (char)('0' + f[i] % 10);
            f[i] /= 10;
        }
        n += (size_t)width[i];
        out[n++] = sep[i];
    }
    out[n] = '\0';
    return n;
}

struct json_object *coop_graph_time_json_(int64_t ms)
{
    if (ms <= 0)
        return NULL;
    char buf[32];
    size_t n = coop_graph_format_time_(ms, buf);
    return json_object_new_string_len(buf, (int)n);
}

/* Runs a query expecting one integer; NOT_FOUND when there is no row. */
static coop_err one_int(struct coop_conn *c, const char *sql, const struct coop_param *p, size_t n,
                        int64_t *out)
{
    return coop_conn_query_int(c, sql, p, n, out);
}

coop_err coop_graph_repo_lookup(struct coop_conn *c, const char *repo, int64_t *id)
{
    return one_int(c, "SELECT id FROM graph_repos WHERE name = ?", COOP_PARAMS(COOP_PT(repo)), id);
}

coop_err coop_graph_repo_ensure(struct coop_conn *c, const char *repo, int64_t *id)
{
    if (!repo || !*repo || strlen(repo) > 512)
        return COOP_ERR_INVALID;
    coop_err err = coop_graph_repo_lookup(c, repo, id);
    if (err != COOP_ERR_NOT_FOUND)
        return err;
    return one_int(c, "INSERT INTO graph_repos (name) VALUES (?) RETURNING id",
                   COOP_PARAMS(COOP_PT(repo)), id);
}

coop_err coop_graph_repo_set_default_branch(struct coop_conn *c, int64_t repo_id,
                                            const char *branch)
{
    if (!branch || !*branch)
        return COOP_ERR_OK;
    return coop_conn_exec(c,
                          "UPDATE graph_repos SET default_branch = ? WHERE id = ?"
                          " AND (default_branch IS NULL OR default_branch <> ?)",
                          COOP_PARAMS(COOP_PT(branch), COOP_PI(repo_id), COOP_PT(branch)), NULL);
}

coop_err coop_graph_repo_rename(struct coop_conn *c, const char *old_id, const char *new_id)
{
    int64_t old_row, new_row;
    coop_err err = coop_graph_repo_lookup(c, old_id, &old_row);
    if (err)
        return err;
    err = coop_graph_repo_lookup(c, new_id, &new_row);
    if (err == COOP_ERR_OK)
        return new_row == old_row ? COOP_ERR_OK : COOP_ERR_CONFLICT;
    if (err != COOP_ERR_NOT_FOUND)
        return err;
    err = coop_conn_exec(c, "UPDATE graph_repos SET name = ?, version = version + 1 WHERE id = ?",
                         COOP_PARAMS(COOP_PT(new_id), COOP_PI(old_row)), NULL);
    coop_graph_cache_clear_();
    return err;
}

/* ---- people ------------------------------------------------------------- */

static void lower_copy(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static coop_err identity_find(struct coop_conn *c, const char *kind, const char *scope,
                              const char *value, int64_t *person)
{
    *person = 0;
    coop_err err = one_int(c,
                           "SELECT person FROM graph_identities WHERE kind = ? AND scope = ?"
                           " AND value = ?",
                           COOP_PARAMS(COOP_PT(kind), COOP_PT(scope), COOP_PT(value)), person);
    return err == COOP_ERR_NOT_FOUND ? COOP_ERR_OK : err;
}

static coop_err identity_add(struct coop_conn *c, const char *kind, const char *scope,
                             const char *value, int64_t person)
{
    return coop_conn_exec(c,
                          "INSERT INTO graph_identities (kind, scope, value, person)"
                          " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          COOP_PARAMS(COOP_PT(kind), COOP_PT(scope), COOP_PT(value),
                                      COOP_PI(person)),
                          NULL);
}

/* The moves of a merge, in order: each statement takes ?1 = keep, ?2 = drop
 * positional parameters bound as (keep, drop) or (drop) as written. */
static coop_err merge_counts(struct coop_conn *c, int64_t keep, int64_t drop)
{
    coop_err err = coop_conn_exec(
        c,
        "INSERT INTO graph_authorship (file, person, changes, last_change)"
        " SELECT file, ?, changes, last_change FROM graph_authorship WHERE person = ? AND true"
        " ON CONFLICT (file, person) DO UPDATE SET"
        " changes = graph_authorship.changes + excluded.changes,"
        " last_change = CASE WHEN excluded.last_change > graph_authorship.last_change"
        " THEN excluded.last_change ELSE graph_authorship.last_change END",
        COOP_PARAMS(COOP_PI(keep), COOP_PI(drop)), NULL);
    if (!err)
        err = coop_conn_exec(c, "DELETE FROM graph_authorship WHERE person = ?",
                             COOP_PARAMS(COOP_PI(drop)), NULL);
    if (!err)
        err = coop_conn_exec(
            c,
            "INSERT INTO graph_repo_people (repo, person, commits, last_change)"
            " SELECT repo, ?, commits, last_change FROM graph_repo_people WHERE person = ? AND true"
            " ON CONFLICT (repo, person) DO UPDATE SET"
            " commits = graph_repo_people.commits + excluded.commits,"
            " last_change = CASE WHEN excluded.last_change > graph_repo_people.last_change"
            " THEN excluded.last_change ELSE graph_repo_people.last_change END",
            COOP_PARAMS(COOP_PI(keep), COOP_PI(drop)), NULL);
    if (!err)
        err = coop_conn_exec(c, "DELETE FROM graph_repo_people WHERE person = ?",
                             COOP_PARAMS(COOP_PI(drop)), NULL);
    return err;
}

/* A change to who a person is (a merge, a new name) changes answers that
 * other coopd instances may hold in their caches, keyed by the version of
 * each repository: bump the versions of the person's repositories. */
static coop_err bump_person_repos(struct coop_conn *c, int64_t person)
{
    return coop_conn_exec(c,
                          "UPDATE graph_repos SET version = version + 1 WHERE id IN"
                          " (SELECT repo FROM graph_repo_people WHERE person = ?)",
                          COOP_PARAMS(COOP_PI(person)), NULL);
}

coop_err coop_graph_person_merge(struct coop_conn *c, int64_t keep, int64_t drop)
{
    if (keep == drop)
        return COOP_ERR_OK;
    coop_err err = merge_counts(c, keep, drop);
    static const char *const moves[] = {
        "UPDATE graph_identities SET person = ? WHERE person = ?",
        "UPDATE graph_commits SET author = ? WHERE author = ?",
        "UPDATE graph_files SET creator = ? WHERE creator = ?",
        "UPDATE graph_pulls SET author = ? WHERE author = ?",
    };
    for (size_t i = 0; !err && i < sizeof moves / sizeof *moves; i++)
        err = coop_conn_exec(c, moves[i], COOP_PARAMS(COOP_PI(keep), COOP_PI(drop)), NULL);
    if (!err)
        err = coop_conn_exec(c,
                             "UPDATE graph_people SET name = (SELECT name FROM graph_people"
                             " WHERE id = ?) WHERE id = ? AND name IS NULL",
                             COOP_PARAMS(COOP_PI(drop), COOP_PI(keep)), NULL);
    if (!err)
        err = coop_conn_exec(c, "DELETE FROM graph_people WHERE id = ?",
                             COOP_PARAMS(COOP_PI(drop)), NULL);
    if (!err)
        err = bump_person_repos(c, keep);
    coop_graph_cache_clear_();
    return err;
}

static coop_err rename_placeholder(struct coop_conn *c, int64_t person, const char *name,
                                   const char *login, const char *email)
{
    int64_t changed = 0;
    coop_err err = coop_conn_exec(c,
                                  "UPDATE graph_people SET name = ? WHERE id = ?"
                                  " AND (name IS NULL OR name = ? OR name = ?)",
                                  COOP_PARAMS(COOP_PT(name), COOP_PI(person),
                                              COOP_PT(login ? login : ""),
                                              COOP_PT(email ? email : "")),
                                  &changed);
    if (!err && changed) {
        err = bump_person_repos(c, person);
        coop_graph_cache_clear_();
    }
    return err;
}

coop_err coop_graph_person_resolve(struct coop_conn *c, const char *host, const char *name,
                                   const char *email, const char *login, int64_t *person)
{
    char mail[320];
    int64_t by_mail = 0, by_login = 0, by_name = 0;
    *person = 0;
    if (email && !*email)
        email = NULL;
    if (login && !*login)
        login = NULL;
    if (name && !*name)
        name = NULL;
    if (!host)
        host = "";
    coop_err err = COOP_ERR_OK;
    if (email) {
        lower_copy(email, mail, sizeof mail);
        err = identity_find(c, "email", "", mail, &by_mail);
    }
    if (!err && login)
        err = identity_find(c, "login", host, login, &by_login);
    if (!err && !email && !login) {
        if (!name)
            return COOP_ERR_INVALID;
        err = identity_find(c, "name", "", name, &by_name);
    }
    if (err)
        return err;
    if (by_mail && by_login && by_mail != by_login) {
        if ((err = coop_graph_person_merge(c, by_mail, by_login)))
            return err;
        by_login = by_mail;
    }
    int64_t id = by_mail ? by_mail : by_login ? by_login : by_name;
    if (!id) {
        err = one_int(c, "INSERT INTO graph_people (name) VALUES (?) RETURNING id",
                      COOP_PARAMS(COOP_PT(name ? name : login ? login : email)), &id);
        if (err)
            return err;
    }
    bool known = by_mail || by_login || by_name;
    if (email && !by_mail)
        err = identity_add(c, "email", "", mail, id);
    if (!err && login && !by_login)
        err = identity_add(c, "login", host, login, id);
    if (!err && !email && !login && !by_name)
        err = identity_add(c, "name", "", name, id);
    /* A person first seen by a login alone (a pull request's author) is
     * named after it; the real name that comes with a new identity (their
     * first commit) replaces that placeholder, so the name does not depend
     * on which of the two events was applied first. */
    if (!err && known && name && ((email && !by_mail) || (login && !by_login)))
        err = rename_placeholder(c, id, name, login, email);
    *person = id;
    return err;
}

coop_err coop_graph_person_add_slack(struct coop_conn *c, const char *team, const char *user_id,
                                     const char *name, const char *email)
{
    if (!user_id || !*user_id)
        return COOP_ERR_INVALID;
    if (!team)
        team = "";
    int64_t by_slack = 0, person = 0;
    coop_err err = identity_find(c, "slack", team, user_id, &by_slack);
    if (err)
        return err;
    if (email && *email) {
        if ((err = coop_graph_person_resolve(c, "", name, email, NULL, &person)))
            return err;
        if (by_slack && by_slack != person && (err = coop_graph_person_merge(c, person, by_slack)))
            return err;
    } else if (by_slack) {
        return COOP_ERR_OK;
    } else {
        err = one_int(c, "INSERT INTO graph_people (name) VALUES (?) RETURNING id",
                      COOP_PARAMS(COOP_PT(name ? name : user_id)), &person);
        if (err)
            return err;
    }
    return identity_add(c, "slack", team, user_id, person);
}

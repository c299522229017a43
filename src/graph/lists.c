/*
 * The listing questions: repositories, pull requests (optionally those
 * touching a path) and the people of a repository with their identities.
 */
#include "graph_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define MAX_LIST 200

static coop_err repos_cb(void *ctx, const struct coop_row *row)
{
    struct json_object *arr = ctx, *o = json_object_new_object();
    const char *name = coop_row_text(row, 0, NULL), *branch = coop_row_text(row, 1, NULL);
    json_object_object_add(o, "id", json_object_new_string(name ? name : ""));
    json_object_object_add(o, "default_branch", branch ? json_object_new_string(branch) : NULL);
    json_object_object_add(o, "commits", json_object_new_int64(coop_row_int(row, 2)));
    json_object_object_add(o, "last_event_at", coop_graph_time_json_(coop_row_int(row, 3)));
    json_object_array_add(arr, o);
    return COOP_ERR_OK;
}

coop_err coop_graph_repos(struct coop_store *s, struct json_object **out)
{
    struct json_object *arr = json_object_new_array();
    coop_err err = coop_store_query(s,
                                    "SELECT name, default_branch, commits, COALESCE(last_event_at, 0)"
                                    " FROM graph_repos ORDER BY name",
                                    COOP_NOPARAMS, repos_cb, arr);
    if (err) {
        json_object_put(arr);
        return err;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "repos", arr);
    return COOP_ERR_OK;
}

static coop_err repo_id(struct coop_conn *c, const char *repo, int64_t *id, const char **what)
{
    *what = "repo";
    if (!repo || !*repo)
        return COOP_ERR_INVALID;
    return coop_graph_repo_lookup(c, repo, id);
}

/* ---- pulls ------------------------------------------------------------------- */

#define PULLS_SELECT                                                                               \
    "SELECT p.number, p.title, p.state, pe.name, p.url, p.updated_at FROM graph_pulls p"           \
    " LEFT JOIN graph_people pe ON pe.id = p.author WHERE p.repo = ?"
#define PULLS_PATH                                                                                 \
    " AND EXISTS (SELECT 1 FROM graph_pull_files pf WHERE pf.repo = p.repo"                        \
    " AND pf.number = p.number AND (pf.path = ? OR (pf.path >= ? AND pf.path < ?)))"

struct pulls_ctx {
    struct json_object *arr;
    int64_t numbers[MAX_LIST];
    size_t n;
};

static coop_err pulls_cb(void *ctx, const struct coop_row *row)
{
    struct pulls_ctx *p = ctx;
    struct json_object *o = json_object_new_object();
    const char *title = coop_row_text(row, 1, NULL), *state = coop_row_text(row, 2, NULL);
    const char *author = coop_row_text(row, 3, NULL), *url = coop_row_text(row, 4, NULL);
    p->numbers[p->n++] = coop_row_int(row, 0);
    json_object_object_add(o, "number", json_object_new_int64(coop_row_int(row, 0)));
    json_object_object_add(o, "title", json_object_new_string(title ? title : ""));
    json_object_object_add(o, "state", json_object_new_string(state ? state : ""));
    json_object_object_add(o, "author", author ? json_object_new_string(author) : NULL);
    json_object_object_add(o, "url", url ? json_object_new_string(url) : NULL);
    json_object_object_add(o, "updated_at", coop_graph_time_json_(coop_row_int(row, 5)));
    json_object_object_add(o, "reviewers", json_object_new_array());
    json_object_array_add(p->arr, o);
    return COOP_ERR_OK;
}

static coop_err reviewer_cb(void *ctx, const struct coop_row *row)
{
    struct json_object *arr = ctx, *o = json_object_new_object();
    const char *login = coop_row_text(row, 0, NULL), *state = coop_row_text(row, 1, NULL);
    json_object_object_add(o, "login", json_object_new_string(login ? login : ""));
    json_object_object_add(o, "state", json_object_new_string(state ? state : ""));
    json_object_array_add(arr, o);
    return COOP_ERR_OK;
}

coop_err coop_graph_pulls(struct coop_store *s, const struct coop_graph_query *q,
                          struct json_object **out, const char **what)
{
    *out = NULL;
    const char *state = q->state && *q->state && strcmp(q->state, "all") != 0 ? q->state : NULL;
    *what = "state";
    if (state && strcmp(state, "open") && strcmp(state, "closed") && strcmp(state, "merged"))
        return COOP_ERR_INVALID;
    int64_t limit = q->limit ? q->limit : 50;
    *what = "limit";
    if (limit < 1 || limit > MAX_LIST)
        return COOP_ERR_INVALID;
    const char *path = q->path && *q->path ? q->path : NULL;
    while (path && *path == '/')
        path++;
    char lo[4200], hi[4200];
    if (path) {
        size_t n = strlen(path);
        while (n && path[n - 1] == '/')
            n--;
        *what = "path";
        if (n == 0 || n > 4096)
            return COOP_ERR_INVALID;
        snprintf(lo, sizeof lo, "%.*s/", (int)n, path);
        snprintf(hi, sizeof hi, "%.*s0", (int)n, path);
    }
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    int64_t repo;
    struct pulls_ctx p = {.arr = json_object_new_array()};
    if ((err = repo_id(c, q->repo, &repo, what)))
        goto done;
    char exact[4200];
    if (path)
        snprintf(exact, sizeof exact, "%.*s", (int)(strlen(lo) - 1), lo);
    /* Four statements rather than "? IS NULL" tests, which PostgreSQL
     * cannot type. */
    static const char *const sql[4] = {
        PULLS_SELECT " ORDER BY p.updated_at DESC, p.number DESC LIMIT ?",
        PULLS_SELECT " AND p.state = ? ORDER BY p.updated_at DESC, p.number DESC LIMIT ?",
        PULLS_SELECT PULLS_PATH " ORDER BY p.updated_at DESC, p.number DESC LIMIT ?",
        PULLS_SELECT " AND p.state = ?" PULLS_PATH
                     " ORDER BY p.updated_at DESC, p.number DESC LIMIT ?",
    };
    struct coop_param params[6];
    size_t np = 0;
    params[np++] = COOP_PI(repo);
    if (state)
        params[np++] = COOP_PT(state);
    if (path) {
        params[np++] = COOP_PT(exact);
        params[np++] = COOP_PT(lo);
        params[np++] = COOP_PT(hi);
    }
    params[np++] = COOP_PI(limit);
    err = coop_conn_query(c, sql[(state ? 1 : 0) + (path ? 2 : 0)], params, np, pulls_cb, &p);
    for (size_t i = 0; !err && i < p.n; i++) {
        struct json_object *reviewers;
        json_object_object_get_ex(json_object_array_get_idx(p.arr, i), "reviewers", &reviewers);
        err = coop_conn_query(c,
                              "SELECT login, state FROM graph_pull_reviewers WHERE repo = ?"
                              " AND number = ? ORDER BY login",
                              COOP_PARAMS(COOP_PI(repo), COOP_PI(p.numbers[i])), reviewer_cb,
                              reviewers);
    }
done:
    coop_graph_read_end_(s, c);
    if (err) {
        json_object_put(p.arr);
        return err;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "pulls", p.arr);
    return COOP_ERR_OK;
}

/* ---- people ------------------------------------------------------------------- */

struct people_ctx {
    struct json_object *arr;
    int64_t ids[MAX_LIST];
    size_t n;
};

static coop_err people_cb(void *ctx, const struct coop_row *row)
{
    struct people_ctx *p = ctx;
    struct json_object *o = json_object_new_object();
    const char *name = coop_row_text(row, 1, NULL);
    p->ids[p->n++] = coop_row_int(row, 0);
    json_object_object_add(o, "id", json_object_new_int64(coop_row_int(row, 0)));
    json_object_object_add(o, "name", json_object_new_string(name ? name : ""));
    json_object_object_add(o, "commits", json_object_new_int64(coop_row_int(row, 2)));
    json_object_object_add(o, "last_change", coop_graph_time_json_(coop_row_int(row, 3)));
    json_object_object_add(o, "logins", json_object_new_array());
    json_object_object_add(o, "emails", json_object_new_array());
    json_object_object_add(o, "slack_ids", json_object_new_array());
    json_object_array_add(p->arr, o);
    return COOP_ERR_OK;
}

static coop_err identity_cb(void *ctx, const struct coop_row *row)
{
    struct json_object *person = ctx, *arr;
    const char *kind = coop_row_text(row, 0, NULL), *scope = coop_row_text(row, 1, NULL);
    const char *value = coop_row_text(row, 2, NULL);
    if (!kind || !value)
        return COOP_ERR_OK;
    if (strcmp(kind, "email") == 0) {
        json_object_object_get_ex(person, "emails", &arr);
        json_object_array_add(arr, json_object_new_string(value));
    } else if (strcmp(kind, "login") == 0 || strcmp(kind, "slack") == 0) {
        json_object_object_get_ex(person, kind[0] == 'l' ? "logins" : "slack_ids", &arr);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, kind[0] == 'l' ? "host" : "team", json_object_new_string(scope ? scope : ""));
        json_object_object_add(o, kind[0] == 'l' ? "login" : "id", json_object_new_string(value));
        json_object_array_add(arr, o);
    }
    return COOP_ERR_OK;
}

coop_err coop_graph_people(struct coop_store *s, const struct coop_graph_query *q,
                           struct json_object **out, const char **what)
{
    *out = NULL;
    int64_t limit = q->limit ? q->limit : 100;
    *what = "limit";
    if (limit < 1 || limit > MAX_LIST)
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    int64_t repo;
    struct people_ctx p = {.arr = json_object_new_array()};
    if ((err = repo_id(c, q->repo, &repo, what)))
        goto done;
    err = coop_conn_query(c,
                          "SELECT rp.person, pe.name, rp.commits, rp.last_change"
                          " FROM graph_repo_people rp JOIN graph_people pe ON pe.id = rp.person"
                          " WHERE rp.repo = ? ORDER BY rp.commits DESC, rp.person LIMIT ?",
                          COOP_PARAMS(COOP_PI(repo), COOP_PI(limit)), people_cb, &p);
    for (size_t i = 0; !err && i < p.n; i++)
        err = coop_conn_query(c,
                              "SELECT kind, scope, value FROM graph_identities WHERE person = ?"
                              " ORDER BY kind, scope, value",
                              COOP_PARAMS(COOP_PI(p.ids[i])), identity_cb,
                              json_object_array_get_idx(p.arr, i));
done:
    coop_graph_read_end_(s, c);
    if (err) {
        json_object_put(p.arr);
        return err;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "people", p.arr);
    return COOP_ERR_OK;
}

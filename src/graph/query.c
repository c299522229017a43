/*
 * The questions the extension asks, answered from precomputed state: each
 * reads a handful of rows through indexes (a file's authorship rows, a
 * page of its changes, its coupling rows) and builds the JSON of DESIGN.md
 * section 4. Whole-repository answers (truck factor, a directory's
 * authors) come from cache.c, recomputed from the count tables only when
 * the repository changed.
 */
#include "cache_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_MS (90LL * 24 * 3600 * 1000)
#define MAX_PATH_LEN 4096

struct repo_row {
    int64_t id, version;
    char default_branch[256];
};

static coop_err repo_cb(void *ctx, const struct coop_row *row)
{
    struct repo_row *r = ctx;
    r->id = coop_row_int(row, 0);
    r->version = coop_row_int(row, 1);
    const char *b = coop_row_text(row, 2, NULL);
    coop_strlcpy(r->default_branch, b ? b : "", sizeof r->default_branch);
    return COOP_ERR_DUPLICATE;
}

static coop_err find_repo(struct coop_conn *c, const char *name, struct repo_row *r,
                          const char **what)
{
    if (!name || !*name) {
        *what = "repo";
        return COOP_ERR_INVALID;
    }
    r->id = 0;
    coop_err err = coop_conn_query(c, "SELECT id, version, default_branch FROM graph_repos WHERE name = ?",
                                   COOP_PARAMS(COOP_PT(name)), repo_cb, r);
    if (err == COOP_ERR_DUPLICATE)
        return COOP_ERR_OK;
    if (!err) {
        *what = "repo";
        return COOP_ERR_NOT_FOUND;
    }
    return err;
}

/* Trims leading and trailing slashes and "./"; "" is the root. */
static coop_err normalize(const char *in, char *out, size_t size)
{
    if (!in)
        in = "";
    while (*in == '/' || (in[0] == '.' && in[1] == '/'))
        in += in[0] == '.' ? 2 : 1;
    if (strcmp(in, ".") == 0)
        in = "";
    size_t n = strlen(in);
    if (n >= size)
        return COOP_ERR_INVALID;
    memcpy(out, in, n + 1);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
    return COOP_ERR_OK;
}

static coop_err file_of(struct coop_conn *c, int64_t repo, const char *path, int64_t *file)
{
    *file = 0;
    coop_err err = coop_conn_query_int(c, "SELECT file FROM graph_paths WHERE repo = ? AND path = ?",
                                       COOP_PARAMS(COOP_PI(repo), COOP_PT(path)), file);
    return err == COOP_ERR_NOT_FOUND ? COOP_ERR_OK : err;
}

/* The [lo, hi) range of paths below directory dir; the root has no upper
 * bound (hi is set to "" and callers use the unbounded statement). */
static void dir_range(const char *dir, char *lo, char *hi, size_t size)
{
    if (!*dir) {
        lo[0] = hi[0] = '\0';
        return;
    }
    snprintf(lo, size, "%s/", dir);
    snprintf(hi, size, "%s0", dir); /* '0' follows '/' */
}

static coop_err is_dir(struct coop_conn *c, int64_t repo, const char *dir, bool *yes)
{
    char lo[MAX_PATH_LEN + 2], hi[MAX_PATH_LEN + 2];
    dir_range(dir, lo, hi, sizeof lo);
    int64_t one = 0;
    coop_err err =
        *dir ? coop_conn_query_int(c,
                                   "SELECT 1 FROM graph_files WHERE repo = ? AND path >= ?"
                                   " AND path < ? LIMIT 1",
                                   COOP_PARAMS(COOP_PI(repo), COOP_PT(lo), COOP_PT(hi)), &one)
             : coop_conn_query_int(c, "SELECT 1 FROM graph_files WHERE repo = ? LIMIT 1",
                                   COOP_PARAMS(COOP_PI(repo)), &one);
    *yes = err == COOP_ERR_OK;
    return err == COOP_ERR_NOT_FOUND ? COOP_ERR_OK : err;
}

static coop_err person_name(struct coop_conn *c, int64_t person, char *out, size_t size)
{
    struct coop_graph_text_ t = {out, size, false};
    out[0] = '\0';
    coop_err err = coop_conn_query(c, "SELECT name FROM graph_people WHERE id = ?",
                                   COOP_PARAMS(COOP_PI(person)), coop_graph_row_text_, &t);
    return err == COOP_ERR_DUPLICATE ? COOP_ERR_OK : err;
}

static int64_t query_now(const struct coop_graph_query *q)
{
    return q->now_ms ? q->now_ms : coop_clock_now_ms();
}

static struct json_object *round3(double v)
{
    char text[32];
    snprintf(text, sizeof text, "%.3f", v);
    return json_object_new_double_s(round(v * 1000) / 1000, text);
}

/* ---- scans of a directory ------------------------------------------------ */

/*
 * The rows of a scan arrive ordered by file; each file's group is turned
 * into author pairs and per-person sums as soon as it is complete, so
 * memory stays proportional to the people and the authors, not to the rows.
 */
struct scan_row {
    int64_t person, changes, last_change;
    double doa;
};

struct scan_ctx {
    int64_t file, creator, revisions; /* the group being read */
    struct scan_row *group;
    size_t n, cap;
    /* people: open addressing on person id, slots index into people */
    struct coop_graph_scan_person_ *people;
    size_t n_people, people_cap;
    uint32_t *slots; /* index + 1; 0 is empty */
    size_t n_slots;
    int64_t (*pairs)[2];
    size_t n_pairs, pairs_cap;
    int64_t files;
};

static coop_err grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return COOP_ERR_OK;
    size_t cap2 = *cap ? *cap * 2 : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *n = realloc(*p, cap2 * size);
    if (!n)
        return COOP_ERR_NOMEM;
    *p = n;
    *cap = cap2;
    return COOP_ERR_OK;
}

static size_t slot_of(const struct scan_ctx *s, int64_t person)
{
    return (size_t)((uint64_t)person * 0x9E3779B97F4A7C15ULL >> 20) & (s->n_slots - 1);
}

static coop_err rehash(struct scan_ctx *s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 256;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return COOP_ERR_NOMEM;
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    for (size_t i = 0; i < s->n_people; i++) {
        size_t k = slot_of(s, s->people[i].person);
        while (s->slots[k])
            k = (k + 1) & (n - 1);
        s->slots[k] = (uint32_t)i + 1;
    }
    return COOP_ERR_OK;
}

static coop_err person_slot(struct scan_ctx *s, int64_t person,
                            struct coop_graph_scan_person_ **out)
{
    coop_err err;
    if ((s->n_people + 1) * 2 > s->n_slots && (err = rehash(s)))
        return err;
    size_t k = slot_of(s, person);
    while (s->slots[k]) {
        struct coop_graph_scan_person_ *p = &s->people[s->slots[k] - 1];
        if (p->person == person) {
            *out = p;
            return COOP_ERR_OK;
        }
        k = (k + 1) & (s->n_slots - 1);
    }
    if ((err = grow((void **)&s->people, &s->people_cap, s->n_people + 1, sizeof *s->people)))
        return err;
    s->people[s->n_people] = (struct coop_graph_scan_person_){.person = person};
    s->slots[k] = (uint32_t)++s->n_people;
    *out = &s->people[s->n_people - 1];
    return COOP_ERR_OK;
}

static coop_err flush_group(struct scan_ctx *s)
{
    if (s->n == 0)
        return COOP_ERR_OK;
    double max = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct scan_row *r = &s->group[i];
        r->doa = coop_graph_doa(s->creator == r->person, r->changes, s->revisions - r->changes);
        if (r->doa > max)
            max = r->doa;
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct scan_row *r = &s->group[i];
        struct coop_graph_scan_person_ *p;
        coop_err err = person_slot(s, r->person, &p);
        if (err)
            return err;
        p->changes += r->changes;
        if (r->last_change > p->last_change)
            p->last_change = r->last_change;
        if (!coop_graph_is_author(r->doa, max))
            continue;
        p->files++;
        if ((err = grow((void **)&s->pairs, &s->pairs_cap, s->n_pairs + 1, sizeof *s->pairs)))
            return err;
        s->pairs[s->n_pairs][0] = s->files;
        s->pairs[s->n_pairs][1] = r->person;
        s->n_pairs++;
    }
    s->files++;
    s->n = 0;
    return COOP_ERR_OK;
}

static coop_err scan_cb(void *ctx, const struct coop_row *row)
{
    struct scan_ctx *s = ctx;
    int64_t file = coop_row_int(row, 0);
    coop_err err;
    if (s->n && file != s->file && (err = flush_group(s)))
        return err;
    if ((err = grow((void **)&s->group, &s->cap, s->n + 1, sizeof *s->group)))
        return err;
    s->file = file;
    s->creator = coop_row_int(row, 1);
    s->revisions = coop_row_int(row, 2);
    s->group[s->n++] = (struct scan_row){coop_row_int(row, 3), coop_row_int(row, 4),
                                         coop_row_int(row, 5), 0};
    return COOP_ERR_OK;
}

static int by_people_files(const void *a, const void *b)
{
    const struct coop_graph_scan_person_ *x = a, *y = b;
    if (x->files != y->files)
        return x->files > y->files ? -1 : 1;
    if (x->changes != y->changes)
        return x->changes > y->changes ? -1 : 1;
    return x->person < y->person ? -1 : x->person > y->person;
}

/* Completes the scan into out; takes the people array. */
static coop_err build_scan(struct scan_ctx *sc, struct coop_graph_scan_ *out)
{
    coop_err err = flush_group(sc);
    if (err)
        return err;
    size_t np = sc->n_people;
    out->files = sc->files;
    out->removed = malloc((np ? np : 1) * sizeof *out->removed);
    if (!out->removed)
        return COOP_ERR_NOMEM;
    out->truck_factor = coop_graph_truck_factor((size_t)sc->files,
                                                (const int64_t(*)[2])sc->pairs, sc->n_pairs,
                                                out->removed, np);
    if (np)
        qsort(sc->people, np, sizeof *sc->people, by_people_files);
    out->people = sc->people;
    out->n_people = np;
    sc->people = NULL;
    return COOP_ERR_OK;
}

static void scan_ctx_dispose(struct scan_ctx *sc)
{
    free(sc->group);
    free(sc->people);
    free(sc->slots);
    free(sc->pairs);
}

/* Scans the files below dir, or the one file dir names when exact. */
static coop_err scan_dir(struct coop_conn *c, const struct repo_row *repo, const char *dir,
                         bool exact, struct coop_graph_scan_ **out)
{
    char key[MAX_PATH_LEN + 2];
    snprintf(key, sizeof key, "%c%s", exact ? '=' : '/', dir);
    if ((*out = coop_graph_scan_get_(repo->id, repo->version, key)))
        return COOP_ERR_OK;
    char lo[MAX_PATH_LEN + 2], hi[MAX_PATH_LEN + 2];
    if (exact) {
        snprintf(lo, sizeof lo, "%s", dir);
        snprintf(hi, sizeof hi, "%s\x01", dir);
    } else {
        dir_range(dir, lo, hi, sizeof lo);
    }
    struct scan_ctx sc = {0};
    coop_err err;
    if (hi[0])
        err = coop_conn_query(
            c,
            "SELECT f.id, COALESCE(f.creator, 0), f.revisions, a.person, a.changes, a.last_change"
            " FROM graph_files f JOIN graph_authorship a ON a.file = f.id"
            " WHERE f.repo = ? AND f.path >= ? AND f.path < ? AND f.deleted = 0"
            " ORDER BY f.path, f.id",
            COOP_PARAMS(COOP_PI(repo->id), COOP_PT(lo), COOP_PT(hi)), scan_cb, &sc);
    else
        err = coop_conn_query(
            c,
            "SELECT f.id, COALESCE(f.creator, 0), f.revisions, a.person, a.changes, a.last_change"
            " FROM graph_files f JOIN graph_authorship a ON a.file = f.id"
            " WHERE f.repo = ? AND f.deleted = 0 ORDER BY f.path, f.id",
            COOP_PARAMS(COOP_PI(repo->id)), scan_cb, &sc);
    struct coop_graph_scan_ *s = err ? NULL : calloc(1, sizeof *s);
    if (!err && !s)
        err = COOP_ERR_NOMEM;
    if (!err) {
        s->repo = repo->id;
        s->version = repo->version;
        s->refs = 1;
        s->prefix = strdup(key);
        err = s->prefix ? build_scan(&sc, s) : COOP_ERR_NOMEM;
    }
    scan_ctx_dispose(&sc);
    if (err) {
        if (s) {
            free(s->prefix);
            free(s);
        }
        return err;
    }
    coop_graph_scan_keep_(s);
    *out = s;
    return COOP_ERR_OK;
}

/* ---- owners --------------------------------------------------------------- */

struct author_row {
    int64_t person, changes, last_change;
    double doa;
    char name[128];
};

struct authors_ctx {
    struct author_row rows[256];
    size_t n;
    int64_t creator, revisions;
};

static coop_err author_cb(void *ctx, const struct coop_row *row)
{
    struct authors_ctx *a = ctx;
    if (a->n == sizeof a->rows / sizeof *a->rows)
        return COOP_ERR_OK; /* beyond 256 people a file's tail cannot be authors */
    struct author_row *r = &a->rows[a->n++];
    a->creator = coop_row_int(row, 0);
    a->revisions = coop_row_int(row, 1);
    r->person = coop_row_int(row, 2);
    r->changes = coop_row_int(row, 3);
    r->last_change = coop_row_int(row, 4);
    const char *name = coop_row_text(row, 5, NULL);
    coop_strlcpy(r->name, name ? name : "", sizeof r->name);
    return COOP_ERR_OK;
}

static int by_doa(const void *a, const void *b)
{
    const struct author_row *x = a, *y = b;
    if (x->doa != y->doa)
        return x->doa > y->doa ? -1 : 1;
    return x->person < y->person ? -1 : x->person > y->person;
}

static int by_recent(const void *a, const void *b)
{
    const struct author_row *x = *(struct author_row *const *)a, *y = *(struct author_row *const *)b;
    if (x->last_change != y->last_change)
        return x->last_change > y->last_change ? -1 : 1;
    return x->person < y->person ? -1 : x->person > y->person;
}

static struct json_object *person_entry(const char *name, int64_t id, int64_t commits,
                                        int64_t last_change)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "person", json_object_new_string(name));
    json_object_object_add(o, "person_id", json_object_new_int64(id));
    json_object_object_add(o, "commits", json_object_new_int64(commits));
    json_object_object_add(o, "last_change", coop_graph_time_json_(last_change));
    return o;
}

static coop_err file_owners(struct coop_conn *c, int64_t file, int64_t now,
                            struct json_object *out)
{
    struct authors_ctx *a = malloc(sizeof *a); /* 40 KB: not zeroed, rows are filled as read */
    if (!a)
        return COOP_ERR_NOMEM;
    a->n = 0;
    a->creator = a->revisions = 0;
    coop_err err = coop_conn_query(
        c,
        "SELECT COALESCE(f.creator, 0), f.revisions, a.person, a.changes, a.last_change, p.name"
        " FROM graph_files f JOIN graph_authorship a ON a.file = f.id"
        " JOIN graph_people p ON p.id = a.person WHERE f.id = ?",
        COOP_PARAMS(COOP_PI(file)), author_cb, a);
    if (err) {
        free(a);
        return err;
    }
    double max = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct author_row *r = &a->rows[i];
        r->doa = coop_graph_doa(a->creator == r->person, r->changes, a->revisions - r->changes);
        if (r->doa > max)
            max = r->doa;
    }
    qsort(a->rows, a->n, sizeof *a->rows, by_doa);
    struct json_object *authors = json_object_new_array(), *recent = json_object_new_array();
    struct author_row *rec[256];
    size_t nrec = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct author_row *r = &a->rows[i];
        if (coop_graph_is_author(r->doa, max)) {
            struct json_object *o = person_entry(r->name, r->person, r->changes, r->last_change);
            json_object_object_add(o, "doa", round3(r->doa));
            json_object_object_add(o, "first_author", json_object_new_boolean(a->creator == r->person));
            json_object_array_add(authors, o);
        }
        if (r->last_change >= now - RECENT_MS)
            rec[nrec++] = r;
    }
    qsort(rec, nrec, sizeof *rec, by_recent);
    for (size_t i = 0; i < nrec; i++)
        json_object_array_add(recent, person_entry(rec[i]->name, rec[i]->person, rec[i]->changes,
                                                   rec[i]->last_change));
    json_object_object_add(out, "authors", authors);
    json_object_object_add(out, "recent_contributors", recent);
    json_object_object_add(out, "revisions", json_object_new_int64(a->revisions));
    free(a);
    return COOP_ERR_OK;
}

static coop_err dir_owners(struct coop_conn *c, const struct repo_row *repo, const char *dir,
                           int64_t now, struct json_object *out)
{
    struct coop_graph_scan_ *s;
    coop_err err = scan_dir(c, repo, dir, false, &s);
    if (err)
        return err;
    struct json_object *authors = json_object_new_array(), *recent = json_object_new_array();
    char name[128];
    for (size_t i = 0; !err && i < s->n_people && i < 20; i++) {
        const struct coop_graph_scan_person_ *p = &s->people[i];
        if (p->files == 0)
            break;
        if ((err = person_name(c, p->person, name, sizeof name)))
            break;
        struct json_object *o = person_entry(name, p->person, p->changes, p->last_change);
        json_object_object_add(o, "files", json_object_new_int64(p->files));
        json_object_array_add(authors, o);
    }
    for (size_t i = 0; !err && i < s->n_people; i++) {
        const struct coop_graph_scan_person_ *p = &s->people[i];
        if (p->last_change < now - RECENT_MS || json_object_array_length(recent) >= 50)
            continue;
        if ((err = person_name(c, p->person, name, sizeof name)))
            break;
        json_object_array_add(recent, person_entry(name, p->person, p->changes, p->last_change));
    }
    json_object_object_add(out, "authors", authors);
    json_object_object_add(out, "recent_contributors", recent);
    json_object_object_add(out, "files", json_object_new_int64(s->files));
    coop_graph_scan_put_(s);
    return err;
}

struct co_row {
    char file[256];
    int64_t version;
    bool found;
};

static coop_err co_row_cb(void *ctx, const struct coop_row *row)
{
    struct co_row *r = ctx;
    const char *f = coop_row_text(row, 0, NULL);
    coop_strlcpy(r->file, f ? f : "", sizeof r->file);
    r->version = coop_row_int(row, 1);
    r->found = true;
    return COOP_ERR_DUPLICATE;
}

struct text_copy {
    char *text;
    size_t len;
};

static coop_err text_copy_cb(void *ctx, const struct coop_row *row)
{
    struct text_copy *t = ctx;
    size_t n;
    const char *s = coop_row_text(row, 0, &n);
    if (!s)
        return COOP_ERR_DUPLICATE;
    if (!(t->text = malloc(n + 1)))
        return COOP_ERR_NOMEM;
    memcpy(t->text, s, n);
    t->text[n] = '\0';
    t->len = n;
    return COOP_ERR_DUPLICATE;
}

static struct json_object *match_json(const char *file, const struct coop_codeowners_match *m)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "file", json_object_new_string(file));
    json_object_object_add(o, "line", json_object_new_int(m->line));
    json_object_object_add(o, "pattern", json_object_new_string(m->pattern));
    struct json_object *owners = json_object_new_array();
    for (size_t i = 0; i < m->n_owners; i++)
        json_object_array_add(owners, json_object_new_string(m->owners[i]));
    json_object_object_add(o, "owners", owners);
    json_object_object_add(o, "section", m->section ? json_object_new_string(m->section) : NULL);
    if (m->section) {
        json_object_object_add(o, "optional", json_object_new_boolean(m->optional));
        json_object_object_add(o, "approvals", json_object_new_int(m->approvals));
    }
    return o;
}

/* The CODEOWNERS rule(s) for path on the default branch (or the only
 * branch known), parsed once per version. */
static coop_err co_find(struct coop_conn *c, const struct repo_row *repo, struct co_row *r)
{
    memset(r, 0, sizeof *r);
    coop_err err = coop_conn_query(c,
                                   "SELECT file, version FROM graph_codeowners WHERE repo = ?"
                                   " ORDER BY CASE WHEN branch = ? THEN 0 ELSE 1 END, branch LIMIT 1",
                                   COOP_PARAMS(COOP_PI(repo->id), COOP_PT(repo->default_branch)),
                                   co_row_cb, r);
    return err == COOP_ERR_DUPLICATE ? COOP_ERR_OK : err;
}

static coop_err codeowners_for(struct coop_conn *c, const struct repo_row *repo, const char *repo_name,
                               const struct co_row *found, const char *path, struct json_object *out)
{
    struct co_row r = *found;
    coop_err err;
    if (!r.found) {
        json_object_object_add(out, "codeowners", NULL);
        return COOP_ERR_OK;
    }
    struct coop_graph_co_ref_ *ref = coop_graph_co_get_(repo->id, r.version);
    if (!ref) {
        struct text_copy t = {0};
        err = coop_conn_query(c, "SELECT text FROM graph_codeowners WHERE repo = ? AND version = ?",
                              COOP_PARAMS(COOP_PI(repo->id), COOP_PI(r.version)), text_copy_cb, &t);
        if (err && err != COOP_ERR_DUPLICATE) {
            free(t.text);
            return err;
        }
        struct coop_codeowners *co = NULL;
        err = coop_codeowners_parse(t.text ? t.text : "", t.len,
                                    coop_codeowners_flavor_for(repo_name, r.file), &co);
        free(t.text);
        if (err)
            return err;
        if (!(ref = coop_graph_co_keep_(repo->id, r.version, r.file, co)))
            return COOP_ERR_NOMEM;
    }
    const char *file;
    struct coop_codeowners *co = coop_graph_co_parsed_(ref, &file);
    struct coop_codeowners_match m[16];
    size_t n = coop_codeowners_match(co, path, m, 16);
    json_object_object_add(out, "codeowners", n ? match_json(file, &m[0]) : NULL);
    if (n > 1 || (n == 1 && m[0].section)) {
        struct json_object *all = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(all, match_json(file, &m[i]));
        json_object_object_add(out, "codeowners_sections", all);
    }
    coop_graph_co_put_(ref);
    return COOP_ERR_OK;
}

/* The owners answer for path, in the transaction c, once the repository
 * and its CODEOWNERS row are known. */
static coop_err owners_json(struct coop_conn *c, const struct repo_row *repo,
                            const struct co_row *co, const struct coop_graph_query *q,
                            const char *path, int64_t now, struct json_object **out,
                            const char **what)
{
    int64_t file = 0;
    bool dir = false;
    coop_err err = file_of(c, repo->id, path, &file);
    if (!err && !file)
        err = is_dir(c, repo->id, path, &dir);
    if (err)
        return err;
    if (!file && !dir) {
        *what = "path";
        return COOP_ERR_NOT_FOUND;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "type", json_object_new_string(file ? "file" : "directory"));
    err = codeowners_for(c, repo, q->repo, co, path, o);
    if (!err)
        err = file ? file_owners(c, file, now, o) : dir_owners(c, repo, path, now, o);
    if (err)
        json_object_put(o);
    else
        *out = o;
    return err;
}

coop_err coop_graph_owners(struct coop_store *s, const struct coop_graph_query *q,
                           struct json_object **out, const char **what)
{
    char path[MAX_PATH_LEN];
    *out = NULL;
    *what = "path";
    if (!q->path || normalize(q->path, path, sizeof path))
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    struct repo_row repo;
    struct co_row co;
    if (!(err = find_repo(c, q->repo, &repo, what)) && !(err = co_find(c, &repo, &co)))
        err = owners_json(c, &repo, &co, q, path, query_now(q), out, what);
    coop_graph_read_end_(s, c);
    return err;
}

coop_err coop_graph_owners_text(struct coop_store *s, const struct coop_graph_query *q,
                                struct coop_buf *out, const char **what)
{
    char path[MAX_PATH_LEN];
    *what = "path";
    if (!q->path || normalize(q->path, path, sizeof path))
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    struct repo_row repo;
    struct co_row co;
    if ((err = find_repo(c, q->repo, &repo, what)) || (err = co_find(c, &repo, &co)))
        goto done;
    /* The answer changes with the repository's version (commits, people),
     * the CODEOWNERS version in force, and the time (recent contributors
     * are those of the last 90 days): on the clock, the time is taken to
     * the second, so one answer serves a second's questions. */
    int64_t now = query_now(q);
    if (!q->now_ms)
        now -= now % 1000;
    char key[MAX_PATH_LEN + 96];
    int key_len = snprintf(key, sizeof key, "owners %lld %lld %s", (long long)(co.found ? co.version : -1),
                           (long long)now, path);
    uint64_t store = coop_store_serial(s);
    coop_buf_reset(out);
    if (coop_graph_answer_get_(store, repo.id, repo.version, key, (size_t)key_len, out))
        goto done;
    coop_buf_reset(out);
    struct json_object *o = NULL;
    if ((err = owners_json(c, &repo, &co, q, path, now, &o, what)))
        goto done;
    size_t len;
    const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    if (!(err = coop_buf_append(out, text, len)))
        coop_graph_answer_keep_(store, repo.id, repo.version, key, (size_t)key_len, text, len);
    json_object_put(o);
done:
    coop_graph_read_end_(s, c);
    return err;
}

/* ---- history ---------------------------------------------------------------- */

struct history_ctx {
    struct coop_buf *out;
    int64_t last_id;
    int64_t rows, limit;
    coop_err err;
};

static void put_str(struct history_ctx *h, const char *key, const char *v, size_t n)
{
    if (!h->err)
        h->err = coop_buf_puts(h->out, key);
    if (!h->err)
        h->err = coop_buf_json_str(h->out, v ? v : "", v ? n : 0);
}

static coop_err history_cb(void *ctx, const struct coop_row *row)
{
    struct history_ctx *h = ctx;
    if (++h->rows > h->limit)
        return COOP_ERR_OK; /* the extra row only says there is more */
    h->last_id = coop_row_int(row, 0);
    size_t n;
    const char *v;
    if (h->rows > 1 && (h->err = coop_buf_append(h->out, ",", 1)))
        return h->err;
    v = coop_row_text(row, 1, &n);
    put_str(h, "{\"sha\":", v, n);
    v = coop_row_text(row, 2, &n);
    put_str(h, ",\"author\":", v, n);
    char t[32];
    size_t tn = coop_graph_format_time_(coop_row_int(row, 3), t);
    put_str(h, ",\"time\":", t, tn);
    v = coop_row_text(row, 4, &n);
    put_str(h, ",\"message\":", v, n);
    v = coop_row_text(row, 5, &n);
    put_str(h, ",\"change\":", v, n);
    v = coop_row_text(row, 6, &n);
    put_str(h, ",\"path\":", v, n);
    v = coop_row_text(row, 7, &n);
    if (v)
        put_str(h, ",\"old_path\":", v, n);
    if (!h->err)
        h->err = coop_buf_append(h->out, "}", 1);
    return h->err;
}

static coop_err parse_limit(int64_t limit, int64_t dflt, int64_t max, int64_t *out)
{
    if (limit == 0)
        limit = dflt;
    if (limit < 1 || limit > max)
        return COOP_ERR_INVALID;
    *out = limit;
    return COOP_ERR_OK;
}

coop_err coop_graph_history_text(struct coop_store *s, const struct coop_graph_query *q,
                                 struct coop_buf *out, const char **what)
{
    char path[MAX_PATH_LEN];
    int64_t limit, cursor = INT64_MAX;
    *what = "limit";
    if (parse_limit(q->limit, 20, 500, &limit))
        return COOP_ERR_INVALID;
    *what = "cursor";
    if (q->cursor && *q->cursor && (coop_parse_i64(q->cursor, &cursor) || cursor < 1))
        return COOP_ERR_INVALID;
    *what = "path";
    if (!q->path || !*q->path || normalize(q->path, path, sizeof path) || !*path)
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    struct repo_row repo;
    int64_t file = 0;
    struct history_ctx h = {.out = out, .limit = limit};
    char key[MAX_PATH_LEN + 64];
    int key_len = 0;
    uint64_t store = coop_store_serial(s);
    if ((err = find_repo(c, q->repo, &repo, what)))
        goto done;
    /* A page of history changes only with the repository's version (new
     * commits, people merged or renamed), read above in this transaction. */
    key_len = snprintf(key, sizeof key, "history %lld %lld %s", (long long)limit,
                       (long long)cursor, path);
    coop_buf_reset(out);
    if (coop_graph_answer_get_(store, repo.id, repo.version, key, (size_t)key_len, out))
        goto done;
    coop_buf_reset(out);
    if ((err = file_of(c, repo.id, path, &file)))
        goto done;
    if (!file) {
        *what = "path";
        err = COOP_ERR_NOT_FOUND;
        goto done;
    }
    coop_buf_reset(out);
    if ((err = coop_buf_puts(out, "{\"path\":")) ||
        (err = coop_buf_json_str(out, path, strlen(path))) ||
        (err = coop_buf_puts(out, ",\"commits\":[")))
        goto done;
    err = coop_conn_query(c,
                          "SELECT c.id, c.sha, p.name, c.time, c.message, ch.status, ch.path,"
                          " ch.old_path FROM graph_changes ch"
                          " JOIN graph_commits c ON c.id = ch.commit_id"
                          " LEFT JOIN graph_people p ON p.id = c.author"
                          " WHERE ch.file = ? AND ch.commit_id < ?"
                          " ORDER BY ch.commit_id DESC LIMIT ?",
                          COOP_PARAMS(COOP_PI(file), COOP_PI(cursor), COOP_PI(limit + 1)),
                          history_cb, &h);
    if (!err)
        err = h.err;
    if (!err && h.rows > limit)
        err = coop_buf_printf(out, "],\"next_cursor\":\"%lld\"}", (long long)h.last_id);
    else if (!err)
        err = coop_buf_puts(out, "],\"next_cursor\":null}");
    if (!err)
        coop_graph_answer_keep_(store, repo.id, repo.version, key, (size_t)key_len, out->data,
                                out->len);
done:
    coop_graph_read_end_(s, c);
    return err;
}

coop_err coop_graph_history(struct coop_store *s, const struct coop_graph_query *q,
                            struct json_object **out, const char **what)
{
    struct coop_buf b;
    *out = NULL;
    coop_buf_init(&b, COOP_GRAPH_TEXT_MAX);
    coop_err err = coop_graph_history_text(s, q, &b, what);
    if (!err && (err = coop_json_parse(b.data, b.len, 16, false, out)))
        err = COOP_ERR_INTERNAL;
    coop_buf_dispose(&b);
    return err;
}

/* ---- coupling ------------------------------------------------------------ */

struct coupling_ctx {
    struct json_object *files;
    int64_t own_revs;
};

static coop_err coupling_cb(void *ctx, const struct coop_row *row)
{
    struct coupling_ctx *cc = ctx;
    const char *path = coop_row_text(row, 0, NULL);
    int64_t shared = coop_row_int(row, 1), revs = coop_row_int(row, 2);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path ? path : ""));
    json_object_object_add(o, "shared", json_object_new_int64(shared));
    json_object_object_add(o, "degree", json_object_new_int64((int64_t)coop_graph_coupling_degree(shared, cc->own_revs, revs)));
    json_object_object_add(o, "revisions", json_object_new_int64(revs));
    json_object_array_add(cc->files, o);
    return COOP_ERR_OK;
}

coop_err coop_graph_coupling(struct coop_store *s, const struct coop_graph_query *q,
                             struct json_object **out, const char **what)
{
    char path[MAX_PATH_LEN];
    int64_t limit;
    *out = NULL;
    *what = "limit";
    if (parse_limit(q->limit, 20, 500, &limit))
        return COOP_ERR_INVALID;
    *what = "path";
    if (!q->path || normalize(q->path, path, sizeof path) || !*path)
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    struct repo_row repo;
    int64_t file = 0;
    struct coupling_ctx cc = {0};
    if ((err = find_repo(c, q->repo, &repo, what)) || (err = file_of(c, repo.id, path, &file)))
        goto done;
    if (!file) {
        *what = "path";
        err = COOP_ERR_NOT_FOUND;
        goto done;
    }
    err = coop_conn_query_int(c, "SELECT coupling_revisions FROM graph_files WHERE id = ?",
                              COOP_PARAMS(COOP_PI(file)), &cc.own_revs);
    if (err)
        goto done;
    cc.files = json_object_new_array();
    err = coop_conn_query(c,
                          "SELECT f.path, cp.shared, f.coupling_revisions FROM graph_coupling cp"
                          " JOIN graph_files f ON f.id = cp.b WHERE cp.a = ? AND f.deleted = 0"
                          " ORDER BY cp.shared * 1.0 / (? + f.coupling_revisions) DESC,"
                          " cp.shared DESC, f.path LIMIT ?",
                          COOP_PARAMS(COOP_PI(file), COOP_PI(cc.own_revs), COOP_PI(limit)),
                          coupling_cb, &cc);
done:
    coop_graph_read_end_(s, c);
    if (err) {
        json_object_put(cc.files);
        return err;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "revisions", json_object_new_int64(cc.own_revs));
    json_object_object_add(o, "files", cc.files);
    *out = o;
    return COOP_ERR_OK;
}

/* ---- truck factor ----------------------------------------------------------- */

coop_err coop_graph_truck_factor_query(struct coop_store *s, const struct coop_graph_query *q,
                                       struct json_object **out, const char **what)
{
    char path[MAX_PATH_LEN];
    *out = NULL;
    *what = "path";
    if (normalize(q->path, path, sizeof path))
        return COOP_ERR_INVALID;
    struct coop_conn *c;
    coop_err err = coop_graph_read_begin_(s, &c);
    if (err)
        return err;
    struct repo_row repo;
    struct coop_graph_scan_ *scan = NULL;
    struct json_object *o = NULL;
    bool dir = true;
    if ((err = find_repo(c, q->repo, &repo, what)))
        goto done;
    if (*path && (err = is_dir(c, repo.id, path, &dir)))
        goto done;
    if (!dir) {
        int64_t file;
        if ((err = file_of(c, repo.id, path, &file)))
            goto done;
        if (!file) {
            *what = "path";
            err = COOP_ERR_NOT_FOUND;
            goto done;
        }
    }
    /* A file is a directory of one: scan with its own path as prefix. */
    if ((err = scan_dir(c, &repo, path, !dir, &scan)))
        goto done;
    o = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "truck_factor", json_object_new_int64((int64_t)scan->truck_factor));
    struct json_object *authors = json_object_new_array();
    json_object_object_add(o, "authors", authors);
    json_object_object_add(o, "files", json_object_new_int64(scan->files));
    char name[128];
    for (size_t i = 0; !err && i < scan->truck_factor; i++) {
        if ((err = person_name(c, scan->removed[i], name, sizeof name)))
            break;
        struct json_object *a = json_object_new_object();
        json_object_object_add(a, "person", json_object_new_string(name));
        json_object_object_add(a, "person_id", json_object_new_int64(scan->removed[i]));
        const struct coop_graph_scan_person_ *p = NULL;
        for (size_t k = 0; k < scan->n_people && !p; k++)
            if (scan->people[k].person == scan->removed[i])
                p = &scan->people[k];
        json_object_object_add(a, "files", json_object_new_int64(p ? p->files : 0));
        json_object_array_add(authors, a);
    }
done:
    coop_graph_scan_put_(scan);
    coop_graph_read_end_(s, c);
    if (err)
        json_object_put(o);
    else
        *out = o;
    return err;
}

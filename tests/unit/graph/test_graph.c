/* The graph on small hand-built histories: degree of authorship, truck
 * factor, change coupling, renames, paging, recent contributors and
 * idempotency, with the expected answers worked out by hand beside each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_both.h" /* SQLite, then PostgreSQL (COOP_TEST_PG) */

#include "coop/graph.h"
#include "graph/graph_int.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DAY (24LL * 3600 * 1000)
#define T0 (1700000000000LL)

struct apply_args {
    const char *repo;
    struct coop_graph_commit cm;
    bool applied;
};

static coop_err apply_tx(struct coop_conn *c, void *ctx)
{
    struct apply_args *a = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(c, a->repo, &id);
    return err ? err : coop_graph_commit_apply(c, id, &a->cm, &a->applied);
}

/* "A:x.c M:y.c R:old>new" */
static bool commit(const char *repo, const char *sha, const char *who, int64_t t, const char *spec)
{
    struct coop_graph_change ch[64];
    char buf[4096], *save = NULL;
    size_t n = 0;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        ch[n].status = tok[0];
        ch[n].old_path = NULL;
        ch[n].path = tok + 2;
        char *gt = strchr(tok, '>');
        if (gt) {
            *gt = '\0';
            ch[n].old_path = tok + 2;
            ch[n].path = gt + 1;
        }
        n++;
    }
    char email[64];
    snprintf(email, sizeof email, "%s@example.com", who);
    struct apply_args a = {repo, {.sha = sha, .author_name = who, .author_email = email,
                                  .time_ms = t, .message = sha, .changes = ch, .n_changes = n}, false};
    assert_int_equal(coop_store_tx(store, true, apply_tx, &a), COOP_ERR_OK);
    return a.applied;
}

static struct json_object *get(struct json_object *o, const char *path)
{
    /* "authors.0.person" */
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)strtol(k, NULL, 10));
        else if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    }
    return o;
}

static const char *gets_(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    return v ? json_object_get_string(v) : "(absent)";
}

static int64_t geti(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    return v ? json_object_get_int64(v) : -999;
}

static size_t glen(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    return v ? json_object_array_length(v) : 999;
}

typedef coop_err (*qfn)(struct coop_store *, const struct coop_graph_query *, struct json_object **,
                        const char **);

static struct json_object *ask(qfn fn, const char *repo, const char *path, int64_t now)
{
    struct coop_graph_query q = {.repo = repo, .path = path, .now_ms = now};
    struct json_object *o = NULL;
    const char *what;
    coop_err err = fn(store, &q, &o, &what);
    if (err)
        fail_msg("query %s %s: %s (%s)", repo, path ? path : "", coop_err_name(err), what);
    return o;
}

/*
 * DOA by hand (DOA = 3.293 + 1.098 FA + 0.164 DL - 0.321 ln(1 + AC)):
 *   c1 alice A a.c; c2 alice M a.c; c3 bob M a.c + A b.c;
 *   c4..c7 carol M b.c; c8 carol A c.c; c9 dave A d.c
 * a.c: alice FA=1 DL=2 AC=1 -> 3.293+1.098+0.328-0.321*0.6931 = 4.4955
 *      bob   FA=0 DL=1 AC=2 -> 3.293+0.164-0.321*1.0986      = 3.1044
 *      bob: 3.1044/4.4955 = 0.69 <= 0.75 (and < 3.293): only alice authors a.c
 * b.c: bob   FA=1 DL=1 AC=4 -> 3.293+1.098+0.164-0.321*1.6094 = 4.0384
 *      carol FA=0 DL=4 AC=1 -> 3.293+0.656-0.2225             = 3.7265
 *      carol: 3.7265/4.0384 = 0.923 > 0.75 and >= 3.293: both author b.c
 * Truck factor over a{alice} b{bob,carol} c{carol} d{dave}, 4 files:
 *   carol authors 2 -> removed, orphans {c} = 1 (not > 2)
 *   then ties of 1 go by person id (alice 1, bob 2, dave 4): alice -> orphans
 *   {a,c} = 2, still not more than half; bob -> {a,b,c} = 3 > 2: TF = 3.
 */
static void build_doa_repo(void)
{
    const char *r = "test/doa";
    commit(r, "c1", "alice", T0 + 1 * DAY, "A:src/a.c");
    commit(r, "c2", "alice", T0 + 2 * DAY, "M:src/a.c");
    commit(r, "c3", "bob", T0 + 3 * DAY, "M:src/a.c A:src/b.c");
    for (int i = 4; i <= 7; i++) {
        char sha[16];
        snprintf(sha, sizeof sha, "c%d", i % 100);
        commit(r, sha, "carol", T0 + i * DAY, "M:src/b.c");
    }
    commit(r, "c8", "carol", T0 + 8 * DAY, "A:lib/c.c");
    commit(r, "c9", "dave", T0 + 200 * DAY, "A:lib/d.c");
}

static void test_doa_formula(void **state)
{
    assert_true(fabs(coop_graph_doa(true, 2, 1) - 4.4955) < 0.001);
    assert_true(fabs(coop_graph_doa(false, 1, 2) - 3.1044) < 0.001);
    assert_true(fabs(coop_graph_doa(true, 1, 4) - 4.0384) < 0.001);
    assert_true(fabs(coop_graph_doa(false, 4, 1) - 3.7265) < 0.001);
    assert_false(coop_graph_is_author(3.1044, 4.4955));
    assert_true(coop_graph_is_author(3.7265, 4.0384));
    assert_false(coop_graph_is_author(3.2, 3.2)); /* below the 3.293 floor */
    /* 2 shared commits, 3 revisions each: 2 / 3 * 100 */
    assert_true(fabs(coop_graph_coupling_degree(2, 3, 3) - 66.667) < 0.01);
}

static void test_authors(void **state)
{
    build_doa_repo();
    struct json_object *o = ask(coop_graph_owners, "test/doa", "src/a.c", T0 + 10 * DAY);
    assert_int_equal(glen(o, "authors"), 1);
    assert_string_equal(gets_(o, "authors.0.person"), "alice");
    assert_int_equal(geti(o, "authors.0.commits"), 2);
    assert_true(fabs(json_object_get_double(get(o, "authors.0.doa")) - 4.496) < 0.001);
    assert_string_equal(gets_(o, "type"), "file");
    /* both changed it within 90 days of day 10; bob most recently */
    assert_int_equal(glen(o, "recent_contributors"), 2);
    assert_string_equal(gets_(o, "recent_contributors.0.person"), "bob");
    json_object_put(o);

    o = ask(coop_graph_owners, "test/doa", "src/b.c", T0 + 10 * DAY);
    assert_int_equal(glen(o, "authors"), 2);
    assert_string_equal(gets_(o, "authors.0.person"), "bob");
    assert_string_equal(gets_(o, "authors.1.person"), "carol");
    json_object_put(o);

    /* 100 days after day 8, only dave (day 200) is recent in lib/ */
    o = ask(coop_graph_owners, "test/doa", "lib", T0 + 201 * DAY);
    assert_string_equal(gets_(o, "type"), "directory");
    assert_int_equal(glen(o, "recent_contributors"), 1);
    assert_string_equal(gets_(o, "recent_contributors.0.person"), "dave");
    assert_int_equal(glen(o, "authors"), 2); /* carol (c.c) and dave (d.c) */
    json_object_put(o);
}

static void test_truck_factor(void **state)
{
    struct json_object *o = ask(coop_graph_truck_factor_query, "test/doa", NULL, 0);
    assert_int_equal(geti(o, "files"), 4);
    assert_int_equal(geti(o, "truck_factor"), 3);
    assert_string_equal(gets_(o, "authors.0.person"), "carol");
    assert_string_equal(gets_(o, "authors.1.person"), "alice");
    assert_string_equal(gets_(o, "authors.2.person"), "bob");
    json_object_put(o);
    /* src/ alone: a{alice} b{bob,carol}; bob, carol and alice author one
     * file each: alice (id 1) -> orphans {a} = 1, not > 1; bob (id 2) ->
     * b still has carol; carol -> {a,b} = 2 > 1: TF = 3 */
    o = ask(coop_graph_truck_factor_query, "test/doa", "src", 0);
    assert_int_equal(geti(o, "files"), 2);
    assert_int_equal(geti(o, "truck_factor"), 3);
    json_object_put(o);
    /* the pure function: 3 files {1} {1,2} {3}: remove 1 -> orphans {0} = 1,
     * not > 1.5; then 2 (smaller than 3) -> {0,1} = 2 > 1.5: TF 2 */
    const int64_t pairs[][2] = {{0, 1}, {1, 1}, {1, 2}, {2, 3}};
    int64_t removed[4];
    assert_int_equal(coop_graph_truck_factor(3, pairs, 4, removed, 4), 2);
    assert_int_equal(removed[0], 1);
    assert_int_equal(removed[1], 2);
    assert_int_equal(coop_graph_truck_factor(0, pairs, 0, removed, 4), 0);
}

/*
 * Coupling by hand (commits of more than 30 files are left out):
 *   k1 A x, A y; k2 M x, M y; k3 M x, A z; k4 M y;
 *   k5 M x, M y + 29 new files (31 files: skipped for coupling)
 * revisions counted for coupling: x 3 (k1,k2,k3), y 3 (k1,k2,k4), z 1
 * x-y: shared 2 -> 2 / ((3+3)/2) * 100 = 66 (code-maat truncates)
 * x-z: shared 1 -> 1 / ((3+1)/2) * 100 = 50
 */
static void test_coupling(void **state)
{
    const char *r = "test/coupling";
    commit(r, "k1", "alice", T0 + 1, "A:x A:y");
    commit(r, "k2", "alice", T0 + 2, "M:x M:y");
    commit(r, "k3", "bob", T0 + 3, "M:x A:z");
    commit(r, "k4", "bob", T0 + 4, "M:y");
    struct coop_buf big;
    coop_buf_init(&big, 2048);
    coop_buf_puts(&big, "M:x M:y");
    for (int i = 1; i <= 29; i++)
        coop_buf_printf(&big, " A:f%d", i);
    commit(r, "k5", "carol", T0 + 5, big.data);
    coop_buf_dispose(&big);

    struct json_object *o = ask(coop_graph_coupling, r, "x", 0);
    assert_int_equal(geti(o, "revisions"), 3);
    assert_int_equal(glen(o, "files"), 2);
    assert_string_equal(gets_(o, "files.0.path"), "y");
    assert_int_equal(geti(o, "files.0.shared"), 2);
    assert_int_equal(geti(o, "files.0.degree"), 66);
    assert_string_equal(gets_(o, "files.1.path"), "z");
    assert_int_equal(geti(o, "files.1.degree"), 50);
    json_object_put(o);
    o = ask(coop_graph_coupling, r, "f1", 0);
    assert_int_equal(glen(o, "files"), 0);
    json_object_put(o);
}

/*
 * Renames: r1 alice A old.c; r2 bob M old.c; r3 alice R old.c>new.c;
 * r4 carol M new.c. new.c's history is all four, newest first; its
 * creator is still alice: FA=1 DL=2 AC=2 -> 4.366; bob and carol DL=1
 * AC=3 -> 3.012 (0.69 of 4.366): alice is the only author.
 */
static void test_rename_history_paging(void **state)
{
    const char *r = "test/rename";
    commit(r, "r1", "alice", T0 + 1, "A:old.c");
    commit(r, "r2", "bob", T0 + 2, "M:old.c");
    commit(r, "r3", "alice", T0 + 3, "R:old.c>new.c");
    commit(r, "r4", "carol", T0 + 4, "M:new.c");
    struct coop_graph_query q = {.repo = r, .path = "new.c", .limit = 2};
    struct json_object *o;
    const char *what;
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_OK);
    assert_int_equal(glen(o, "commits"), 2);
    assert_string_equal(gets_(o, "commits.0.sha"), "r4");
    assert_string_equal(gets_(o, "commits.1.sha"), "r3");
    assert_string_equal(gets_(o, "commits.1.change"), "R");
    assert_string_equal(gets_(o, "commits.1.old_path"), "old.c");
    char cursor[32];
    snprintf(cursor, sizeof cursor, "%s", gets_(o, "next_cursor"));
    json_object_put(o);
    q.cursor = cursor;
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_OK);
    assert_int_equal(glen(o, "commits"), 2);
    assert_string_equal(gets_(o, "commits.0.sha"), "r2");
    assert_string_equal(gets_(o, "commits.1.sha"), "r1");
    assert_string_equal(gets_(o, "commits.1.path"), "old.c");
    assert_null(get(o, "next_cursor"));
    json_object_put(o);

    o = ask(coop_graph_owners, r, "new.c", T0);
    assert_int_equal(glen(o, "authors"), 1);
    assert_string_equal(gets_(o, "authors.0.person"), "alice");
    assert_true(get(o, "authors.0.first_author") && json_object_get_boolean(get(o, "authors.0.first_author")));
    json_object_put(o);

    /* The old path is gone; unknown repo and bad arguments say which. */
    q = (struct coop_graph_query){.repo = r, .path = "old.c"};
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_NOT_FOUND);
    assert_string_equal(what, "path");
    q.repo = "nope/nope";
    assert_int_equal(coop_graph_owners(store, &q, &o, &what), COOP_ERR_NOT_FOUND);
    assert_string_equal(what, "repo");
    q = (struct coop_graph_query){.repo = r, .path = "new.c", .cursor = "x"};
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_INVALID);
    q = (struct coop_graph_query){.repo = r, .path = "new.c", .limit = 100000};
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_INVALID);
}

/* A rename onto a path another file lived at: that file lives nowhere now,
 * so the repository has one living file, whose history is a's. */
static void test_rename_over_a_file(void **state)
{
    const char *r = "test/over";
    commit(r, "o1", "alice", T0 + 1, "A:a.c A:b.c");
    commit(r, "o2", "bob", T0 + 2, "R:a.c>b.c");
    struct json_object *o = ask(coop_graph_truck_factor_query, r, NULL, 0);
    assert_int_equal(geti(o, "files"), 1);
    json_object_put(o);
    o = ask(coop_graph_history, r, "b.c", 0);
    assert_int_equal(glen(o, "commits"), 2);
    assert_string_equal(gets_(o, "commits.1.path"), "a.c");
    json_object_put(o);
}

static void test_idempotent(void **state)
{
    const char *r = "test/rename";
    struct json_object *before = ask(coop_graph_owners, r, "new.c", T0);
    assert_false(commit(r, "r2", "bob", T0 + 2, "M:old.c"));
    assert_false(commit(r, "r4", "carol", T0 + 4, "M:new.c"));
    struct json_object *after = ask(coop_graph_owners, r, "new.c", T0);
    assert_string_equal(json_object_to_json_string(before), json_object_to_json_string(after));
    json_object_put(before);
    json_object_put(after);
    struct json_object *repos;
    assert_int_equal(coop_graph_repos(store, &repos), COOP_ERR_OK);
    assert_int_equal(glen(repos, "repos"), 4);
    assert_string_equal(gets_(repos, "repos.1.id"), "test/doa");
    assert_int_equal(geti(repos, "repos.1.commits"), 9);
    json_object_put(repos);
}

static coop_err resolve_tx(struct coop_conn *c, void *ctx)
{
    int64_t *ids = ctx;
    coop_err err = coop_graph_person_resolve(c, "github.com", "Eve", "eve@a.example", NULL, &ids[0]);
    if (!err)
        err = coop_graph_person_resolve(c, "github.com", "eve", NULL, "eve-gh", &ids[1]);
    /* one commit shows that email and login are the same person */
    if (!err)
        err = coop_graph_person_resolve(c, "github.com", "Eve", "EVE@a.example", "eve-gh", &ids[2]);
    if (!err)
        err = coop_graph_person_resolve(c, "github.com", NULL, NULL, "eve-gh", &ids[3]);
    return err;
}

/* The graph's stdio-free time formatting agrees with the clock's. */
static void test_time_format(void **state)
{
    const int64_t samples[] = {1, 999, 1000, 86399999, 951782400000LL /* 2000-02-29 */,
                               1709164800123LL /* 2024-02-29 */, 4102444799999LL,
                               1700000000000LL, 253402300799999LL /* 9999-12-31 */};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char a[32], b[32];
        coop_clock_format(samples[i], a);
        size_t n = coop_graph_format_time_(samples[i], b);
        assert_int_equal(n, strlen(b));
        assert_string_equal(a, b);
    }
    for (int64_t ms = 0; ms < 4102444800000LL; ms += 86400000LL * 37 + 12345) {
        char a[32], b[32];
        coop_clock_format(ms, a);
        coop_graph_format_time_(ms, b);
        assert_string_equal(a, b);
    }
}

static void test_identities_merge(void **state)
{
    int64_t ids[4];
    assert_int_equal(coop_store_tx(store, true, resolve_tx, ids), COOP_ERR_OK);
    assert_true(ids[0] != ids[1]);
    assert_int_equal(ids[2], ids[0]);
    assert_int_equal(ids[3], ids[0]);
}

/* ---- applied out of order (several workers or instances) ------------------ */

/* The add of x.c applied after a modification of it still makes alice its
 * creator (FA = 1): DOA 3.293+1.098+0.164-0.321*ln 2 = 4.332 for her, while
 * bob (3.234) is below the threshold. */
static void test_out_of_order_add_sets_creator(void **state)
{
    const char *r = "test/unordered";
    commit(r, "u2", "bob", T0 + 2, "M:x.c");
    commit(r, "u1", "alice", T0 + 1, "A:x.c");
    struct json_object *o = ask(coop_graph_owners, r, "x.c", 0);
    assert_int_equal(glen(o, "authors"), 1);
    assert_string_equal(gets_(o, "authors.0.person"), "alice");
    assert_true(json_object_get_boolean(get(o, "authors.0.first_author")));
    json_object_put(o);
}

struct person_args {
    int64_t id[2];
    char name[64];
};

static coop_err name_cb(void *ctx, const struct coop_row *row)
{
    struct person_args *a = ctx;
    snprintf(a->name, sizeof a->name, "%s", coop_row_text(row, 0, NULL));
    return COOP_ERR_OK;
}

static coop_err login_first_tx(struct coop_conn *c, void *ctx)
{
    struct person_args *a = ctx;
    coop_err err = coop_graph_person_resolve(c, "github.com", NULL, NULL, "frank", &a->id[0]);
    if (!err)
        err = coop_graph_person_resolve(c, "github.com", "Frank Moe", "frank@example.com", "frank",
                                        &a->id[1]);
    if (!err)
        err = coop_conn_query(c, "SELECT name FROM graph_people WHERE id = ?",
                              COOP_PARAMS(COOP_PI(a->id[1])), name_cb, a);
    return err;
}

/* Known first by a login (a pull request's author), then by a commit: the
 * person takes the commit's name, as in the other order. */
static void test_login_first_person_gets_real_name(void **state)
{
    struct person_args a = {{0, 0}, ""};
    assert_int_equal(coop_store_tx(store, true, login_first_tx, &a), COOP_ERR_OK);
    assert_int_equal(a.id[0], a.id[1]);
    assert_string_equal(a.name, "Frank Moe");
}

/* ---- kept answers ------------------------------------------------------------ */

static const char *history_author(const char *repo, const char *path, size_t i)
{
    static char name[64];
    struct json_object *o = ask(coop_graph_history, repo, path, 0);
    char key[32];
    snprintf(key, sizeof key, "commits.%zu.author", i);
    snprintf(name, sizeof name, "%s|%zu", gets_(o, key), glen(o, "commits"));
    json_object_put(o);
    return name;
}

static coop_err merge_tx(struct coop_conn *c, void *ctx)
{
    int64_t keep, drop;
    coop_err err =
        coop_graph_person_resolve(c, "github.com", "grace", "grace@example.com", NULL, &keep);
    if (!err)
        err = coop_graph_person_resolve(c, "github.com", "heidi", "heidi@example.com", NULL,
                                        &drop);
    return err ? err : coop_graph_person_merge(c, keep, drop);
}

/* A page of history asked twice is answered from memory, and stops being
 * so as soon as a commit arrives or an author becomes someone else. */
static void test_history_answer_follows_changes(void **state)
{
    const char *r = "test/kept";
    commit(r, "k1", "grace", T0 + 1, "A:k.c");
    assert_string_equal(history_author(r, "k.c", 0), "grace|1");
    assert_string_equal(history_author(r, "k.c", 0), "grace|1");
    commit(r, "k2", "heidi", T0 + 2, "M:k.c");
    assert_string_equal(history_author(r, "k.c", 0), "heidi|2");
    assert_int_equal(coop_store_tx(store, true, merge_tx, NULL), COOP_ERR_OK);
    assert_string_equal(history_author(r, "k.c", 0), "grace|2");
}

/* Two stores holding the same repository id at the same version do not
 * share answers. */
static void test_history_answer_per_store(void **state)
{
    struct coop_store *kept = store, *other[2];
    const char *who[2] = {"ivan", "judy"};
    char want[2][64];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(coop_store_open("memory", 1, &other[i]), COOP_ERR_OK);
        assert_int_equal(coop_store_migrate(other[i], NULL), COOP_ERR_OK);
        store = other[i];
        commit("test/same", "s1", who[i], T0, "A:s.c");
        snprintf(want[i], sizeof want[i], "%s|1", who[i]);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2; i++) {
            store = other[i];
            assert_string_equal(history_author("test/same", "s.c", 0), want[i]);
        }
    }
    store = kept;
    coop_store_close(other[0]);
    coop_store_close(other[1]);
}

struct co_args {
    const char *text;
};

static coop_err co_set_tx(struct coop_conn *c, void *ctx)
{
    const struct co_args *a = ctx;
    return coop_graph_codeowners_set(c, "test/kept-owners", "main", "CODEOWNERS", a->text);
}

/* What another instance writes when it removes the CODEOWNERS file: only
 * the store changes, not this process's kept answers and parsed copies. */
static coop_err co_remove_elsewhere_tx(struct coop_conn *c, void *ctx)
{
    (void)ctx;
    coop_err err = coop_conn_exec(c,
                                  "DELETE FROM graph_codeowners WHERE repo ="
                                  " (SELECT id FROM graph_repos WHERE name = 'test/kept-owners')",
                                  COOP_NOPARAMS, NULL);
    if (!err)
        err = coop_conn_exec(c,
                             "UPDATE graph_repos SET version = version + 1"
                             " WHERE name = 'test/kept-owners'",
                             COOP_NOPARAMS, NULL);
    return err;
}

/* The owners answer as the endpoint serves it: recent contributors, first
 * author and CODEOWNERS owner, as "recent|person|owner". */
static const char *owners_summary(int64_t now)
{
    static char out[128];
    struct coop_graph_query q = {.repo = "test/kept-owners", .path = "o.c", .now_ms = now};
    struct coop_buf b;
    const char *what;
    coop_buf_init(&b, 1 << 20);
    assert_int_equal(coop_graph_owners_text(store, &q, &b, &what), COOP_ERR_OK);
    struct json_object *o = NULL;
    assert_int_equal(coop_json_parse(b.data, b.len, 16, false, &o), COOP_ERR_OK);
    struct json_object *tree = ask(coop_graph_owners, q.repo, q.path, now);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN));
    snprintf(out, sizeof out, "%zu|%s|%s", glen(o, "recent_contributors"),
             gets_(o, "authors.0.person"), gets_(o, "codeowners.owners.0"));
    json_object_put(tree);
    json_object_put(o);
    coop_buf_dispose(&b);
    return out;
}

/* The kept owners answer follows commits, CODEOWNERS (set, changed,
 * removed) and the time. */
static void test_owners_answer_follows_changes(void **state)
{
    commit("test/kept-owners", "o1", "kate", T0, "A:o.c");
    const int64_t now = T0 + DAY;
    assert_string_equal(owners_summary(now), "1|kate|(absent)");
    assert_string_equal(owners_summary(now), "1|kate|(absent)");
    commit("test/kept-owners", "o2", "leo", T0 + 1, "M:o.c");
    assert_string_equal(owners_summary(now), "2|kate|(absent)");
    /* 90 days after leo's change, kate's is out of the window */
    assert_string_equal(owners_summary(T0 + 90 * DAY + 1), "1|kate|(absent)");
    struct co_args a = {"* @team-a\n"};
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|@team-a");
    a.text = "* @team-b\n";
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|@team-b");
    a.text = NULL;
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|(absent)");
    a.text = "* @team-c\n";
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|@team-c");
    /* Removed by another instance, then a new text: the new text's version
     * is not the removed one's, so this instance's parsed copy of
     * "@team-c" is not taken for it. */
    assert_int_equal(coop_store_tx(store, true, co_remove_elsewhere_tx, NULL), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|(absent)");
    a.text = "* @team-d\n";
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|@team-d");
    /* The same text again changes nothing, the kept answer included. */
    assert_int_equal(coop_store_tx(store, true, co_set_tx, &a), COOP_ERR_OK);
    assert_string_equal(owners_summary(now), "2|kate|@team-d");
}

struct review_args {
    const char *first, *second;
    int64_t t_first, t_second;
    char state[32];
};

static coop_err state_cb(void *ctx, const struct coop_row *row)
{
    struct review_args *a = ctx;
    snprintf(a->state, sizeof a->state, "%s", coop_row_text(row, 0, NULL));
    return COOP_ERR_OK;
}

static coop_err review_tx(struct coop_conn *c, void *ctx)
{
    struct review_args *a = ctx;
    int64_t repo;
    coop_err err = coop_graph_repo_ensure(c, "test/reviews", &repo);
    if (!err)
        err = coop_conn_exec(c, "DELETE FROM graph_pull_reviewers WHERE repo = ?",
                             COOP_PARAMS(COOP_PI(repo)), NULL);
    if (!err)
        err = coop_graph_pull_reviewer(c, repo, 1, "bob", a->first, a->t_first);
    if (!err)
        err = coop_graph_pull_reviewer(c, repo, 1, "bob", a->second, a->t_second);
    if (!err)
        err = coop_conn_query(c, "SELECT state FROM graph_pull_reviewers WHERE repo = ?",
                              COOP_PARAMS(COOP_PI(repo)), state_cb, a);
    return err;
}

static const char *review_final(const char *first, int64_t t1, const char *second, int64_t t2)
{
    static struct review_args a;
    a = (struct review_args){first, second, t1, t2, ""};
    assert_int_equal(coop_store_tx(store, true, review_tx, &a), COOP_ERR_OK);
    return a.state;
}

/* A review replaces a request and a request never replaces a review,
 * whichever order the events are applied in; between reviews the newest
 * wins. */
static void test_reviewer_state_any_order(void **state)
{
    assert_string_equal(review_final("requested", 30, "approved", 20), "approved");
    assert_string_equal(review_final("approved", 20, "requested", 30), "approved");
    assert_string_equal(review_final("requested", 10, "approved", 20), "approved");
    assert_string_equal(review_final("approved", 20, "requested", 10), "approved");
    assert_string_equal(review_final("commented", 30, "approved", 20), "commented");
    assert_string_equal(review_final("approved", 20, "commented", 30), "commented");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doa_formula),
        cmocka_unit_test(test_authors),
        cmocka_unit_test(test_truck_factor),
        cmocka_unit_test(test_coupling),
        cmocka_unit_test(test_rename_history_paging),
        cmocka_unit_test(test_rename_over_a_file),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_identities_merge),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_out_of_order_add_sets_creator),
        cmocka_unit_test(test_login_first_person_gets_real_name),
        cmocka_unit_test(test_reviewer_state_any_order),
        cmocka_unit_test(test_history_answer_follows_changes),
        cmocka_unit_test(test_history_answer_per_store),
        cmocka_unit_test(test_owners_answer_follows_changes),
    };
    return run_on_both(tests, sizeof tests / sizeof *tests);
}

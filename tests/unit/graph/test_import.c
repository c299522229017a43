/* The git log stream: parsing (renames, copies, type changes, merges
 * without files, names with spaces and newlines, a malformed record),
 * batching, and that reading the same stream again changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/graph.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct coop_store *store;

static int setup(void **state)
{
    if (coop_store_open("memory", 1, &store) != COOP_ERR_OK)
        return -1;
    return coop_store_migrate(store, NULL) == COOP_ERR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    coop_store_close(store);
    return 0;
}

/* What `git log --reverse --name-status --find-renames -z` with
 * COOP_GRAPH_GIT_FORMAT prints, byte for byte. */
static const char stream[] =
    "\x01" "aaaa\0" "1700000000\0" "Alice\0" "alice@example.com\0" "first\0" "\0"
    "\nA\0" "README.md\0" "A\0" "src/a b.c\0"
    "\x01" "bbbb\0" "1700000100\0" "Bob\0" "bob@example.com\0" "rename\0" "\0"
    "\nR087\0" "src/a b.c\0" "src/ab.c\0" "M\0" "README.md\0"
    "\x01" "cccc\0" "1700000200\0" "Alice\0" "ALICE@example.com\0" "merge\0" "\0"
    "\x01" "dddd\0" "1700000300\0" "Carol\0" "carol@example.com\0" "\0" "\0"
    "\nC100\0" "src/ab.c\0" "src/copy.c\0" "T\0" "README.md\0" "A\0" "odd\nname.txt\0"
    "\x01" "eeee\0" "notatime\0" "X\0" "x@example.com\0" "bad\0" "\0"
    "\nA\0" "bad.txt\0"
    "\x01" "ffff\0" "1700000400\0" "Bob\0" "bob@example.com\0" "delete\0" "\0"
    "\nD\0" "src/copy.c\0";

static int stream_fd(void)
{
    char path[] = "/tmp/coop-import-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, stream, sizeof stream - 1), (ssize_t)(sizeof stream - 1));
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int calls;
static bool count_progress(const struct coop_graph_import_stats *st, void *ctx)
{
    calls++;
    return true;
}

static struct json_object *history(const char *path)
{
    struct coop_graph_query q = {.repo = "local/test", .path = path};
    struct json_object *o = NULL;
    const char *what;
    assert_int_equal(coop_graph_history(store, &q, &o, &what), COOP_ERR_OK);
    return o;
}

static const char *sha_at(struct json_object *o, size_t i)
{
    struct json_object *commits, *c, *sha;
    json_object_object_get_ex(o, "commits", &commits);
    c = json_object_array_get_idx(commits, i);
    if (!c || !json_object_object_get_ex(c, "sha", &sha))
        return "(none)";
    return json_object_get_string(sha);
}

static void test_parse_and_apply(void **state)
{
    int fd = stream_fd();
    struct coop_graph_import_stats st;
    assert_int_equal(coop_graph_import_fd(store, "local/test", fd, count_progress, NULL, &st),
                     COOP_ERR_OK);
    close(fd);
    assert_int_equal(st.commits_read, 5);
    assert_int_equal(st.commits_applied, 5);
    assert_int_equal(st.errors, 1); /* eeee: its time is not a number */
    assert_int_equal(st.changes, 2 + 2 + 0 + 3 + 1);
    assert_true(calls >= 1);

    char head[64];
    assert_int_equal(coop_graph_import_head(store, "local/test", head), COOP_ERR_OK);
    assert_string_equal(head, "ffff");

    /* src/ab.c is src/a b.c renamed: its history is both commits */
    struct json_object *o = history("src/ab.c");
    assert_string_equal(sha_at(o, 0), "bbbb"); /* dddd copied it: the source is unchanged */
    assert_string_equal(sha_at(o, 1), "aaaa");
    assert_string_equal(sha_at(o, 2), "(none)");
    json_object_put(o);
    o = history("README.md");
    assert_string_equal(sha_at(o, 0), "dddd"); /* T counts as a modification */
    assert_string_equal(sha_at(o, 1), "bbbb");
    assert_string_equal(sha_at(o, 2), "aaaa");
    assert_string_equal(sha_at(o, 3), "(none)");
    json_object_put(o);
    o = history("odd\nname.txt");
    assert_string_equal(sha_at(o, 0), "dddd");
    json_object_put(o);
    o = history("src/copy.c");
    assert_string_equal(sha_at(o, 0), "ffff");
    assert_string_equal(sha_at(o, 1), "dddd");
    json_object_put(o);

    /* Alice's two spellings of her email are one person. */
    struct coop_graph_query q = {.repo = "local/test"};
    const char *what;
    assert_int_equal(coop_graph_people(store, &q, &o, &what), COOP_ERR_OK);
    struct json_object *people;
    json_object_object_get_ex(o, "people", &people);
    assert_int_equal(json_object_array_length(people), 3);
    json_object_put(o);
}

static void test_again_changes_nothing(void **state)
{
    int fd = stream_fd();
    struct coop_graph_import_stats st;
    assert_int_equal(coop_graph_import_fd(store, "local/test", fd, NULL, NULL, &st), COOP_ERR_OK);
    close(fd);
    assert_int_equal(st.commits_read, 5);
    assert_int_equal(st.commits_applied, 0);
    struct json_object *repos, *arr, *commits;
    assert_int_equal(coop_graph_repos(store, &repos), COOP_ERR_OK);
    json_object_object_get_ex(repos, "repos", &arr);
    json_object_object_get_ex(json_object_array_get_idx(arr, 0), "commits", &commits);
    assert_int_equal(json_object_get_int64(commits), 5);
    json_object_put(repos);
}

static void test_garbage(void **state)
{
    static const char junk[] = "no header here\0\x01short\0";
    char path[] = "/tmp/coop-import-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    assert_int_equal(write(fd, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    lseek(fd, 0, SEEK_SET);
    struct coop_graph_import_stats st;
    assert_int_equal(coop_graph_import_fd(store, "local/junk", fd, NULL, NULL, &st), COOP_ERR_OK);
    close(fd);
    assert_int_equal(st.commits_applied, 0);
    assert_int_equal(st.errors, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_apply),
        cmocka_unit_test(test_again_changes_nothing),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

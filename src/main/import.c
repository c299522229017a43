/*
 * coopd import --repo ID (--git DIR | --stdin): backfills a repository's
 * history into the graph from a local checkout (running git log) or from a
 * git log stream on stdin, in the format docs/graph.md describes. Starting
 * again continues after the last imported commit when it is an ancestor of
 * HEAD, and re-reading known commits changes nothing. From a checkout it
 * also stores the CODEOWNERS file of the checked-out branch.
 */
#include "app.h"

#include "coop/graph.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CODEOWNERS_MAX (3u << 20)

/* Runs argv with stdout on a pipe; returns the read end, *pid the child. */
static int spawn_reader(char *const argv[], pid_t *pid, bool quiet)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    if (quiet)
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    return fds[0];
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs a git command and keeps the first line of its output. */
static bool git_line(const char *dir, const char *const *args, char *out, size_t size)
{
    char *argv[16] = {"git", "-C", (char *)dir};
    size_t n = 3;
    for (; *args && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    pid_t pid;
    int fd = spawn_reader(argv, &pid, true);
    if (fd < 0)
        return false;
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd, out + len, size - 1 - len)) > 0 && len + 1 < size)
        len += (size_t)r;
    close(fd);
    out[len] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return wait_child(pid) == 0;
}

static bool progress(const struct coop_graph_import_stats *st, void *ctx)
{
    const char *repo = ctx;
    double rate = st->seconds > 0 ? (double)st->commits_read / st->seconds : 0;
    fprintf(stderr, "\rcoopd import %s: %lld commits (%.0f commits/s)   ", repo,
            (long long)st->commits_read, rate);
    return true;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(CODEOWNERS_MAX + 1);
    size_t n = buf ? fread(buf, 1, CODEOWNERS_MAX, f) : 0;
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct co_args {
    const char *repo, *branch, *file, *text;
};

static coop_err co_tx(struct coop_conn *c, void *ctx)
{
    struct co_args *a = ctx;
    int64_t id;
    coop_err err = coop_graph_repo_ensure(c, a->repo, &id);
    if (!err)
        err = coop_graph_repo_set_default_branch(c, id, a->branch);
    if (!err && a->file)
        err = coop_graph_codeowners_set(c, a->repo, a->branch, a->file, a->text);
    return err;
}

/* Records the checkout's branch as the default and its CODEOWNERS. */
static void store_checkout_facts(struct coop_store *store, const char *repo, const char *dir)
{
    char branch[256];
    static const char *const head[] = {"symbolic-ref", "--short", "-q", "HEAD", NULL};
    if (!git_line(dir, head, branch, sizeof branch) || !branch[0])
        coop_strlcpy(branch, "main", sizeof branch);
    struct co_args a = {repo, branch, NULL, NULL};
    char *text = NULL;
    for (size_t i = 0; coop_codeowners_paths[i] && !text; i++) {
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, coop_codeowners_paths[i]);
        if ((text = read_file(path, &len)))
            a.file = coop_codeowners_paths[i];
    }
    a.text = text;
    coop_err err = coop_store_tx(store, true, co_tx, &a);
    if (err)
        fprintf(stderr, "coopd import: CODEOWNERS not stored: %s\n", coop_strerror(err));
    free(text);
}

static int import_git(struct coop_store *store, const char *repo, const char *dir, bool tty,
                      struct coop_graph_import_stats *st)
{
    char last[64], range[160] = "HEAD";
    if (coop_graph_import_head(store, repo, last) == COOP_ERR_OK && last[0]) {
        char sha[128];
        snprintf(sha, sizeof sha, "%s^{commit}", last);
        const char *const verify[] = {"rev-parse", "-q", "--verify", sha, NULL};
        const char *const anc[] = {"merge-base", "--is-ancestor", last, "HEAD", NULL};
        char ignored[128];
        if (git_line(dir, verify, ignored, sizeof ignored) &&
            git_line(dir, anc, ignored, sizeof ignored))
            snprintf(range, sizeof range, "%s..HEAD", last);
    }
    /* The same stream whatever the user's configuration says. */
    char *argv[] = {"git", "-C", (char *)dir, "-c", "log.showsignature=false", "log",
                    "--reverse", "--name-status", "--find-renames", "--no-color", "-z",
                    COOP_GRAPH_GIT_FORMAT, range, NULL};
    pid_t pid;
    int fd = spawn_reader(argv, &pid, false);
    if (fd < 0) {
        fprintf(stderr, "coopd import: cannot run git\n");
        return 1;
    }
    coop_err err = coop_graph_import_fd(store, repo, fd, tty ? progress : NULL, (void *)repo, st);
    close(fd);
    int rc = wait_child(pid);
    if (err) {
        fprintf(stderr, "%scoopd import: failed: %s\n", tty ? "\n" : "", coop_strerror(err));
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "%scoopd import: git log failed (exit %d)\n", tty ? "\n" : "", rc);
        return 1;
    }
    store_checkout_facts(store, repo, dir);
    return 0;
}

int coop_cmd_import(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    const char *repo = NULL, *dir = NULL;
    bool use_stdin = false;
    for (int i = next; i < argc; i++) {
        if (strcmp(argv[i], "--repo") == 0 && i + 1 < argc)
            repo = argv[++i];
        else if (strcmp(argv[i], "--git") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--stdin") == 0)
            use_stdin = true;
        else {
            fprintf(stderr, "coopd import: unknown option '%.40s'\n", argv[i]);
            rc = 2;
        }
    }
    if (!rc && (!repo || !*repo || (!dir == !use_stdin))) {
        fprintf(stderr, "usage: coopd import --repo ID (--git DIR | --stdin)\n");
        rc = 2;
    }
    if (rc || (rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return rc;
    }
    bool tty = isatty(2);
    struct coop_graph_import_stats st;
    if (dir) {
        rc = import_git(app.store, repo, dir, tty, &st);
    } else {
        coop_err err = coop_graph_import_fd(app.store, repo, 0, tty ? progress : NULL,
                                            (void *)repo, &st);
        if (err) {
            fprintf(stderr, "%scoopd import: failed: %s\n", tty ? "\n" : "", coop_strerror(err));
            rc = 1;
        }
    }
    if (tty)
        fputc('\n', stderr);
    if (!rc)
        printf("imported %s: %lld new commits of %lld read, %lld file changes, %lld malformed "
               "records skipped, %.2f s (%.0f commits/s)\n",
               repo, (long long)st.commits_applied, (long long)st.commits_read,
               (long long)st.changes, (long long)st.errors, st.seconds,
               st.seconds > 0 ? (double)st.commits_read / st.seconds : 0.0);
    coop_app_dispose(&app);
    return rc;
}

/* coopd repos: one line per repository ("ID COMMITS"), nothing when empty. */
int coop_cmd_repos(int argc, char **argv)
{
    struct coop_app app;
    int next, rc = coop_app_configure(&app, argc, argv, &next);
    if (rc)
        return rc;
    if (next < argc) {
        fprintf(stderr, "usage: coopd repos\n");
        coop_app_dispose(&app);
        return 2;
    }
    if ((rc = coop_app_open_store(&app, true))) {
        coop_app_dispose(&app);
        return rc;
    }
    struct json_object *o = NULL, *repos;
    coop_err err = coop_graph_repos(app.store, &o);
    if (err) {
        fprintf(stderr, "coopd repos: %s\n", coop_strerror(err));
        rc = 1;
    } else if (json_object_object_get_ex(o, "repos", &repos)) {
        for (size_t i = 0; i < json_object_array_length(repos); i++) {
            struct json_object *r = json_object_array_get_idx(repos, i), *id, *commits;
            json_object_object_get_ex(r, "id", &id);
            json_object_object_get_ex(r, "commits", &commits);
            printf("%s %lld\n", json_object_get_string(id), (long long)json_object_get_int64(commits));
        }
    }
    json_object_put(o);
    coop_app_dispose(&app);
    return rc;
}

/*
 * graph: what Coop knows about a repository's code. Repositories, people
 * and their identities, commits and their file changes (renames keep one
 * file identity across paths), pull requests, CODEOWNERS text per branch,
 * and the state the questions need, kept up to date as commits arrive:
 * per (file, person) change counts, each file's creator and revision
 * counts, per file pair shared-commit counts for change coupling.
 *
 * Writers (coop_graph_commit_apply, the event consumer, import) work
 * inside a caller's transaction on a struct coop_conn; queries take the
 * store and answer from that precomputed state, never by replaying
 * history. DESIGN.md section 5 defines the algorithms; docs/graph.md
 * explains the model.
 *
 * Ownership: strings passed in are copied when kept; JSON objects returned
 * through OUT parameters belong to the caller (json_object_put).
 */
#ifndef COOP_GRAPH_H
#define COOP_GRAPH_H

#include "coop/core.h"
#include "coop/store.h"

struct json_object;

/* The schema (listed in src/store/schema.c). */
extern const struct coop_migration coop_graph_migrations[];

/* ---- repositories --------------------------------------------------------- */

/* The id of repository `repo` ("HOST/PATH"), creating it when absent. */
coop_err coop_graph_repo_ensure(struct coop_conn *c, const char *repo, int64_t *id /* OUT */);
/* COOP_ERR_NOT_FOUND when the store does not know repo. */
coop_err coop_graph_repo_lookup(struct coop_conn *c, const char *repo, int64_t *id /* OUT */);
/* Records the default branch (NULL or "" leaves it unchanged). */
coop_err coop_graph_repo_set_default_branch(struct coop_conn *c, int64_t repo_id,
                                            const char *branch);
/* Renames a repository (a host rename or transfer); COOP_ERR_CONFLICT when
 * new_id is already taken by another repository, NOT_FOUND when old_id is
 * unknown. */
coop_err coop_graph_repo_rename(struct coop_conn *c, const char *old_id, const char *new_id);

/* ---- people ---------------------------------------------------------------- */

/*
 * The person behind an author: found by email (case-insensitive) or by
 * login on host, created when neither is known. When the email and the
 * login name two different people, they are shown to be one and are
 * merged. Any of name, email, login may be NULL (not all).
 */
coop_err coop_graph_person_resolve(struct coop_conn *c, const char *host, const char *name,
                                   const char *email, const char *login,
                                   int64_t *person /* OUT */);
/* Moves everything of person `drop` (identities, counts, commits, pulls)
 * to person `keep`, adding counts together, and removes `drop`. */
coop_err coop_graph_person_merge(struct coop_conn *c, int64_t keep, int64_t drop);
/* Attaches a Slack user id (and its email when given) to a person. */
coop_err coop_graph_person_add_slack(struct coop_conn *c, const char *team, const char *user_id,
                                     const char *name, const char *email);

/* ---- commits ----------------------------------------------------------------- */

/* A file change: 'A' added, 'M' modified (also type changes), 'D'
 * deleted, 'R' renamed from old_path (possibly modified too). */
struct coop_graph_change {
    char status;
    const char *path;
    const char *old_path; /* for 'R' only */
};

struct coop_graph_commit {
    const char *sha;
    const char *author_name;  /* may be NULL */
    const char *author_email; /* may be NULL */
    const char *author_login; /* may be NULL; a login on the repository's host */
    int64_t time_ms;
    const char *message; /* first line; may be NULL */
    const struct coop_graph_change *changes;
    size_t n_changes;
};

/*
 * Applies one commit to repository repo_id: the commit, its changes, and
 * every count derived from them. Idempotent: a sha the repository already
 * holds changes nothing and sets *applied false.
 */
coop_err coop_graph_commit_apply(struct coop_conn *c, int64_t repo_id,
                                 const struct coop_graph_commit *commit,
                                 bool *applied /* OUT, may be NULL */);

/* Commits touching more files than this are left out of change coupling
 * (code-maat's default). */
#define COOP_GRAPH_COUPLING_MAX_FILES 30

/* ---- import of a git log stream ---------------------------------------------- */

/*
 * The stream is what
 *   git log --reverse --name-status --find-renames -z \
 *       --format=%x01%H%x00%at%x00%aN%x00%aE%x00%s%x00
 * prints; docs/graph.md describes it.
 */
#define COOP_GRAPH_GIT_FORMAT "--format=%x01%H%x00%at%x00%aN%x00%aE%x00%s%x00"

struct coop_graph_import_stats {
    int64_t commits_read;
    int64_t commits_applied; /* new ones; read - applied were already known */
    int64_t changes;
    int64_t errors; /* malformed records skipped */
    double seconds;
};

/* Called after each committed batch; return false to stop. */
typedef bool (*coop_graph_progress_fn)(const struct coop_graph_import_stats *stats, void *ctx);

/*
 * Reads a stream from fd until its end and applies every commit to repo
 * (created when absent), a batch of commits per transaction. The last
 * imported sha is kept with the repository (coop_graph_import_head) so a
 * later import can start after it. Safe to run again on the same stream.
 */
coop_err coop_graph_import_fd(struct coop_store *store, const char *repo, int fd,
                              coop_graph_progress_fn progress, void *progress_ctx,
                              struct coop_graph_import_stats *stats /* OUT */);
/* The last sha imported into repo, into out (empty when none). */
coop_err coop_graph_import_head(struct coop_store *store, const char *repo, char out[64]);

/* ---- CODEOWNERS ---------------------------------------------------------------- */

enum coop_codeowners_flavor {
    COOP_CODEOWNERS_GITHUB,
    COOP_CODEOWNERS_GITLAB,
    COOP_CODEOWNERS_BITBUCKET,
};

struct coop_codeowners;

struct coop_codeowners_error {
    int line;
    const char *message; /* static text */
};

/*
 * Parses CODEOWNERS text. Errors never stop the parse: a bad line is
 * skipped and reported with its line number. *out is freed with
 * coop_codeowners_free.
 */
coop_err coop_codeowners_parse(const char *text, size_t len, enum coop_codeowners_flavor flavor,
                               struct coop_codeowners **out /* OUT */);
void coop_codeowners_free(struct coop_codeowners *co);
size_t coop_codeowners_errors(const struct coop_codeowners *co,
                              const struct coop_codeowners_error **errors /* OUT */);

/* One rule that decides a path's owners. Pointers stay valid while co lives. */
struct coop_codeowners_match {
    int line;
    const char *pattern;
    const char *section; /* GitLab section name as first written; NULL outside sections */
    bool optional;       /* GitLab ^[Section] */
    int approvals;       /* GitLab [Section][N]; 0 when not given */
    const char *const *owners;
    size_t n_owners;
};

/*
 * The rules deciding path's owners: for GitHub and Bitbucket the last
 * matching rule (at most one); for GitLab the last match of each section,
 * in the order the sections first appear (sections of the same name, in
 * any case, are one). Returns how many were written (at most max).
 */
size_t coop_codeowners_match(const struct coop_codeowners *co, const char *path,
                             struct coop_codeowners_match *out /* OUT */, size_t max);
/* True when the single pattern matches path under the flavor's rules. */
bool coop_codeowners_pattern_matches(enum coop_codeowners_flavor flavor, const char *pattern,
                                     const char *path);

/* Where each flavor looks, first found wins (for reading a checkout). */
extern const char *const coop_codeowners_paths[];
/* The flavor for a repository id and the file's path in it. */
enum coop_codeowners_flavor coop_codeowners_flavor_for(const char *repo, const char *file);

/* Stores the CODEOWNERS text of repo at branch (file: where it was found);
 * text NULL removes it. The repository is created when absent. */
coop_err coop_graph_codeowners_set(struct coop_conn *c, const char *repo, const char *branch,
                                   const char *file, const char *text);

/* ---- the algorithms, on plain numbers (section 5) --------------------------- */

/* DOA = 3.293 + 1.098*FA + 0.164*DL - 0.321*ln(1 + AC). */
double coop_graph_doa(bool first_author, int64_t own_changes, int64_t others_changes);
/* An author has DOA/max(DOA of the file) > 0.75 and DOA >= 3.293. */
bool coop_graph_is_author(double doa, double max_doa);
/* degree = shared / mean(revisions a, revisions b) * 100. */
double coop_graph_coupling_degree(int64_t shared, int64_t revs_a, int64_t revs_b);

/*
 * Truck factor over files_n files whose authors are given as a list of
 * (file index, person) pairs: repeatedly remove the person authoring the
 * most files (ties: the smaller person id) until more than half of the
 * files have no author left. Writes the removed people, in order, into
 * removed (up to max_removed) and returns how many were removed.
 */
size_t coop_graph_truck_factor(size_t files_n, const int64_t (*pairs)[2], size_t n_pairs,
                               int64_t *removed /* OUT */, size_t max_removed);

/* ---- queries ------------------------------------------------------------------- */

/*
 * Each query answers a JSON object in the shape of DESIGN.md section 4.
 * COOP_ERR_NOT_FOUND with `what` set to "repo" or "path" when the
 * repository or the path is unknown; COOP_ERR_INVALID for bad arguments.
 */
struct coop_graph_query {
    const char *repo;
    const char *path;   /* may be NULL where optional */
    const char *cursor; /* history */
    const char *state;  /* pulls */
    int64_t limit;      /* 0: the default */
    int64_t now_ms;     /* 0: the clock */
};

coop_err coop_graph_repos(struct coop_store *s, struct json_object **out /* OUT */);
coop_err coop_graph_owners(struct coop_store *s, const struct coop_graph_query *q,
                           struct json_object **out /* OUT */, const char **what /* OUT */);
/* The owners answer as JSON text written into out (reset first), kept in
 * memory while the repository and its CODEOWNERS are unchanged; with the
 * clock as time, its recent contributors are those of the current second. */
coop_err coop_graph_owners_text(struct coop_store *s, const struct coop_graph_query *q,
                                struct coop_buf *out, const char **what /* OUT */);
coop_err coop_graph_history(struct coop_store *s, const struct coop_graph_query *q,
                            struct json_object **out /* OUT */, const char **what /* OUT */);
/* The history answer as JSON text written into out (reset first), without
 * building a JSON tree: the form the HTTP endpoint serves. */
#define COOP_GRAPH_TEXT_MAX (8u << 20)
coop_err coop_graph_history_text(struct coop_store *s, const struct coop_graph_query *q,
                                 struct coop_buf *out, const char **what /* OUT */);
coop_err coop_graph_coupling(struct coop_store *s, const struct coop_graph_query *q,
                             struct json_object **out /* OUT */, const char **what /* OUT */);
coop_err coop_graph_truck_factor_query(struct coop_store *s, const struct coop_graph_query *q,
                                       struct json_object **out /* OUT */,
                                       const char **what /* OUT */);
coop_err coop_graph_pulls(struct coop_store *s, const struct coop_graph_query *q,
                          struct json_object **out /* OUT */, const char **what /* OUT */);
coop_err coop_graph_people(struct coop_store *s, const struct coop_graph_query *q,
                           struct json_object **out /* OUT */, const char **what /* OUT */);

/* ---- pull requests ----------------------------------------------------------- */

struct coop_graph_pull {
    int64_t number;
    const char *title;
    const char *state; /* "open", "closed", "merged" */
    const char *author_name, *author_email, *author_login; /* any may be NULL */
    const char *url;
    const char *source_branch, *target_branch, *head_sha, *merge_sha; /* may be NULL */
    int64_t created_ms, updated_ms, closed_ms;
};

/* Inserts or updates a pull request of repo_id (idempotent). */
coop_err coop_graph_pull_upsert(struct coop_conn *c, int64_t repo_id, const char *host,
                                const struct coop_graph_pull *pull);
/* Records a reviewer's state on a pull ("requested", "approved",
 * "changes_requested", "commented", "dismissed"). A "requested" never
 * overwrites a state a review already gave, and a review always replaces a
 * "requested", whatever their times: the result does not depend on the
 * order events are applied in. Between reviews the newest wins. */
coop_err coop_graph_pull_reviewer(struct coop_conn *c, int64_t repo_id, int64_t number,
                                  const char *login, const char *state, int64_t time_ms);
/* Replaces the list of files a pull request touches (the hosts sync). */
coop_err coop_graph_pull_set_files(struct coop_conn *c, int64_t repo_id, int64_t number,
                                   const char *const *paths, size_t n);

/* ---- gaps ---------------------------------------------------------------------- */

/* Records that a push's commits between before and after are only partly
 * known (truncated payloads, no file lists), for the code-host sync.
 * Idempotent per (repo, after, reason). */
coop_err coop_graph_gap_record(struct coop_conn *c, int64_t repo_id, const char *ref,
                               const char *before, const char *after, int64_t expected,
                               int64_t received, const char *reason);

/* ---- events -------------------------------------------------------------------- */

struct coop_event;
/* Applies one webhook event to the graph (coop_event_consumer_fn). */
coop_err coop_graph_apply_event(struct coop_conn *c, const struct coop_event *ev, void *ctx);

#endif

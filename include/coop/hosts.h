/*
 * hosts: the code hosts' REST APIs, for what webhooks do not carry
 * (CODEOWNERS text, pull request files and approvals, the commits a
 * truncated push left out, the history of a repository seen for the first
 * time) and Slack's users.info, to link Slack identities to people.
 *
 * Each host is a `const struct coop_host_ops` (github.c, gitlab.c,
 * bitbucket.c for Cloud 2.0 and Data Center 1.0) that knows its URLs and
 * its response shapes; the client (client.c) does the HTTP over libcurl:
 * bearer authentication, certificate verification, timeouts, bounded
 * response sizes, pagination (Link headers or the host's own page fields),
 * rate limits (X-RateLimit-*, Retry-After, 429 and GitHub's secondary
 * 403s become COOP_ERR_RATE_LIMITED with the time to retry at) and ETag
 * conditional requests cached in the store.
 *
 * The jobs (sync.c) run outside transactions and reschedule themselves
 * when a host says to wait; docs/hosts.md describes them.
 *
 * Tokens never leave the client: no log line, error text, job row or
 * stored URL holds one.
 */
#ifndef COOP_HOSTS_H
#define COOP_HOSTS_H

#include "coop/config.h"
#include "coop/core.h"
#include "coop/graph.h"
#include "coop/store.h"

#define COOP_HOSTS_URL_MAX 2048
#define COOP_HOSTS_MAX_BODY (8u * 1024u * 1024u) /* one response */
#define COOP_HOSTS_MAX_FILE (1u * 1024u * 1024u) /* one CODEOWNERS text */

enum coop_host_kind {
    COOP_HOST_GITHUB,
    COOP_HOST_GITLAB,
    COOP_HOST_BITBUCKET,    /* Bitbucket Cloud, API 2.0 */
    COOP_HOST_BITBUCKET_DC, /* Bitbucket Data Center / Server, REST 1.0 */
    COOP_HOST_SLACK,        /* Slack Web API (users.info only) */
};

/* ---- parsed answers ---------------------------------------------------------- */

/*
 * A list of commits (newest first, as hosts list them) in the graph's own
 * shape, plus the strings they point to. Everything belongs to the list
 * and is freed by coop_hosts_commits_dispose.
 */
struct coop_hosts_commits {
    struct coop_graph_commit *items;
    size_t n, cap;
    bool *files_known; /* per item: its changes were listed */
    void *arena_;      /* private */
};

void coop_hosts_commits_init(struct coop_hosts_commits *l);
void coop_hosts_commits_dispose(struct coop_hosts_commits *l);

/* A pull request's files and reviewers' states ("approved", ...). */
struct coop_hosts_pull {
    char **files;
    size_t n_files;
    char **reviewers;
    char **states;
    size_t n_reviewers;
    void *arena_;
};

void coop_hosts_pull_dispose(struct coop_hosts_pull *p);

/* ---- HTTP answers ----------------------------------------------------------- */

struct coop_hosts_response {
    long status;
    struct coop_buf body; /* at most the client's max_body */
    char etag[256];
    char next_url[COOP_HOSTS_URL_MAX]; /* from a Link rel="next"; "" when none */
    int64_t retry_at_ms;  /* when rate limited: not before this time */
    int64_t remaining;    /* X-RateLimit-Remaining, -1 when absent */
    int64_t reset_ms;     /* X-RateLimit-Reset as ms, 0 when absent */
    bool not_modified;    /* 304: body holds the cached copy */
};

/*
 * Reads rate-limit and paging headers into r (one "Name: value" line at a
 * time, as libcurl hands them over). Exposed for tests.
 */
void coop_hosts_response_header(struct coop_hosts_response *r, const char *line, size_t len,
                                int64_t now_ms);
/* The rel="next" URL of a Link header value into out ("" when none). */
void coop_hosts_link_next(const char *value, size_t len, char *out, size_t out_size);
/*
 * What a finished response means: OK for 2xx and 304; RATE_LIMITED for 429,
 * or 403 with no remaining quota, a Retry-After or GitHub's "secondary rate
 * limit" text (retry_at_ms set, at least a minute when the host says
 * nothing); AUTH for 401; FORBIDDEN for other 403s; NOT_FOUND for 404 and
 * 410; UPSTREAM otherwise.
 */
coop_err coop_hosts_classify(struct coop_hosts_response *r, int64_t now_ms);

/* ---- the hosts ---------------------------------------------------------------- */

struct coop_hosts_client;
struct coop_github_app;

/*
 * One host's API. `project` is the repository id without its host part
 * ("octo/hello", "group/sub/project", "ws/repo", "PROJ/repo"). URL
 * builders append to url (already holding the base URL); parsers read a
 * body the client fetched. A parser's *next (when given) gets the next
 * page's URL for hosts that page in the body (Bitbucket) and is left
 * alone otherwise (the Link header is read by the client).
 */
struct coop_host_ops {
    int version; /* 1 */
    const char *name;
    enum coop_host_kind kind;
    const char *base_var;    /* "COOP_GITHUB_API_URL" */
    const char *base_default;
    const char *token_var;   /* "COOP_GITHUB_TOKEN" */

    coop_err (*repo_url)(struct coop_buf *url, const char *project);
    /* The default branch from the repository's description. */
    coop_err (*repo_parse)(const char *body, size_t len, char *branch, size_t size);

    coop_err (*file_url)(struct coop_buf *url, const char *project, const char *path,
                         const char *ref);
    /* The file's text into out (raw bodies are copied, GitHub's base64 decoded). */
    coop_err (*file_parse)(const char *body, size_t len, struct coop_buf *out);

    /* Commits reachable from ref, newest first; a page. */
    coop_err (*commits_url)(struct coop_buf *url, const char *project, const char *ref);
    coop_err (*commits_parse)(const char *body, size_t len, struct coop_hosts_commits *out,
                              char *next, size_t next_size);
    /* One commit's file changes (all pages of them are merged by the caller). */
    coop_err (*changes_url)(struct coop_buf *url, const char *project, const char *sha);
    coop_err (*changes_parse)(const char *body, size_t len, struct coop_hosts_commits *l,
                              size_t index, char *next, size_t next_size);

    /* A pull request's files, then its reviewers. */
    coop_err (*pull_files_url)(struct coop_buf *url, const char *project, int64_t number);
    coop_err (*pull_files_parse)(const char *body, size_t len, struct coop_hosts_pull *out,
                                 char *next, size_t next_size);
    coop_err (*pull_reviews_url)(struct coop_buf *url, const char *project, int64_t number);
    coop_err (*pull_reviews_parse)(const char *body, size_t len, struct coop_hosts_pull *out,
                                   char *next, size_t next_size);

    /* Where CODEOWNERS may be, first found wins; NULL-terminated. */
    const char *const *codeowners_paths;
};

extern const struct coop_host_ops coop_host_github;
extern const struct coop_host_ops coop_host_gitlab;
extern const struct coop_host_ops coop_host_bitbucket;
extern const struct coop_host_ops coop_host_bitbucket_dc;
/* NULL-terminated list of the above. */
extern const struct coop_host_ops *const coop_host_backends[];
/* Slack's Web API: only base_var, token_var and the name are used. */
extern const struct coop_host_ops coop_host_slack;

/* A Slack user as users.info describes them. */
struct coop_hosts_slack_user {
    char id[64], team[64], name[256], real_name[256], email[320];
    bool deleted, is_bot;
};
/*
 * Parses a users.info answer. {"ok":false} answers AUTH for invalid_auth,
 * not_authed, token_expired, token_revoked and account_inactive,
 * NOT_FOUND for user_not_found, RATE_LIMITED for ratelimited, UPSTREAM
 * otherwise; the error word goes to why (never the token).
 */
coop_err coop_hosts_slack_parse_user(const char *body, size_t len,
                                     struct coop_hosts_slack_user *out /* OUT */, char *why,
                                     size_t why_size);

/* ---- the client -------------------------------------------------------------- */

struct coop_hosts_client_options {
    const struct coop_host_ops *ops;
    const char *base_url; /* https, or http on a loopback address */
    const char *token;    /* may be NULL (public data); copied into locked memory */
    struct coop_store *store; /* ETag cache; may be NULL */
    long timeout_ms;          /* whole request; default 30 s */
    size_t max_body;          /* default COOP_HOSTS_MAX_BODY */
    /* GitHub App (instead of token): installation tokens for project
     * ("owner/repo"), fetched when needed. The app outlives the client. */
    struct coop_github_app *app;
    const char *project;
};

/* COOP_ERR_CONFIG when the URL is not https and not loopback. */
coop_err coop_hosts_client_new(const struct coop_hosts_client_options *opt,
                               struct coop_hosts_client **out /* OUT */);
void coop_hosts_client_free(struct coop_hosts_client *c);
/* The client's base URL (no trailing slash) into url, for the URL builders. */
coop_err coop_hosts_client_base(const struct coop_hosts_client *c, struct coop_buf *url);
const struct coop_host_ops *coop_hosts_client_ops(const struct coop_hosts_client *c);
/* When the host last said to wait: not before this time (0: never said). */
int64_t coop_hosts_client_retry_at(const struct coop_hosts_client *c);

/*
 * GETs url, which must be under the client's base URL (a next-page URL a
 * host sent pointing elsewhere is refused, so the token never travels to
 * another origin). With use_etag, a cached ETag is sent and a 304 answers
 * the cached body. r is initialised here; dispose it with
 * coop_hosts_response_dispose. Returns coop_hosts_classify's verdict, or
 * TIMEOUT / IO / TOO_LARGE for transport failures.
 */
coop_err coop_hosts_get(struct coop_hosts_client *c, const char *url, bool use_etag,
                        struct coop_hosts_response *r /* OUT */);
void coop_hosts_response_dispose(struct coop_hosts_response *r);

/* ---- configuration ------------------------------------------------------------ */

/*
 * The host that serves a repository id ("github.com/o/r"): the public hosts
 * by name, self-hosted ones by the host part of COOP_GITHUB_API_URL,
 * COOP_GITLAB_API_URL, COOP_BITBUCKET_API_URL or
 * COOP_BITBUCKET_SERVER_API_URL. *project points into repo.
 */
coop_err coop_hosts_for_repo(const struct coop_config *cfg, const char *repo,
                             const struct coop_host_ops **ops /* OUT */,
                             const char **project /* OUT */);
/* A client for ops configured from cfg, for the repository project
 * ("owner/repo"; NULL for Slack). With COOP_GITHUB_APP_ID set, a GitHub
 * client authenticates as that app's installation for project. */
coop_err coop_hosts_client_from_config(const struct coop_config *cfg,
                                       const struct coop_host_ops *ops, const char *project,
                                       struct coop_store *store,
                                       struct coop_hosts_client **out /* OUT */);

/* ---- jobs --------------------------------------------------------------------- */

#define COOP_HOSTS_JOB_CODEOWNERS "hosts.codeowners" /* payload: repo */
#define COOP_HOSTS_JOB_BACKFILL "hosts.backfill"     /* payload: repo */
#define COOP_HOSTS_JOB_PULL "hosts.pull"             /* payload: repo#number */
#define COOP_HOSTS_JOB_GAP "hosts.gap"               /* payload: repo@after_sha */
#define COOP_HOSTS_JOB_SLACK_USER "hosts.slack_user" /* payload: user id */

/*
 * Enqueues a hosts job in the caller's transaction (unique per kind and
 * payload while one is queued). For the graph's event consumer and the
 * admin API.
 */
coop_err coop_hosts_enqueue(struct coop_conn *conn, const char *kind, const char *payload,
                            int64_t run_at_ms, int64_t *id /* OUT, may be NULL */);

/* Registers the job handlers; cfg and store must outlive them. */
coop_err coop_hosts_register_jobs(const struct coop_config *cfg, struct coop_store *store);

/* The schema of the sync state and the ETag cache. */
extern const struct coop_migration coop_hosts_migrations[];

#endif

/*
 * event: Coop's own description of what happened on a code host or in
 * Slack, independent of the host's payload format. The webhook module turns
 * each verified delivery into a chain of these (one per ref of a
 * multi-ref push, usually just one) and the job that processes the delivery
 * hands them to the consumer (the graph).
 *
 * Ownership: an event and everything it points to (strings, arrays, the
 * rest of the `next` chain) belong to the event and stay valid until
 * coop_event_free() of the chain's head. Consumers copy what they keep.
 * Parsers copy everything they need out of the JSON they are given: the
 * caller keeps its json_object reference and may put it right after.
 *
 * Strings are NUL-terminated UTF-8. A pointer documented "may be NULL" is
 * NULL when the host did not send that value; every other pointer is set
 * (possibly to ""). Arrays come with their count and are NULL when empty.
 * Times are milliseconds since the Unix epoch, UTC; 0 means unknown.
 */
#ifndef COOP_EVENT_H
#define COOP_EVENT_H

#include "coop/core.h"

struct json_object;
struct coop_conn;

enum coop_event_source {
    COOP_EVENT_SOURCE_GITHUB,
    COOP_EVENT_SOURCE_GITLAB,
    COOP_EVENT_SOURCE_BITBUCKET,        /* Bitbucket Cloud (bitbucket.org) */
    COOP_EVENT_SOURCE_BITBUCKET_SERVER, /* Bitbucket Data Center / Server */
    COOP_EVENT_SOURCE_SLACK,
};

enum coop_event_kind {
    COOP_EVENT_PUSH,
    COOP_EVENT_PULL,         /* pull request / merge request opened, updated, closed... */
    COOP_EVENT_REVIEW,       /* a review or an approval of a pull request */
    COOP_EVENT_REPO_RENAMED, /* renamed or transferred: the repository id changed */
    COOP_EVENT_SLACK_USER,   /* Slack team_join / user_change */
};

/* A person as a host names them. Any field may be NULL. */
struct coop_event_person {
    char *name;
    char *email;
    char *login; /* the host's user name (GitHub login, GitLab username, Bitbucket nickname) */
};

/* ---- push ---------------------------------------------------------------- */

struct coop_event_commit {
    char *sha;
    struct coop_event_person author;
    int64_t time_ms; /* author time */
    char *message;   /* first line of the message only */
    /*
     * File paths relative to the repository root. files_known is false when
     * the host sends no file lists (Bitbucket Cloud and Data Center pushes):
     * the arrays are then empty and the consumer must fetch them elsewhere.
     * Hosts report a rename as removed + added.
     */
    bool files_known;
    char **added;
    size_t n_added;
    char **modified;
    size_t n_modified;
    char **removed;
    size_t n_removed;
};

struct coop_event_push {
    char *ref;    /* "refs/heads/main", "refs/tags/v1" */
    char *before; /* sha before the push; 40 zeros when the ref was created */
    char *after;  /* sha after the push; 40 zeros when the ref was deleted */
    bool created;
    bool deleted;
    bool forced;
    struct coop_event_person pusher;
    /* Oldest first, as the hosts list them. */
    struct coop_event_commit *commits;
    size_t n_commits;
    /*
     * The payload's commits may be only part of the push: GitHub lists at
     * most 2,048, GitLab the newest 20 (total_commits_count is the real
     * count), Bitbucket Cloud at most 5, Data Center none at all. truncated
     * says that commits between `before` and `after` are missing from
     * `commits`, so the consumer can record the gap and backfill it.
     * total_commits is -1 when the host does not say.
     */
    int64_t total_commits;
    bool truncated;
};

/* ---- pull / merge requests ------------------------------------------------ */

enum coop_event_pull_state {
    COOP_EVENT_PULL_STATE_OPEN,
    COOP_EVENT_PULL_STATE_CLOSED, /* closed without merging (declined) */
    COOP_EVENT_PULL_STATE_MERGED,
};

enum coop_event_pull_action {
    COOP_EVENT_PULL_OPENED,
    COOP_EVENT_PULL_UPDATED, /* new commits, title/description edited, reviewers changed */
    COOP_EVENT_PULL_CLOSED,  /* declined or closed without merge */
    COOP_EVENT_PULL_MERGED,
    COOP_EVENT_PULL_REOPENED,
    COOP_EVENT_PULL_OTHER, /* labels, assignees...: the state fields are still current */
};

struct coop_event_pull {
    int64_t number; /* GitHub number, GitLab iid, Bitbucket id */
    char *title;
    enum coop_event_pull_state state;
    enum coop_event_pull_action action;
    char *action_name; /* the host's own word ("synchronize", "update", "pr:modified") */
    struct coop_event_person author;
    /* Requested reviewers (logins, or names where a host has no login). */
    char **reviewers;
    size_t n_reviewers;
    char *url;           /* the web page of the pull request */
    char *source_branch; /* may be NULL */
    char *target_branch; /* may be NULL */
    char *head_sha;      /* may be NULL */
    char *merge_sha;     /* may be NULL; set once merged when the host says */
    int64_t created_ms;
    int64_t updated_ms;
    int64_t closed_ms; /* merged or closed time; 0 while open */
};

/* ---- reviews and approvals ------------------------------------------------ */

enum coop_event_review_state {
    COOP_EVENT_REVIEW_APPROVED,
    COOP_EVENT_REVIEW_CHANGES_REQUESTED, /* GitHub changes_requested, Bitbucket needs work */
    COOP_EVENT_REVIEW_COMMENTED,
    COOP_EVENT_REVIEW_DISMISSED,  /* a review withdrawn by someone else */
    COOP_EVENT_REVIEW_UNAPPROVED, /* the reviewer withdrew an approval */
};

struct coop_event_review {
    enum coop_event_review_state state;
    struct coop_event_person reviewer;
    int64_t time_ms;
    char *commit_sha; /* may be NULL */
    char *url;        /* may be NULL */
    /* The pull request reviewed, as current as the payload says. */
    struct coop_event_pull pull;
};

/* ---- repository renamed or transferred ------------------------------------ */

struct coop_event_repo_renamed {
    char *old_id;     /* "HOST/PATH" before the change */
    char *new_id;     /* equal to the event's repo */
    bool transferred; /* moved to another owner/namespace, rather than renamed in place */
};

/* ---- Slack users ---------------------------------------------------------- */

struct coop_event_slack_user {
    char *team_id;      /* may be NULL */
    char *user_id;      /* "U0123ABC" */
    char *name;         /* the handle; may be NULL */
    char *real_name;    /* may be NULL */
    char *display_name; /* may be NULL */
    char *email;        /* may be NULL (needs the users:read.email scope) */
    bool deleted;
    bool is_bot;
};

/* ---- the event ------------------------------------------------------------ */

struct coop_event {
    enum coop_event_kind kind;
    enum coop_event_source source;
    char *event_name; /* the host's event name ("push", "Merge Request Hook", "repo:push") */
    /*
     * Repository id "HOST/PATH" (DESIGN.md section 2): "github.com/octo/hello",
     * "gitlab.com/group/sub/project", "bitbucket.org/ws/repo", or a
     * self-hosted instance's host name with its path. NULL for Slack.
     */
    char *repo;
    char *default_branch;            /* may be NULL */
    struct coop_event_person sender; /* who caused the event; fields may be NULL */
    int64_t time_ms;                 /* when it happened, if the payload says; else 0 */
    /*
     * The delivery this event came from (dedupe key of the host), set by the
     * webhook module, not by the parsers; may be NULL.
     */
    char *delivery;
    union {
        struct coop_event_push push;
        struct coop_event_pull pull;
        struct coop_event_review review;
        struct coop_event_repo_renamed renamed;
        struct coop_event_slack_user slack_user;
    } u;
    struct coop_event *next; /* further events of the same delivery, or NULL */

    void *pool_; /* private: the allocations of this chain */
};

/* ---- parsing --------------------------------------------------------------- */

/*
 * Each parser takes the host's event name (the X-GitHub-Event,
 * X-Gitlab-Event or X-Event-Key header; for Slack the inner event type,
 * "team_join" or "user_change") and the parsed body, and on success stores
 * in *out a new event chain the caller frees with coop_event_free().
 *
 * An event Coop does not use (ping, issues, comments, statuses...) is not
 * an error: it returns COOP_ERR_OK with *out set to NULL. A payload that
 * lacks what its event must carry returns COOP_ERR_PROTOCOL and *out NULL.
 * The json object is only read.
 *
 * coop_event_parse_bitbucket handles both Bitbucket Cloud ("repo:push",
 * "pullrequest:created"...) and Data Center ("repo:refs_changed",
 * "pr:opened"...), telling them apart by the event key.
 * coop_event_parse_slack takes the whole Events API envelope
 * ({"type":"event_callback","event":{...}}) or the bare inner event.
 */
coop_err coop_event_parse_github(const char *event_name, struct json_object *payload,
                                 struct coop_event **out /* OUT */);
coop_err coop_event_parse_gitlab(const char *event_name, struct json_object *payload,
                                 struct coop_event **out /* OUT */);
coop_err coop_event_parse_bitbucket(const char *event_name, struct json_object *payload,
                                    struct coop_event **out /* OUT */);
coop_err coop_event_parse_slack(const char *event_name, struct json_object *payload,
                                struct coop_event **out /* OUT */);

/* Frees an event chain (the head and every `next`); NULL is accepted. */
void coop_event_free(struct coop_event *ev);

/* Stable lowercase names: "github", "bitbucket-server", "push", "slack_user"... */
const char *coop_event_source_name(enum coop_event_source source);
const char *coop_event_kind_name(enum coop_event_kind kind);

/*
 * A JSON rendering of one event (not its chain), for logs of what was
 * recorded and for tests. *out owns a reference the caller puts.
 */
coop_err coop_event_to_json(const struct coop_event *ev, struct json_object **out /* OUT */);

/* ---- consuming ------------------------------------------------------------- */

/*
 * The consumer of events (the graph) registers one function. The job that
 * processes a delivery calls it once per event of the chain, in order,
 * inside the write transaction that also marks the job done: whatever the
 * consumer writes through conn commits together with the job's completion,
 * so an acknowledged delivery is applied exactly once. The consumer must
 * not wait on the network there (hosts REST calls go to jobs of their own,
 * enqueued through conn with coop_jobs_enqueue). A non-OK return rolls the
 * whole transaction back and the job is retried with backoff.
 *
 * Without a consumer, events are only parsed and recorded. Setting the
 * consumer is meant to happen once at start, before workers run; fn NULL
 * removes it.
 */
typedef coop_err (*coop_event_consumer_fn)(struct coop_conn *conn, const struct coop_event *ev,
                                           void *ctx);
void coop_event_set_consumer(coop_event_consumer_fn fn, void *ctx);

#endif

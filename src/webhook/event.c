/*
 * Coop's events (coop/event.h): their memory, names, JSON rendering, the
 * consumer hook, and the small helpers the per-source parsers share.
 *
 * Each event owns a pool: a list of allocations freed together, so parsers
 * never free piecemeal. A failed allocation marks the pool; the parser
 * finishes its walk and ev_finish() turns the mark into COOP_ERR_NOMEM.
 */
#include "webhook_int.h"

#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    max_align_t data[];
};

struct pool {
    struct chunk *chunks;
    bool failed;
};

struct coop_event *ev_new(enum coop_event_kind kind, enum coop_event_source source,
                          const char *event_name)
{
    struct coop_event *ev = calloc(1, sizeof *ev);
    struct pool *p = calloc(1, sizeof *p);
    if (!ev || !p) {
        free(ev);
        free(p);
        return NULL;
    }
    ev->pool_ = p;
    ev->kind = kind;
    ev->source = source;
    ev->event_name = ev_strdup(ev, event_name ? event_name : "");
    if (kind == COOP_EVENT_PUSH)
        ev->u.push.total_commits = -1;
    return ev;
}

void ev_append(struct coop_event **head, struct coop_event *ev)
{
    while (*head)
        head = &(*head)->next;
    *head = ev;
}

void *ev_alloc(struct coop_event *ev, size_t n)
{
    struct pool *p = ev->pool_;
    struct chunk *c = calloc(1, sizeof *c + n);
    if (!c) {
        p->failed = true;
        return NULL;
    }
    c->next = p->chunks;
    p->chunks = c;
    return c->data;
}

char *ev_strndup(struct coop_event *ev, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = ev_alloc(ev, n + 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *ev_strdup(struct coop_event *ev, const char *s)
{
    return s ? ev_strndup(ev, s, strlen(s)) : NULL;
}

char *ev_first_line(struct coop_event *ev, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strcspn(s, "\n");
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return ev_strndup(ev, s, n);
}

char *ev_repo_from_url(struct coop_event *ev, const char *url)
{
    if (!url)
        return NULL;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@'); /* credentials in a clone URL */
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash))
        p = at + 1;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n > 4 && memcmp(p + n - 4, ".git", 4) == 0)
        n -= 4;
    const char *first = memchr(p, '/', n);
    if (!first || first == p || (size_t)(first - p) + 1 >= n)
        return NULL;
    char *out = ev_strndup(ev, p, n);
    if (out)
        for (char *h = out; *h && *h != '/'; h++)
            if (*h >= 'A' && *h <= 'Z')
                *h = (char)(*h - 'A' + 'a');
    return out;
}

void ev_push_str(struct coop_event *ev, char ***arr, size_t *n, const char *s)
{
    if (!s)
        return;
    /* Capacity is the next power of two at or above n. */
    size_t cap = 1;
    while (cap < *n)
        cap *= 2;
    if (*n == 0 || *n == cap) {
        char **grown = ev_alloc(ev, sizeof *grown * (*n ? cap * 2 : 1));
        if (!grown)
            return;
        if (*n)
            memcpy(grown, *arr, sizeof *grown * *n);
        *arr = grown;
    }
    char *copy = ev_strdup(ev, s);
    if (copy)
        (*arr)[(*n)++] = copy;
}

void ev_str_array(struct coop_event *ev, struct json_object *arr, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!arr || !json_object_is_type(arr, json_type_array))
        return;
    size_t len = json_object_array_length(arr);
    for (size_t i = 0; i < len; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        if (json_object_is_type(v, json_type_string))
            ev_push_str(ev, out, n, json_object_get_string(v));
    }
}

bool ev_failed(const struct coop_event *head)
{
    for (; head; head = head->next)
        if (((struct pool *)head->pool_)->failed)
            return true;
    return false;
}

coop_err ev_finish(struct coop_event *head, struct coop_event **out)
{
    if (ev_failed(head)) {
        coop_event_free(head);
        *out = NULL;
        return COOP_ERR_NOMEM;
    }
    *out = head;
    return COOP_ERR_OK;
}

void coop_event_free(struct coop_event *ev)
{
    while (ev) {
        struct coop_event *next = ev->next;
        struct pool *p = ev->pool_;
        for (struct chunk *c = p ? p->chunks : NULL; c;) {
            struct chunk *n = c->next;
            free(c);
            c = n;
        }
        free(p);
        free(ev);
        ev = next;
    }
}

int64_t ev_time(const char *s)
{
    if (!s || !*s)
        return 0;
    int64_t ms;
    if (coop_clock_parse(s, &ms) == COOP_ERR_OK)
        return ms;
    /* GitLab's older form: "2015-04-20 11:52:50 UTC" or "... +0200". */
    char buf[40];
    size_t n = coop_strlcpy(buf, s, sizeof buf);
    if (n >= sizeof buf || n < 19)
        return 0;
    buf[10] = 'T';
    if (n >= 23 && strcmp(buf + 19, " UTC") == 0) {
        buf[19] = 'Z';
        buf[20] = '\0';
    } else if (n == 25 && buf[19] == ' ' && (buf[20] == '+' || buf[20] == '-')) {
        char tz[7] = {buf[20], buf[21], buf[22], ':', buf[23], buf[24], '\0'};
        memcpy(buf + 19, tz, sizeof tz);
    } else if (n == 24 && (buf[19] == '+' || buf[19] == '-')) {
        /* Bitbucket Data Center: "2019-03-01T10:37:14+0100". */
        char tz[7] = {buf[19], buf[20], buf[21], ':', buf[22], buf[23], '\0'};
        memcpy(buf + 19, tz, sizeof tz);
    }
    return coop_clock_parse(buf, &ms) == COOP_ERR_OK ? ms : 0;
}

/* ---- JSON paths -------------------------------------------------------------- */

struct json_object *jget(struct json_object *obj, const char *path)
{
    char key[64];
    while (obj && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        if (!json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, key, &obj))
            return NULL;
        path += n;
        if (*path == '.')
            path++;
    }
    return obj;
}

const char *jstr(struct json_object *obj, const char *path)
{
    struct json_object *v = jget(obj, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t jint(struct json_object *obj, const char *path, int64_t dflt)
{
    struct json_object *v = jget(obj, path);
    return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : dflt;
}

bool jbool(struct json_object *obj, const char *path)
{
    struct json_object *v = jget(obj, path);
    return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

struct json_object *jarr(struct json_object *obj, const char *path)
{
    struct json_object *v = jget(obj, path);
    return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

/* ---- names ---------------------------------------------------------------------- */

const char *coop_event_source_name(enum coop_event_source source)
{
    switch (source) {
    case COOP_EVENT_SOURCE_GITHUB:
        return "github";
    case COOP_EVENT_SOURCE_GITLAB:
        return "gitlab";
    case COOP_EVENT_SOURCE_BITBUCKET:
        return "bitbucket";
    case COOP_EVENT_SOURCE_BITBUCKET_SERVER:
        return "bitbucket-server";
    case COOP_EVENT_SOURCE_SLACK:
        return "slack";
    }
    return "unknown";
}

const char *coop_event_kind_name(enum coop_event_kind kind)
{
    switch (kind) {
    case COOP_EVENT_PUSH:
        return "push";
    case COOP_EVENT_PULL:
        return "pull";
    case COOP_EVENT_REVIEW:
        return "review";
    case COOP_EVENT_REPO_RENAMED:
        return "repo_renamed";
    case COOP_EVENT_SLACK_USER:
        return "slack_user";
    }
    return "unknown";
}

static const char *pull_state_name(enum coop_event_pull_state s)
{
    switch (s) {
    case COOP_EVENT_PULL_STATE_OPEN:
        return "open";
    case COOP_EVENT_PULL_STATE_CLOSED:
        return "closed";
    case COOP_EVENT_PULL_STATE_MERGED:
        return "merged";
    }
    return "unknown";
}

static const char *pull_action_name(enum coop_event_pull_action a)
{
    switch (a) {
    case COOP_EVENT_PULL_OPENED:
        return "opened";
    case COOP_EVENT_PULL_UPDATED:
        return "updated";
    case COOP_EVENT_PULL_CLOSED:
        return "closed";
    case COOP_EVENT_PULL_MERGED:
        return "merged";
    case COOP_EVENT_PULL_REOPENED:
        return "reopened";
    case COOP_EVENT_PULL_OTHER:
        return "other";
    }
    return "unknown";
}

static const char *review_state_name(enum coop_event_review_state s)
{
    switch (s) {
    case COOP_EVENT_REVIEW_APPROVED:
        return "approved";
    case COOP_EVENT_REVIEW_CHANGES_REQUESTED:
        return "changes_requested";
    case COOP_EVENT_REVIEW_COMMENTED:
        return "commented";
    case COOP_EVENT_REVIEW_DISMISSED:
        return "dismissed";
    case COOP_EVENT_REVIEW_UNAPPROVED:
        return "unapproved";
    }
    return "unknown";
}

/* ---- JSON rendering ---------------------------------------------------------------- */

static struct json_object *js(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static struct json_object *strs(char **a, size_t n)
{
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, json_object_new_string(a[i]));
    return arr;
}

static struct json_object *person(const struct coop_event_person *p)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", js(p->name));
    json_object_object_add(o, "email", js(p->email));
    json_object_object_add(o, "login", js(p->login));
    return o;
}

static struct json_object *push_json(const struct coop_event_push *p)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ref", js(p->ref));
    json_object_object_add(o, "before", js(p->before));
    json_object_object_add(o, "after", js(p->after));
    json_object_object_add(o, "created", json_object_new_boolean(p->created));
    json_object_object_add(o, "deleted", json_object_new_boolean(p->deleted));
    json_object_object_add(o, "forced", json_object_new_boolean(p->forced));
    json_object_object_add(o, "pusher", person(&p->pusher));
    json_object_object_add(o, "total_commits", json_object_new_int64(p->total_commits));
    json_object_object_add(o, "truncated", json_object_new_boolean(p->truncated));
    struct json_object *commits = json_object_new_array();
    for (size_t i = 0; i < p->n_commits; i++) {
        const struct coop_event_commit *c = &p->commits[i];
        struct json_object *co = json_object_new_object();
        json_object_object_add(co, "sha", js(c->sha));
        json_object_object_add(co, "author", person(&c->author));
        json_object_object_add(co, "time_ms", json_object_new_int64(c->time_ms));
        json_object_object_add(co, "message", js(c->message));
        json_object_object_add(co, "files_known", json_object_new_boolean(c->files_known));
        json_object_object_add(co, "added", strs(c->added, c->n_added));
        json_object_object_add(co, "modified", strs(c->modified, c->n_modified));
        json_object_object_add(co, "removed", strs(c->removed, c->n_removed));
        json_object_array_add(commits, co);
    }
    json_object_object_add(o, "commits", commits);
    return o;
}

static struct json_object *pull_json(const struct coop_event_pull *p)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "number", json_object_new_int64(p->number));
    json_object_object_add(o, "title", js(p->title));
    json_object_object_add(o, "state", json_object_new_string(pull_state_name(p->state)));
    json_object_object_add(o, "action", json_object_new_string(pull_action_name(p->action)));
    json_object_object_add(o, "action_name", js(p->action_name));
    json_object_object_add(o, "author", person(&p->author));
    json_object_object_add(o, "reviewers", strs(p->reviewers, p->n_reviewers));
    json_object_object_add(o, "url", js(p->url));
    json_object_object_add(o, "source_branch", js(p->source_branch));
    json_object_object_add(o, "target_branch", js(p->target_branch));
    json_object_object_add(o, "head_sha", js(p->head_sha));
    json_object_object_add(o, "merge_sha", js(p->merge_sha));
    json_object_object_add(o, "created_ms", json_object_new_int64(p->created_ms));
    json_object_object_add(o, "updated_ms", json_object_new_int64(p->updated_ms));
    json_object_object_add(o, "closed_ms", json_object_new_int64(p->closed_ms));
    return o;
}

static struct json_object *detail_json(const struct coop_event *ev)
{
    struct json_object *o;
    switch (ev->kind) {
    case COOP_EVENT_PUSH:
        return push_json(&ev->u.push);
    case COOP_EVENT_PULL:
        return pull_json(&ev->u.pull);
    case COOP_EVENT_REVIEW:
        o = json_object_new_object();
        json_object_object_add(o, "state",
                               json_object_new_string(review_state_name(ev->u.review.state)));
        json_object_object_add(o, "reviewer", person(&ev->u.review.reviewer));
        json_object_object_add(o, "time_ms", json_object_new_int64(ev->u.review.time_ms));
        json_object_object_add(o, "commit_sha", js(ev->u.review.commit_sha));
        json_object_object_add(o, "url", js(ev->u.review.url));
        json_object_object_add(o, "pull", pull_json(&ev->u.review.pull));
        return o;
    case COOP_EVENT_REPO_RENAMED:
        o = json_object_new_object();
        json_object_object_add(o, "old_id", js(ev->u.renamed.old_id));
        json_object_object_add(o, "new_id", js(ev->u.renamed.new_id));
        json_object_object_add(o, "transferred",
                               json_object_new_boolean(ev->u.renamed.transferred));
        return o;
    case COOP_EVENT_SLACK_USER:
        o = json_object_new_object();
        json_object_object_add(o, "team_id", js(ev->u.slack_user.team_id));
        json_object_object_add(o, "user_id", js(ev->u.slack_user.user_id));
        json_object_object_add(o, "name", js(ev->u.slack_user.name));
        json_object_object_add(o, "real_name", js(ev->u.slack_user.real_name));
        json_object_object_add(o, "display_name", js(ev->u.slack_user.display_name));
        json_object_object_add(o, "email", js(ev->u.slack_user.email));
        json_object_object_add(o, "deleted", json_object_new_boolean(ev->u.slack_user.deleted));
        json_object_object_add(o, "is_bot", json_object_new_boolean(ev->u.slack_user.is_bot));
        return o;
    }
    return NULL;
}

coop_err coop_event_to_json(const struct coop_event *ev, struct json_object **out)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return COOP_ERR_NOMEM;
    json_object_object_add(o, "kind", json_object_new_string(coop_event_kind_name(ev->kind)));
    json_object_object_add(o, "source", json_object_new_string(coop_event_source_name(ev->source)));
    json_object_object_add(o, "event_name", js(ev->event_name));
    json_object_object_add(o, "repo", js(ev->repo));
    json_object_object_add(o, "default_branch", js(ev->default_branch));
    json_object_object_add(o, "sender", person(&ev->sender));
    json_object_object_add(o, "time_ms", json_object_new_int64(ev->time_ms));
    json_object_object_add(o, "delivery", js(ev->delivery));
    json_object_object_add(o, coop_event_kind_name(ev->kind), detail_json(ev));
    *out = o;
    return COOP_ERR_OK;
}

/* ---- the consumer ----------------------------------------------------------------- */

static coop_event_consumer_fn consumer_fn;
static void *consumer_ctx;

void coop_event_set_consumer(coop_event_consumer_fn fn, void *ctx)
{
    consumer_ctx = ctx;
    consumer_fn = fn;
}

coop_err coop_event_consume_(struct coop_conn *conn, const struct coop_event *ev, bool *consumed)
{
    coop_event_consumer_fn fn = consumer_fn;
    *consumed = fn != NULL;
    return fn ? fn(conn, ev, consumer_ctx) : COOP_ERR_OK;
}

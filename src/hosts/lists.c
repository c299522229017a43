/*
 * The parsed answers of the hosts (commit lists with their file changes,
 * pull request files and reviewers) and the helpers the host files share.
 * Strings live in an arena: a chain of malloc'd blocks freed at once.
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *next;
    char data[];
};

char *hosts_strndup(void **arena, const char *s, size_t n)
{
    if (!s)
        return NULL;
    struct arena_block *b = malloc(sizeof *b + n + 1);
    if (!b)
        return NULL;
    memcpy(b->data, s, n);
    b->data[n] = '\0';
    b->next = *arena;
    *arena = b;
    return b->data;
}

char *hosts_strdup(void **arena, const char *s)
{
    return s ? hosts_strndup(arena, s, strlen(s)) : NULL;
}

void hosts_arena_free(void **arena)
{
    struct arena_block *b = *arena;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    *arena = NULL;
}

void coop_hosts_commits_init(struct coop_hosts_commits *l)
{
    memset(l, 0, sizeof *l);
}

void coop_hosts_commits_dispose(struct coop_hosts_commits *l)
{
    for (size_t i = 0; i < l->n; i++)
        free((void *)l->items[i].changes);
    free(l->items);
    free(l->files_known);
    hosts_arena_free(&l->arena_);
    memset(l, 0, sizeof *l);
}

struct coop_graph_commit *hosts_commit_add(struct coop_hosts_commits *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct coop_graph_commit *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return NULL;
        l->items = items;
        bool *known = realloc(l->files_known, cap * sizeof *known);
        if (!known)
            return NULL;
        l->files_known = known;
        l->cap = cap;
    }
    memset(&l->items[l->n], 0, sizeof l->items[l->n]);
    l->files_known[l->n] = false;
    return &l->items[l->n++];
}

/* Capacity is the next power of two of the count, so it need not be kept. */
static bool is_pow2(size_t n)
{
    return n && !(n & (n - 1));
}

coop_err hosts_change_add(struct coop_hosts_commits *l, size_t i, char status, const char *path,
                          const char *old_path)
{
    if (i >= l->n || !path || !*path)
        return COOP_ERR_INVALID;
    struct coop_graph_commit *c = &l->items[i];
    struct coop_graph_change *ch = (struct coop_graph_change *)c->changes;
    if (c->n_changes == 0 || is_pow2(c->n_changes)) {
        size_t cap = c->n_changes ? c->n_changes * 2 : 4;
        ch = realloc(ch, cap * sizeof *ch);
        if (!ch)
            return COOP_ERR_NOMEM;
        c->changes = ch;
    }
    struct coop_graph_change *x = &ch[c->n_changes];
    x->status = status;
    x->path = hosts_strdup(&l->arena_, path);
    x->old_path = status == 'R' ? hosts_strdup(&l->arena_, old_path) : NULL;
    if (!x->path || (status == 'R' && old_path && !x->old_path))
        return COOP_ERR_NOMEM;
    if (status == 'R' && !x->old_path)
        x->status = 'A'; /* a rename without its source is an addition */
    c->n_changes++;
    l->files_known[i] = true;
    return COOP_ERR_OK;
}

void coop_hosts_pull_dispose(struct coop_hosts_pull *p)
{
    free(p->files);
    free(p->reviewers);
    free(p->states);
    hosts_arena_free(&p->arena_);
    memset(p, 0, sizeof *p);
}

static coop_err grow(char ***arr, size_t n)
{
    if (n && !is_pow2(n))
        return COOP_ERR_OK;
    char **a = realloc(*arr, (n ? n * 2 : 8) * sizeof *a);
    if (!a)
        return COOP_ERR_NOMEM;
    *arr = a;
    return COOP_ERR_OK;
}

coop_err hosts_pull_file(struct coop_hosts_pull *p, const char *path)
{
    if (!path || !*path)
        return COOP_ERR_OK;
    if (grow(&p->files, p->n_files))
        return COOP_ERR_NOMEM;
    if (!(p->files[p->n_files] = hosts_strdup(&p->arena_, path)))
        return COOP_ERR_NOMEM;
    p->n_files++;
    return COOP_ERR_OK;
}

coop_err hosts_pull_review(struct coop_hosts_pull *p, const char *login, const char *state)
{
    if (!login || !*login || !state)
        return COOP_ERR_OK;
    for (size_t i = 0; i < p->n_reviewers; i++) {
        if (strcmp(p->reviewers[i], login))
            continue;
        if (strcmp(state, "commented") && strcmp(state, "requested"))
            p->states[i] = hosts_strdup(&p->arena_, state);
        return p->states[i] ? COOP_ERR_OK : COOP_ERR_NOMEM;
    }
    if (grow(&p->reviewers, p->n_reviewers) || grow(&p->states, p->n_reviewers))
        return COOP_ERR_NOMEM;
    p->reviewers[p->n_reviewers] = hosts_strdup(&p->arena_, login);
    p->states[p->n_reviewers] = hosts_strdup(&p->arena_, state);
    if (!p->reviewers[p->n_reviewers] || !p->states[p->n_reviewers])
        return COOP_ERR_NOMEM;
    p->n_reviewers++;
    return COOP_ERR_OK;
}

coop_err hosts_url_escape(struct coop_buf *url, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                     *p == '~' || (keep_slash && *p == '/');
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        coop_err err = plain ? coop_buf_append(url, p, 1) : coop_buf_append(url, enc, 3);
        if (err)
            return err;
    }
    return COOP_ERR_OK;
}

static coop_err parse_typed(const char *body, size_t len, json_type want,
                            struct json_object **out)
{
    *out = NULL;
    struct json_object *o = NULL;
    if (coop_json_parse(body, len, 32, false, &o))
        return COOP_ERR_PROTOCOL;
    if (!json_object_is_type(o, want)) {
        json_object_put(o);
        return COOP_ERR_PROTOCOL;
    }
    *out = o;
    return COOP_ERR_OK;
}

coop_err hosts_json_array(const char *body, size_t len, struct json_object **out)
{
    return parse_typed(body, len, json_type_array, out);
}

coop_err hosts_json_object(const char *body, size_t len, struct json_object **out)
{
    return parse_typed(body, len, json_type_object, out);
}

const char *hosts_json_path_str(struct json_object *o, const char *path)
{
    char seg[64];
    while (o && json_object_is_type(o, json_type_object)) {
        const char *dot = strchr(path, '.');
        if (!dot)
            return coop_json_str(o, path);
        size_t n = (size_t)(dot - path);
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        o = coop_json_obj(o, seg);
        path = dot + 1;
    }
    return NULL;
}

void hosts_split_raw_author(void **arena, const char *raw, char **name, char **email)
{
    *name = *email = NULL;
    if (!raw)
        return;
    const char *lt = strrchr(raw, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt) {
        *name = hosts_strdup(arena, raw);
        return;
    }
    size_t n = (size_t)(lt - raw);
    while (n > 0 && raw[n - 1] == ' ')
        n--;
    if (n)
        *name = hosts_strndup(arena, raw, n);
    if (gt > lt + 1)
        *email = hosts_strndup(arena, lt + 1, (size_t)(gt - lt - 1));
}

coop_err hosts_file_raw(const char *body, size_t len, struct coop_buf *out)
{
    coop_buf_reset(out);
    if (memchr(body, '\0', len))
        return COOP_ERR_PROTOCOL; /* not a text file */
    return coop_buf_append(out, body, len);
}

/*
 * CODEOWNERS in the three flavours Coop meets.
 *
 * Patterns follow the documented gitignore-like rules:
 *  - a pattern with no slash, or only a trailing one, matches at any depth
 *    ("*.js", "apps/"); a leading or middle slash anchors it at the root
 *    ("/docs/", "docs/x");
 *  - "*" and "?" never cross a "/", "**" spans any number of directories;
 *  - a pattern that names a directory matches every file below it, at any
 *    depth, except a pattern whose last segment is "*" ("docs/" followed by "*"), which
 *    matches only the files directly in that directory;
 *  - a trailing "/" matches directories only.
 * GitHub (and Bitbucket, which follows it) do not support "!" negation,
 * "[ ]" character ranges or "\#" escapes: a "!" line is an error, "[" is
 * an ordinary character. GitLab has "[a-z]" ranges, "\#" and "\ " escapes,
 * and sections: "[Name]", optional "^[Name]", "[Name][N]" approvals, with
 * default owners after the header for the entries that list none.
 * GitHub and Bitbucket: the last matching line wins. GitLab: the last
 * matching line of each section.
 */
#include "coop/graph.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ERRORS 64
#define MAX_LINE 4096

struct rule {
    int line;
    char *pattern; /* as written, escapes removed */
    int section;   /* index into sections, -1 outside any */
    char **owners;
    size_t n_owners;
};

struct section {
    char *name;
    bool optional;
    int approvals;
    char **defaults;
    size_t n_defaults;
};

struct coop_codeowners {
    enum coop_codeowners_flavor flavor;
    struct rule *rules;
    size_t n_rules;
    struct section *sections;
    size_t n_sections;
    struct coop_codeowners_error errors[MAX_ERRORS];
    size_t n_errors;
};

const char *const coop_codeowners_paths[] = {
    ".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS",
    ".bitbucket/CODEOWNERS", NULL,
};

enum coop_codeowners_flavor coop_codeowners_flavor_for(const char *repo, const char *file)
{
    if (file && strncmp(file, ".gitlab/", 8) == 0)
        return COOP_CODEOWNERS_GITLAB;
    if (file && strncmp(file, ".bitbucket/", 11) == 0)
        return COOP_CODEOWNERS_BITBUCKET;
    if (repo && strstr(repo, "gitlab"))
        return COOP_CODEOWNERS_GITLAB;
    if (repo && strstr(repo, "bitbucket"))
        return COOP_CODEOWNERS_BITBUCKET;
    return COOP_CODEOWNERS_GITHUB;
}

/* ---- matching ----------------------------------------------------------- */

/* One segment (no '/') against one path component. */
static bool glob_segment(const char *p, const char *pe, const char *s, const char *se, bool ranges)
{
    while (p < pe) {
        if (*p == '*') {
            while (p < pe && *p == '*')
                p++;
            if (p == pe)
                return true;
            for (const char *t = s; t <= se; t++)
                if (glob_segment(p, pe, t, se, ranges))
                    return true;
            return false;
        }
        if (s == se)
            return false;
        if (*p == '?') {
            p++;
            s++;
            continue;
        }
        if (*p == '[' && ranges) {
            const char *q = p + 1;
            bool neg = q < pe && (*q == '!' || *q == '^');
            if (neg)
                q++;
            bool hit = false;
            const char *start = q;
            while (q < pe && (*q != ']' || q == start)) {
                if (q + 2 < pe && q[1] == '-' && q[2] != ']') {
                    hit |= (unsigned char)*s >= (unsigned char)q[0] &&
                           (unsigned char)*s <= (unsigned char)q[2];
                    q += 3;
                } else {
                    hit |= *s == *q;
                    q++;
                }
            }
            if (q < pe) { /* a closed class */
                if (hit == neg)
                    return false;
                p = q + 1;
                s++;
                continue;
            }
            /* unclosed: an ordinary '[' */
        }
        if (*p == '\\' && ranges && p + 1 < pe)
            p++;
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return s == se;
}

struct segs {
    const char *start[128];
    const char *end[128];
    size_t n;
};

static bool split(const char *s, struct segs *out)
{
    out->n = 0;
    while (*s) {
        const char *e = strchr(s, '/');
        if (!e)
            e = s + strlen(s);
        if (e > s) {
            if (out->n == 128)
                return false;
            out->start[out->n] = s;
            out->end[out->n] = e;
            out->n++;
        }
        s = *e ? e + 1 : e;
    }
    return true;
}

static bool is_globstar(const struct segs *p, size_t i)
{
    return p->end[i] - p->start[i] == 2 && p->start[i][0] == '*' && p->start[i][1] == '*';
}

/*
 * Pattern segments [pi..] against path components [si..]. The pattern may
 * end before the path (the rest is below a matched directory) when
 * `prefix_ok`; `dir_only` requires that the last pattern segment matched a
 * directory, not the final file component.
 */
static bool match_from(const struct segs *p, size_t pi, const struct segs *s, size_t si,
                       bool prefix_ok, bool dir_only, bool ranges)
{
    if (pi == p->n) {
        if (si == s->n)
            return !dir_only;
        return prefix_ok;
    }
    if (is_globstar(p, pi)) {
        for (size_t k = si; k <= s->n; k++)
            if (match_from(p, pi + 1, s, k, prefix_ok, dir_only, ranges))
                return true;
        return false;
    }
    if (si == s->n)
        return false;
    if (!glob_segment(p->start[pi], p->end[pi], s->start[si], s->end[si], ranges))
        return false;
    return match_from(p, pi + 1, s, si + 1, prefix_ok, dir_only, ranges);
}

static bool pattern_matches(const char *pattern, const char *path, bool ranges)
{
    size_t plen = strlen(pattern);
    if (plen == 0)
        return false;
    bool dir_only = pattern[plen - 1] == '/';
    bool anchored = pattern[0] == '/';
    const char *slash = strchr(pattern + (anchored ? 1 : 0), '/');
    if (slash && slash[1] != '\0')
        anchored = true; /* a middle slash anchors too */
    struct segs p, s;
    if (!split(pattern, &p) || !split(path, &s) || p.n == 0)
        return false;
    /* A last segment of "*" matches only the files directly inside. */
    bool last_star = p.end[p.n - 1] - p.start[p.n - 1] == 1 && p.start[p.n - 1][0] == '*' && p.n > 1;
    bool prefix_ok = !last_star;
    if (anchored)
        return match_from(&p, 0, &s, 0, prefix_ok, dir_only, ranges);
    for (size_t i = 0; i < s.n; i++)
        if (match_from(&p, 0, &s, i, prefix_ok, dir_only, ranges))
            return true;
    return false;
}

bool coop_codeowners_pattern_matches(enum coop_codeowners_flavor flavor, const char *pattern,
                                     const char *path)
{
    return pattern_matches(pattern, path, flavor == COOP_CODEOWNERS_GITLAB);
}

size_t coop_codeowners_match(const struct coop_codeowners *co, const char *path,
                             struct coop_codeowners_match *out, size_t max)
{
    bool ranges = co->flavor == COOP_CODEOWNERS_GITLAB;
    while (*path == '/')
        path++;
    if (co->flavor != COOP_CODEOWNERS_GITLAB) {
        for (size_t i = co->n_rules; i-- > 0;) {
            const struct rule *r = &co->rules[i];
            if (!pattern_matches(r->pattern, path, ranges))
                continue;
            if (max == 0)
                return 0;
            out[0] = (struct coop_codeowners_match){r->line, r->pattern, NULL, false, 0,
                                                    (const char *const *)r->owners, r->n_owners};
            return 1;
        }
        return 0;
    }
    size_t n = 0;
    /* Sections in first-appearance order; -1 (no section) comes first. */
    for (long sec = -1; sec < (long)co->n_sections && n < max; sec++) {
        for (size_t i = co->n_rules; i-- > 0;) {
            const struct rule *r = &co->rules[i];
            if (r->section != sec || !pattern_matches(r->pattern, path, ranges))
                continue;
            const struct section *s = sec >= 0 ? &co->sections[sec] : NULL;
            bool inherit = r->n_owners == 0 && s;
            out[n++] = (struct coop_codeowners_match){
                r->line,
                r->pattern,
                s ? s->name : NULL,
                s ? s->optional : false,
                s ? s->approvals : 0,
                (const char *const *)(inherit ? s->defaults : r->owners),
                inherit ? s->n_defaults : r->n_owners,
            };
            break;
        }
    }
    return n;
}

/* ---- parsing ------------------------------------------------------------ */

static void add_error(struct coop_codeowners *co, int line, const char *msg)
{
    if (co->n_errors < MAX_ERRORS)
        co->errors[co->n_errors++] = (struct coop_codeowners_error){line, msg};
}

static bool owner_valid(enum coop_codeowners_flavor f, const char *o)
{
    if (o[0] == '@') {
        if (!o[1])
            return false;
        for (const char *p = o + 1; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("-_./", *p))
                return false;
        return true;
    }
    const char *at = strchr(o, '@');
    (void)f;
    return at && at > o && strchr(at + 1, '.') && !strchr(at + 1, '@');
}

/* Next whitespace-separated token of line at *pos; GitLab honours "\ ". */
static size_t next_token(const char *line, size_t *pos, bool escapes, char *out, size_t size)
{
    size_t i = *pos, n = 0;
    while (line[i] == ' ' || line[i] == '\t')
        i++;
    while (line[i] && line[i] != ' ' && line[i] != '\t') {
        char ch = line[i];
        if (escapes && ch == '\\' && (line[i + 1] == ' ' || line[i + 1] == '#' || line[i + 1] == '\t')) {
            ch = line[++i];
        }
        if (n + 1 < size)
            out[n++] = ch;
        i++;
    }
    out[n] = '\0';
    *pos = i;
    return n;
}

static coop_err push_str(char ***list, size_t *n, const char *s)
{
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl)
        return COOP_ERR_NOMEM;
    *list = nl;
    if (!(nl[*n] = strdup(s)))
        return COOP_ERR_NOMEM;
    (*n)++;
    return COOP_ERR_OK;
}

/* Owners from the rest of the line, into list; invalid ones are reported. */
static coop_err read_owners(struct coop_codeowners *co, const char *line, size_t pos, int lineno,
                            char ***list, size_t *n, bool *invalid)
{
    char tok[512];
    *invalid = false;
    while (next_token(line, &pos, false, tok, sizeof tok)) {
        if (tok[0] == '#')
            break; /* a trailing comment */
        if (!owner_valid(co->flavor, tok)) {
            *invalid = true;
            continue;
        }
        coop_err err = push_str(list, n, tok);
        if (err)
            return err;
    }
    (void)lineno;
    return COOP_ERR_OK;
}

/* "[Name]", "^[Name]", "[Name][2]" then default owners. True when the
 * line is a section header (valid or not). */
static bool parse_section(struct coop_codeowners *co, const char *line, int lineno, coop_err *err,
                          int *current)
{
    const char *p = line;
    bool optional = false;
    *err = COOP_ERR_OK;
    if (*p == '^') {
        optional = true;
        p++;
    }
    if (*p != '[')
        return false;
    const char *close = strchr(p, ']');
    if (!close) {
        add_error(co, lineno, "section header without ']'");
        return true;
    }
    if (close == p + 1) {
        add_error(co, lineno, "empty section name");
        return true;
    }
    int approvals = 0;
    const char *rest = close + 1;
    if (*rest == '[') {
        char *end;
        long v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || *end != ']' || v < 0 || v > 1000) {
            add_error(co, lineno, "bad approval count in section header");
            return true;
        }
        approvals = (int)v;
        rest = end + 1;
    }
    if (*rest && *rest != ' ' && *rest != '\t') {
        /* "[abc]def": a GitLab pattern with a range, not a header. */
        return false;
    }
    size_t nlen = (size_t)(close - p - 1);
    char name[256];
    if (nlen >= sizeof name)
        nlen = sizeof name - 1;
    memcpy(name, p + 1, nlen);
    name[nlen] = '\0';
    /* Sections of the same name (in any case) are one. */
    size_t idx = co->n_sections;
    for (size_t i = 0; i < co->n_sections; i++)
        if (strcasecmp(co->sections[i].name, name) == 0)
            idx = i;
    if (idx == co->n_sections) {
        struct section *ns = realloc(co->sections, (co->n_sections + 1) * sizeof *ns);
        if (!ns) {
            *err = COOP_ERR_NOMEM;
            return true;
        }
        co->sections = ns;
        memset(&ns[idx], 0, sizeof ns[idx]);
        if (!(ns[idx].name = strdup(name))) {
            *err = COOP_ERR_NOMEM;
            return true;
        }
        co->n_sections++;
    }
    struct section *s = &co->sections[idx];
    s->optional = optional;
    if (approvals)
        s->approvals = approvals;
    bool invalid;
    if (s->n_defaults == 0)
        *err = read_owners(co, rest, 0, lineno, &s->defaults, &s->n_defaults, &invalid);
    else {
        char **ignored = NULL;
        size_t nign = 0;
        *err = read_owners(co, rest, 0, lineno, &ignored, &nign, &invalid);
        for (size_t i = 0; i < nign; i++)
            free(ignored[i]);
        free(ignored);
    }
    if (invalid)
        add_error(co, lineno, "invalid owner ignored");
    *current = (int)idx;
    return true;
}

static coop_err parse_line(struct coop_codeowners *co, char *line, int lineno, int *section)
{
    bool gitlab = co->flavor == COOP_CODEOWNERS_GITLAB;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return COOP_ERR_OK;
    if (gitlab) {
        coop_err err;
        if (parse_section(co, p, lineno, &err, section))
            return err;
    }
    if (*p == '!') {
        add_error(co, lineno, "negated patterns are not supported");
        return COOP_ERR_OK;
    }
    char pattern[MAX_LINE];
    size_t pos = 0;
    next_token(p, &pos, gitlab, pattern, sizeof pattern);
    struct rule r = {.line = lineno, .section = *section};
    bool invalid;
    coop_err err = read_owners(co, p, pos, lineno, &r.owners, &r.n_owners, &invalid);
    if (!err && invalid && !gitlab) {
        /* GitHub skips a line with an invalid owner. */
        add_error(co, lineno, "invalid owner: line skipped");
        for (size_t i = 0; i < r.n_owners; i++)
            free(r.owners[i]);
        free(r.owners);
        return COOP_ERR_OK;
    }
    if (!err && invalid)
        add_error(co, lineno, "invalid owner ignored");
    if (!err && !(r.pattern = strdup(pattern)))
        err = COOP_ERR_NOMEM;
    struct rule *nr = err ? NULL : realloc(co->rules, (co->n_rules + 1) * sizeof *nr);
    if (!nr) {
        for (size_t i = 0; i < r.n_owners; i++)
            free(r.owners[i]);
        free(r.owners);
        free(r.pattern);
        return err ? err : COOP_ERR_NOMEM;
    }
    co->rules = nr;
    co->rules[co->n_rules++] = r;
    return COOP_ERR_OK;
}

coop_err coop_codeowners_parse(const char *text, size_t len, enum coop_codeowners_flavor flavor,
                               struct coop_codeowners **out)
{
    *out = NULL;
    struct coop_codeowners *co = calloc(1, sizeof *co);
    if (!co)
        return COOP_ERR_NOMEM;
    co->flavor = flavor;
    int lineno = 0, section = -1;
    coop_err err = COOP_ERR_OK;
    size_t i = 0;
    char line[MAX_LINE];
    while (!err && i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        lineno++;
        if (n >= sizeof line) {
            add_error(co, lineno, "line too long");
        } else if (memchr(text + i, '\0', n)) {
            add_error(co, lineno, "NUL byte in line");
        } else {
            memcpy(line, text + i, n);
            line[n] = '\0';
            err = parse_line(co, line, lineno, &section);
        }
        i += n + 1;
    }
    if (err) {
        coop_codeowners_free(co);
        return err;
    }
    *out = co;
    return COOP_ERR_OK;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void coop_codeowners_free(struct coop_codeowners *co)
{
    if (!co)
        return;
    for (size_t i = 0; i < co->n_rules; i++) {
        free(co->rules[i].pattern);
        free_list(co->rules[i].owners, co->rules[i].n_owners);
    }
    for (size_t i = 0; i < co->n_sections; i++) {
        free(co->sections[i].name);
        free_list(co->sections[i].defaults, co->sections[i].n_defaults);
    }
    free(co->rules);
    free(co->sections);
    free(co);
}

size_t coop_codeowners_errors(const struct coop_codeowners *co,
                              const struct coop_codeowners_error **errors)
{
    *errors = co->errors;
    return co->n_errors;
}

/*
 * What the hosts' files share: the string arena behind parsed lists, URL
 * escaping, and the small JSON steps every parser takes.
 */
#ifndef COOP_HOSTS_INT_H
#define COOP_HOSTS_INT_H

#include "coop/hosts.h"

struct json_object;

/* Copies s (NULL stays NULL) into the arena *arena owns. */
char *hosts_strdup(void **arena, const char *s);
char *hosts_strndup(void **arena, const char *s, size_t n);
void hosts_arena_free(void **arena);

/* A new zeroed commit at the end of l (NULL on allocation failure). */
struct coop_graph_commit *hosts_commit_add(struct coop_hosts_commits *l);
/* Adds a change to commit index i; paths are copied. */
coop_err hosts_change_add(struct coop_hosts_commits *l, size_t i, char status, const char *path,
                          const char *old_path);
/* Adds a file to a pull; adds or updates a reviewer (a "commented" never
 * replaces a state the reviewer already has). */
coop_err hosts_pull_file(struct coop_hosts_pull *p, const char *path);
coop_err hosts_pull_review(struct coop_hosts_pull *p, const char *login, const char *state);

/* Appends s percent-encoded; '/' is kept when keep_slash. */
coop_err hosts_url_escape(struct coop_buf *url, const char *s, bool keep_slash);

/* Parses a host's body as JSON (a value of the expected type). */
coop_err hosts_json_array(const char *body, size_t len, struct json_object **out /* OUT */);
coop_err hosts_json_object(const char *body, size_t len, struct json_object **out /* OUT */);
/* A member at a dotted path ("commit.author.name"), as a string, or NULL. */
const char *hosts_json_path_str(struct json_object *o, const char *path);
/* Splits "Name <email>" (Bitbucket's raw author) into its parts. */
void hosts_split_raw_author(void **arena, const char *raw, char **name, char **email);
/* Copies the raw body as a file's text. */
coop_err hosts_file_raw(const char *body, size_t len, struct coop_buf *out);

#endif

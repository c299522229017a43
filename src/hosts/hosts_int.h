/*
 * What the hosts' files share: the string arena behind parsed lists, URL
 * escaping, and the small JSON steps every parser takes.
 */
#ifndef COOP_HOSTS_INT_H
#define COOP_HOSTS_INT_H

#include "coop/config.h"
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

/* ---- GitHub App installation tokens (github_app.c) ----------------------- */

/*
 * A GitHub App: its id, its RSA private key (loaded once, held by OpenSSL)
 * and the installation tokens it obtained, per installation, until shortly
 * before they expire. Thread safe. Neither the key nor a token is ever
 * logged; tokens are registered with the log scrubber.
 */
struct coop_github_app;

/* Loads the PEM private key at key_file (RSA). installation_id 0 means
 * "look the installation up per repository". On failure why says what is
 * wrong in words that name the setting, never the key's content. */
coop_err coop_github_app_new(const char *app_id, const char *key_file, int64_t installation_id,
                             struct coop_github_app **out /* OUT */, char *why, size_t why_size);
void coop_github_app_free(struct coop_github_app *app);
/* The app's JWT for now_s (RS256; iat now_s - 60, exp now_s + 540) into out. */
coop_err coop_github_app_jwt(struct coop_github_app *app, int64_t now_s, struct coop_buf *out);
/*
 * An installation token for project ("owner/repo") into out, through c's
 * base URL and connection: the cached one while it has more than
 * COOP_GITHUB_APP_TOKEN_MARGIN_MS left, else a new one from
 * POST /app/installations/{id}/access_tokens (refresh forces that). The
 * installation is COOP_GITHUB_APP_INSTALLATION_ID or
 * GET /repos/{owner}/{repo}/installation.
 */
#define COOP_GITHUB_APP_TOKEN_MARGIN_MS (5 * 60 * 1000)
coop_err coop_github_app_token(struct coop_github_app *app, struct coop_hosts_client *c,
                               const char *project, bool refresh, struct coop_buf *out);
/* The process's app from COOP_GITHUB_APP_ID, COOP_GITHUB_APP_PRIVATE_KEY_FILE
 * and COOP_GITHUB_APP_INSTALLATION_ID, made on first use; *out NULL when no
 * app is configured. */
coop_err coop_github_app_from_config(const struct coop_config *cfg,
                                     struct coop_github_app **out /* OUT */, char *why,
                                     size_t why_size);

/* A request with an explicit bearer (NULL: none), no ETag: for the app's
 * own calls. r as for coop_hosts_get. */
coop_err coop_hosts_request_(struct coop_hosts_client *c, const char *method, const char *url,
                             const char *bearer, struct coop_hosts_response *r /* OUT */);

#endif

/*
 * The hosts module's tables: hosts_etags keeps each conditional request's
 * ETag with the body it validates (keyed by URL; URLs never hold a token),
 * hosts_sync the cursor of each resumable walk (a backfill, a gap),
 * hosts_staged the commits a walk found and has not applied yet.
 */
#include "coop/hosts.h"

const struct coop_migration coop_hosts_migrations[] = {
    {"hosts.001",
     "CREATE TABLE hosts_etags (url TEXT PRIMARY KEY, etag TEXT NOT NULL, body BLOB,"
     " stored_at BIGINT NOT NULL);"
     "CREATE TABLE hosts_sync (repo TEXT NOT NULL, kind TEXT NOT NULL, first_url TEXT,"
     " cursor TEXT, done INTEGER NOT NULL DEFAULT 0, commits BIGINT NOT NULL DEFAULT 0,"
     " updated_at BIGINT NOT NULL, PRIMARY KEY (repo, kind));",
     "CREATE TABLE hosts_etags (url TEXT PRIMARY KEY, etag TEXT NOT NULL, body BYTEA,"
     " stored_at BIGINT NOT NULL);"
     "CREATE TABLE hosts_sync (repo TEXT NOT NULL, kind TEXT NOT NULL, first_url TEXT,"
     " cursor TEXT, done INTEGER NOT NULL DEFAULT 0, commits BIGINT NOT NULL DEFAULT 0,"
     " updated_at BIGINT NOT NULL, PRIMARY KEY (repo, kind));"},
    /* Commits a walk found, newest first (rising seq), until they are
     * applied oldest first. */
    {"hosts.002",
     "CREATE TABLE hosts_staged (repo TEXT NOT NULL, kind TEXT NOT NULL, seq BIGINT NOT NULL,"
     " sha TEXT NOT NULL, commit_json TEXT NOT NULL, PRIMARY KEY (repo, kind, seq));"
     "CREATE UNIQUE INDEX hosts_staged_sha ON hosts_staged (repo, kind, sha);"
     "ALTER TABLE hosts_sync ADD COLUMN staged BIGINT NOT NULL DEFAULT 0;",
     "CREATE TABLE hosts_staged (repo TEXT NOT NULL, kind TEXT NOT NULL, seq BIGINT NOT NULL,"
     " sha TEXT NOT NULL, commit_json TEXT NOT NULL, PRIMARY KEY (repo, kind, seq));"
     "CREATE UNIQUE INDEX hosts_staged_sha ON hosts_staged (repo, kind, sha);"
     "ALTER TABLE hosts_sync ADD COLUMN staged BIGINT NOT NULL DEFAULT 0;"},
    {NULL, NULL, NULL},
};

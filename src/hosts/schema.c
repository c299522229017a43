/*
 * The hosts module's tables: hosts_etags keeps each conditional request's
 * ETag with the body it validates (keyed by URL; URLs never hold a token),
 * hosts_sync the cursor of each resumable walk (a backfill, a gap).
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
    {NULL, NULL, NULL},
};

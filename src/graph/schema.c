/*
 * The graph's tables. Counts that queries need are kept beside the facts
 * (graph_files.revisions, graph_authorship, graph_coupling, graph_repo_people)
 * and updated by the same transaction that records a commit, so a question
 * is one indexed read.
 *
 * graph_files is a file identity; graph_paths maps each path a repository
 * has had to the identity living there now. A rename moves the identity
 * to the new path, which is how history follows renames.
 */
#include "coop/graph.h"

#define SQLITE_001                                                                                 \
    "CREATE TABLE graph_repos ("                                                                   \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " default_branch TEXT,"                                                                        \
    " commits BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_event_at BIGINT,"                                                                       \
    " import_head TEXT,"                                                                           \
    " version BIGINT NOT NULL DEFAULT 0);"                                                         \
    "CREATE TABLE graph_people ("                                                                  \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT);"                                                                                 \
    "CREATE TABLE graph_identities ("                                                              \
    " kind TEXT NOT NULL,"                                                                         \
    " scope TEXT NOT NULL,"                                                                        \
    " value TEXT NOT NULL,"                                                                        \
    " person BIGINT NOT NULL,"                                                                     \
    " PRIMARY KEY (kind, scope, value));"                                                          \
    "CREATE INDEX graph_identities_person ON graph_identities (person);"                           \
    "CREATE TABLE graph_files ("                                                                   \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " repo BIGINT NOT NULL,"                                                                       \
    " path TEXT NOT NULL,"                                                                         \
    " creator BIGINT,"                                                                             \
    " revisions BIGINT NOT NULL DEFAULT 0,"                                                        \
    " coupling_revisions BIGINT NOT NULL DEFAULT 0,"                                               \
    " deleted INTEGER NOT NULL DEFAULT 0,"                                                         \
    " last_change BIGINT NOT NULL DEFAULT 0);"                                                     \
    "CREATE INDEX graph_files_path ON graph_files (repo, path);"                                   \
    "CREATE TABLE graph_paths ("                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " path TEXT NOT NULL,"                                                                         \
    " file BIGINT NOT NULL,"                                                                       \
    " PRIMARY KEY (repo, path)) WITHOUT ROWID;"                                                    \
    "CREATE TABLE graph_commits ("                                                                 \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " repo BIGINT NOT NULL,"                                                                       \
    " sha TEXT NOT NULL,"                                                                          \
    " author BIGINT,"                                                                              \
    " time BIGINT NOT NULL,"                                                                       \
    " message TEXT,"                                                                               \
    " files INTEGER NOT NULL DEFAULT 0,"                                                           \
    " UNIQUE (repo, sha));"                                                                        \
    "CREATE INDEX graph_commits_author ON graph_commits (author);"                                 \
    "CREATE TABLE graph_changes ("                                                                 \
    " file BIGINT NOT NULL,"                                                                       \
    " commit_id BIGINT NOT NULL,"                                                                  \
    " status TEXT NOT NULL,"                                                                       \
    " path TEXT NOT NULL,"                                                                         \
    " old_path TEXT,"                                                                              \
    " PRIMARY KEY (file, commit_id)) WITHOUT ROWID;"                                               \
    "CREATE TABLE graph_authorship ("                                                              \
    " file BIGINT NOT NULL,"                                                                       \
    " person BIGINT NOT NULL,"                                                                     \
    " changes BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_change BIGINT NOT NULL DEFAULT 0,"                                                      \
    " PRIMARY KEY (file, person)) WITHOUT ROWID;"                                                  \
    "CREATE INDEX graph_authorship_person ON graph_authorship (person);"                           \
    "CREATE TABLE graph_coupling ("                                                                \
    " a BIGINT NOT NULL,"                                                                          \
    " b BIGINT NOT NULL,"                                                                          \
    " shared BIGINT NOT NULL DEFAULT 0,"                                                           \
    " PRIMARY KEY (a, b)) WITHOUT ROWID;"                                                          \
    "CREATE TABLE graph_repo_people ("                                                             \
    " repo BIGINT NOT NULL,"                                                                       \
    " person BIGINT NOT NULL,"                                                                     \
    " commits BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_change BIGINT NOT NULL DEFAULT 0,"                                                      \
    " PRIMARY KEY (repo, person)) WITHOUT ROWID;"                                                  \
    "CREATE TABLE graph_codeowners ("                                                              \
    " repo BIGINT NOT NULL,"                                                                       \
    " branch TEXT NOT NULL,"                                                                       \
    " file TEXT NOT NULL,"                                                                         \
    " text TEXT NOT NULL,"                                                                         \
    " version BIGINT NOT NULL,"                                                                    \
    " PRIMARY KEY (repo, branch));"                                                                \
    "CREATE TABLE graph_pulls ("                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " title TEXT,"                                                                                 \
    " state TEXT NOT NULL,"                                                                        \
    " author BIGINT,"                                                                              \
    " url TEXT,"                                                                                   \
    " source_branch TEXT,"                                                                         \
    " target_branch TEXT,"                                                                         \
    " head_sha TEXT,"                                                                              \
    " merge_sha TEXT,"                                                                             \
    " created_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " updated_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " closed_at BIGINT NOT NULL DEFAULT 0,"                                                        \
    " PRIMARY KEY (repo, number));"                                                                \
    "CREATE TABLE graph_pull_reviewers ("                                                          \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " login TEXT NOT NULL,"                                                                        \
    " state TEXT NOT NULL,"                                                                        \
    " updated_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " PRIMARY KEY (repo, number, login));"                                                         \
    "CREATE TABLE graph_pull_files ("                                                              \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " path TEXT NOT NULL,"                                                                         \
    " PRIMARY KEY (repo, number, path));"                                                          \
    "CREATE INDEX graph_pull_files_path ON graph_pull_files (repo, path);"                         \
    "CREATE TABLE graph_gaps ("                                                                    \
    " repo BIGINT NOT NULL,"                                                                       \
    " after_sha TEXT NOT NULL,"                                                                    \
    " reason TEXT NOT NULL,"                                                                       \
    " ref TEXT,"                                                                                   \
    " before_sha TEXT,"                                                                            \
    " expected BIGINT NOT NULL DEFAULT -1,"                                                        \
    " received BIGINT NOT NULL DEFAULT 0,"                                                         \
    " recorded_at BIGINT NOT NULL,"                                                                \
    " filled INTEGER NOT NULL DEFAULT 0,"                                                          \
    " PRIMARY KEY (repo, after_sha, reason));"

/* The same tables for PostgreSQL: identities become BIGSERIAL, and paths
 * compare byte by byte (COLLATE "C") as in SQLite, which the range scans
 * below a directory rely on. */
#define POSTGRES_001                                                                               \
    "CREATE TABLE graph_repos ("                                                                   \
    " id BIGSERIAL PRIMARY KEY,"                                                                   \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " default_branch TEXT,"                                                                        \
    " commits BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_event_at BIGINT,"                                                                       \
    " import_head TEXT,"                                                                           \
    " version BIGINT NOT NULL DEFAULT 0);"                                                         \
    "CREATE TABLE graph_people ("                                                                  \
    " id BIGSERIAL PRIMARY KEY,"                                                                   \
    " name TEXT);"                                                                                 \
    "CREATE TABLE graph_identities ("                                                              \
    " kind TEXT NOT NULL,"                                                                         \
    " scope TEXT NOT NULL,"                                                                        \
    " value TEXT NOT NULL,"                                                                        \
    " person BIGINT NOT NULL,"                                                                     \
    " PRIMARY KEY (kind, scope, value));"                                                          \
    "CREATE INDEX graph_identities_person ON graph_identities (person);"                           \
    "CREATE TABLE graph_files ("                                                                   \
    " id BIGSERIAL PRIMARY KEY,"                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " path TEXT COLLATE \"C\" NOT NULL,"                                                           \
    " creator BIGINT,"                                                                             \
    " revisions BIGINT NOT NULL DEFAULT 0,"                                                        \
    " coupling_revisions BIGINT NOT NULL DEFAULT 0,"                                               \
    " deleted INTEGER NOT NULL DEFAULT 0,"                                                         \
    " last_change BIGINT NOT NULL DEFAULT 0);"                                                     \
    "CREATE INDEX graph_files_path ON graph_files (repo, path);"                     \
    "CREATE TABLE graph_paths ("                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " path TEXT COLLATE \"C\" NOT NULL,"                                                                         \
    " file BIGINT NOT NULL,"                                                                       \
    " PRIMARY KEY (repo, path));"                                                                  \
    "CREATE TABLE graph_commits ("                                                                 \
    " id BIGSERIAL PRIMARY KEY,"                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " sha TEXT NOT NULL,"                                                                          \
    " author BIGINT,"                                                                              \
    " time BIGINT NOT NULL,"                                                                       \
    " message TEXT,"                                                                               \
    " files INTEGER NOT NULL DEFAULT 0,"                                                           \
    " UNIQUE (repo, sha));"                                                                        \
    "CREATE INDEX graph_commits_author ON graph_commits (author);"                                 \
    "CREATE TABLE graph_changes ("                                                                 \
    " file BIGINT NOT NULL,"                                                                       \
    " commit_id BIGINT NOT NULL,"                                                                  \
    " status TEXT NOT NULL,"                                                                       \
    " path TEXT NOT NULL,"                                                                         \
    " old_path TEXT,"                                                                              \
    " PRIMARY KEY (file, commit_id));"                                                             \
    "CREATE TABLE graph_authorship ("                                                              \
    " file BIGINT NOT NULL,"                                                                       \
    " person BIGINT NOT NULL,"                                                                     \
    " changes BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_change BIGINT NOT NULL DEFAULT 0,"                                                      \
    " PRIMARY KEY (file, person));"                                                                \
    "CREATE INDEX graph_authorship_person ON graph_authorship (person);"                           \
    "CREATE TABLE graph_coupling ("                                                                \
    " a BIGINT NOT NULL,"                                                                          \
    " b BIGINT NOT NULL,"                                                                          \
    " shared BIGINT NOT NULL DEFAULT 0,"                                                           \
    " PRIMARY KEY (a, b));"                                                                        \
    "CREATE TABLE graph_repo_people ("                                                             \
    " repo BIGINT NOT NULL,"                                                                       \
    " person BIGINT NOT NULL,"                                                                     \
    " commits BIGINT NOT NULL DEFAULT 0,"                                                          \
    " last_change BIGINT NOT NULL DEFAULT 0,"                                                      \
    " PRIMARY KEY (repo, person));"                                                                \
    "CREATE TABLE graph_codeowners ("                                                              \
    " repo BIGINT NOT NULL,"                                                                       \
    " branch TEXT NOT NULL,"                                                                       \
    " file TEXT NOT NULL,"                                                                         \
    " text TEXT NOT NULL,"                                                                         \
    " version BIGINT NOT NULL,"                                                                    \
    " PRIMARY KEY (repo, branch));"                                                                \
    "CREATE TABLE graph_pulls ("                                                                   \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " title TEXT,"                                                                                 \
    " state TEXT NOT NULL,"                                                                        \
    " author BIGINT,"                                                                              \
    " url TEXT,"                                                                                   \
    " source_branch TEXT,"                                                                         \
    " target_branch TEXT,"                                                                         \
    " head_sha TEXT,"                                                                              \
    " merge_sha TEXT,"                                                                             \
    " created_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " updated_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " closed_at BIGINT NOT NULL DEFAULT 0,"                                                        \
    " PRIMARY KEY (repo, number));"                                                                \
    "CREATE TABLE graph_pull_reviewers ("                                                          \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " login TEXT NOT NULL,"                                                                        \
    " state TEXT NOT NULL,"                                                                        \
    " updated_at BIGINT NOT NULL DEFAULT 0,"                                                       \
    " PRIMARY KEY (repo, number, login));"                                                         \
    "CREATE TABLE graph_pull_files ("                                                              \
    " repo BIGINT NOT NULL,"                                                                       \
    " number BIGINT NOT NULL,"                                                                     \
    " path TEXT COLLATE \"C\" NOT NULL,"                                                           \
    " PRIMARY KEY (repo, number, path));"                                                          \
    "CREATE INDEX graph_pull_files_path ON graph_pull_files (repo, path);"                         \
    "CREATE TABLE graph_gaps ("                                                                    \
    " repo BIGINT NOT NULL,"                                                                       \
    " after_sha TEXT NOT NULL,"                                                                    \
    " reason TEXT NOT NULL,"                                                                       \
    " ref TEXT,"                                                                                   \
    " before_sha TEXT,"                                                                            \
    " expected BIGINT NOT NULL DEFAULT -1,"                                                        \
    " received BIGINT NOT NULL DEFAULT 0,"                                                         \
    " recorded_at BIGINT NOT NULL,"                                                                \
    " filled INTEGER NOT NULL DEFAULT 0,"                                                          \
    " PRIMARY KEY (repo, after_sha, reason));"

const struct coop_migration coop_graph_migrations[] = {
    {"graph.001", SQLITE_001, POSTGRES_001},
    {NULL, NULL, NULL},
};

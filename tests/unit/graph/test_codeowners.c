/* CODEOWNERS: the documented examples of GitHub's "About code owners" page
 * and GitLab's "Code Owners" syntax page, each pattern with paths that must
 * and must not match, plus sections, defaults and error reporting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/graph.h"

#include <string.h>

#define GH COOP_CODEOWNERS_GITHUB
#define GL COOP_CODEOWNERS_GITLAB

struct pcase {
    const char *pattern;
    const char *yes[6];
    const char *no[6];
};

static void check_cases(enum coop_codeowners_flavor f, const struct pcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 6 && cases[i].yes[j]; j++)
            if (!coop_codeowners_pattern_matches(f, cases[i].pattern, cases[i].yes[j]))
                fail_msg("'%s' should match '%s'", cases[i].pattern, cases[i].yes[j]);
        for (size_t j = 0; j < 6 && cases[i].no[j]; j++)
            if (coop_codeowners_pattern_matches(f, cases[i].pattern, cases[i].no[j]))
                fail_msg("'%s' should not match '%s'", cases[i].pattern, cases[i].no[j]);
    }
}

/* Each pattern of GitHub's example file, with the paths its comment names. */
static void test_github_patterns(void **state)
{
    static const struct pcase cases[] = {
        {"*", {"README.md", "a/b/c.txt", ".github/CODEOWNERS"}, {NULL}},
        {"*.js", {"app.js", "src/lib/app.js"}, {"app.jsx", "js/app.ts", "app.js.map"}},
        {"*.go", {"main.go", "cmd/x/main.go"}, {"main.gox", "go/main.c"}},
        {"*.txt", {"notes.txt", "a/b.txt"}, {"txt", "a.txt.bak"}},
        {"/build/logs/",
         {"build/logs/a.log", "build/logs/deep/b.log"},
         {"x/build/logs/a.log", "build/logs", "build/logsx/a"}},
        {"docs/*",
         {"docs/getting-started.md"},
         {"docs/build-app/troubleshooting.md", "x/docs/getting-started.md"}},
        {"apps/", {"apps/a.rb", "x/apps/b/c.rb", "deep/er/apps/x"}, {"apps", "myapps/a.rb", "x/apps"}},
        {"/docs/", {"docs/a.md", "docs/b/c.md"}, {"x/docs/a.md", "docs", "documents/a.md"}},
        {"/scripts/", {"scripts/run.sh", "scripts/ci/lint.sh"}, {"tools/scripts/run.sh"}},
        {"**/logs",
         {"build/logs/a.log", "scripts/logs/b", "deeply/nested/logs/c", "logs/d", "logs"},
         {"logsx/a", "build/mylogs/a"}},
        {"/apps/", {"apps/a.rb", "apps/github/b.rb"}, {"x/apps/a.rb"}},
        {"/apps/github", {"apps/github", "apps/github/b.rb"}, {"apps/githubx/a", "x/apps/github/a"}},
        /* GitHub has no ranges: "[" is an ordinary character. */
        {"[ab].md", {"[ab].md"}, {"a.md", "b.md"}},
    };
    check_cases(GH, cases, sizeof cases / sizeof *cases);
}

static const char github_example[] =
    "# This is a comment.\n"
    "# Each line is a file pattern followed by one or more owners.\n"
    "*       @global-owner1 @global-owner2\n"                          /* 3 */
    "*.js    @js-owner #This is an inline comment.\n"                  /* 4 */
    "*.go docs@example.com\n"                                          /* 5 */
    "*.txt @octo-org/octocats\n"                                       /* 6 */
    "/build/logs/ @doctocat\n"                                         /* 7 */
    "docs/*  docs@example.com\n"                                       /* 8 */
    "apps/ @octocat\n"                                                 /* 9 */
    "/docs/ @doctocat\n"                                               /* 10 */
    "/scripts/ @doctocat @octocat\n"                                   /* 11 */
    "**/logs @octocat\n"                                               /* 12 */
    "/apps/ @octocat\n"                                                /* 13 */
    "/apps/github\n";                                                  /* 14 */

static void expect_owner(const struct coop_codeowners *co, const char *path, int line,
                         size_t n_owners, const char *first)
{
    struct coop_codeowners_match m[4];
    size_t n = coop_codeowners_match(co, path, m, 4);
    if (line == 0) {
        assert_int_equal(n, 0);
        return;
    }
    if (n != 1 || m[0].line != line)
        fail_msg("%s: expected line %d, got %zu matches (line %d)", path, line, n, n ? m[0].line : 0);
    assert_int_equal(m[0].n_owners, n_owners);
    if (first)
        assert_string_equal(m[0].owners[0], first);
}

static void test_github_file_last_match_wins(void **state)
{
    struct coop_codeowners *co;
    assert_int_equal(coop_codeowners_parse(github_example, strlen(github_example), GH, &co),
                     COOP_ERR_OK);
    const struct coop_codeowners_error *errs;
    assert_int_equal(coop_codeowners_errors(co, &errs), 0);
    expect_owner(co, "README.md", 3, 2, "@global-owner1");
    expect_owner(co, "src/app.js", 4, 1, "@js-owner"); /* the inline comment is no owner */
    expect_owner(co, "cmd/main.go", 5, 1, "docs@example.com");
    expect_owner(co, "notes/a.txt", 6, 1, "@octo-org/octocats");
    expect_owner(co, "docs/getting-started.md", 10, 1, "@doctocat");
    expect_owner(co, "docs/build-app/troubleshooting.md", 10, 1, "@doctocat");
    expect_owner(co, "x/apps/a.rb", 9, 1, "@octocat");
    expect_owner(co, "apps/a.rb", 13, 1, "@octocat");
    expect_owner(co, "apps/github/a.rb", 14, 0, NULL); /* owners left empty */
    expect_owner(co, "build/logs/a.log", 12, 1, "@octocat"); /* **\/logs is later than line 7 */
    expect_owner(co, "scripts/run.sh", 11, 2, "@doctocat");
    coop_codeowners_free(co);
}

static void test_github_errors_are_not_fatal(void **state)
{
    static const char text[] = "* @all\n"
                               "!secret.txt @nobody\n"   /* 2: negation unsupported */
                               "*.md not-an-owner\n"     /* 3: invalid owner: skipped */
                               "*.c @c-team\n";          /* 4: still read */
    struct coop_codeowners *co;
    assert_int_equal(coop_codeowners_parse(text, strlen(text), GH, &co), COOP_ERR_OK);
    const struct coop_codeowners_error *errs;
    assert_int_equal(coop_codeowners_errors(co, &errs), 2);
    assert_int_equal(errs[0].line, 2);
    assert_int_equal(errs[1].line, 3);
    expect_owner(co, "x.md", 1, 1, "@all");
    expect_owner(co, "src/x.c", 4, 1, "@c-team");
    coop_codeowners_free(co);
}

/* The patterns of GitLab's example file. */
static void test_gitlab_patterns(void **state)
{
    static const struct pcase cases[] = {
        {"*.rb", {"app.rb", "lib/x/app.rb"}, {"app.rbx"}},
        {"#file_with_pound.rb", {"#file_with_pound.rb", "a/#file_with_pound.rb"}, {"file_with_pound.rb"}},
        {"CODEOWNERS", {"CODEOWNERS", ".gitlab/CODEOWNERS"}, {"CODEOWNERS.md"}},
        {"/docs/", {"docs/index.md", "docs/projects/index.md"}, {"x/docs/index.md"}},
        {"/docs/*", {"docs/index.md"}, {"docs/projects/index.md"}},
        {"/docs/**/*.md",
         {"docs/projects/index.md", "docs/development/index.md", "docs/index.md"},
         {"docs/projects/index.txt", "x/docs/a.md"}},
        {"lib/", {"lib/a.rb", "app/lib/b.rb", "a/b/lib/c/d.rb"}, {"lib", "library/a.rb"}},
        {"/config/", {"config/app.yml", "config/x/y.yml"}, {"app/config/app.yml"}},
        {"path with spaces/", {"path with spaces/file.md"}, {"path/file.md"}},
        {"ee/docs", {"ee/docs", "ee/docs/a.md"}, {"x/ee/docs/a.md"}},
        {"docs", {"docs", "docs/a.md", "x/docs/a.md"}, {"mydocs/a.md"}},
        {"data-models/", {"data-models/a.csv"}, {"data-models"}},
        /* gitignore ranges work on GitLab */
        {"[ab].md", {"a.md", "x/b.md"}, {"c.md", "[ab].md"}},
    };
    check_cases(GL, cases, sizeof cases / sizeof *cases);
}

static const char gitlab_example[] =
    "# This is an example of a CODEOWNERS file.\n"   /* 1 */
    "# app/ @commented-rule\n"                       /* 2 */
    "* @default-codeowner\n"                         /* 3 */
    "* @multiple @code @owners\n"                    /* 4 */
    "*.rb @ruby-owner\n"                             /* 5 */
    "\\#file_with_pound.rb @owner-file-with-pound\n" /* 6 */
    "CODEOWNERS @multiple @code @owners\n"           /* 7 */
    "LICENSE @legal this_does_not_match janedoe@gitlab.com\n" /* 8 */
    "README @group @group/with-nested/subgroup\n"    /* 9 */
    "/docs/ @all-docs\n"                             /* 10 */
    "/docs/* @root-docs\n"                           /* 11 */
    "/docs/**/*.md @root-docs\n"                     /* 12 */
    "lib/ @lib-owner\n"                              /* 13 */
    "/config/ @config-owner\n"                       /* 14 */
    "path\\ with\\ spaces/ @space-owner\n"           /* 15 */
    "[Documentation]\n"                              /* 16 */
    "ee/docs    @docs\n"                             /* 17 */
    "docs       @docs\n"                             /* 18 */
    "[Development] @dev-team\n"                      /* 19 */
    "*\n"                                            /* 20 */
    "README.md @docs-team\n"                         /* 21 */
    "data-models/ @data-science-team\n"              /* 22 */
    "[DOCUMENTATION]\n"                              /* 23 */
    "README.md  @docs\n"                             /* 24 */
    "^[Optional review][2] @reviewers\n"             /* 25 */
    "*.sql\n"                                        /* 26 */
    "[Broken\n";                                     /* 27 */

static void test_gitlab_sections(void **state)
{
    struct coop_codeowners *co;
    assert_int_equal(coop_codeowners_parse(gitlab_example, strlen(gitlab_example), GL, &co),
                     COOP_ERR_OK);
    const struct coop_codeowners_error *errs;
    size_t ne = coop_codeowners_errors(co, &errs);
    /* line 8's "this_does_not_match" is ignored (reported), line 27 is broken */
    assert_int_equal(ne, 2);
    assert_int_equal(errs[0].line, 8);
    assert_int_equal(errs[1].line, 27);

    struct coop_codeowners_match m[8];
    /* README.md: the default section's "*" (line 4), Documentation's line 24
     * (the [DOCUMENTATION] section is the same section), Development's 21. */
    size_t n = coop_codeowners_match(co, "README.md", m, 8);
    assert_int_equal(n, 3);
    assert_null(m[0].section);
    assert_int_equal(m[0].line, 4);
    assert_int_equal(m[0].n_owners, 3);
    assert_string_equal(m[1].section, "Documentation");
    assert_int_equal(m[1].line, 24);
    assert_string_equal(m[2].section, "Development");
    assert_int_equal(m[2].line, 21);
    assert_string_equal(m[2].owners[0], "@docs-team");

    /* An entry without owners takes its section's default owners. */
    n = coop_codeowners_match(co, "src/main.c", m, 8);
    assert_int_equal(n, 2);
    assert_int_equal(m[1].line, 20);
    assert_int_equal(m[1].n_owners, 1);
    assert_string_equal(m[1].owners[0], "@dev-team");

    /* Optional section with an approval count. */
    n = coop_codeowners_match(co, "db/schema.sql", m, 8);
    assert_int_equal(n, 3);
    assert_string_equal(m[2].section, "Optional review");
    assert_true(m[2].optional);
    assert_int_equal(m[2].approvals, 2);
    assert_string_equal(m[2].owners[0], "@reviewers");

    /* LICENSE keeps its two valid owners. */
    n = coop_codeowners_match(co, "LICENSE", m, 8);
    assert_int_equal(m[0].line, 8);
    assert_int_equal(m[0].n_owners, 2);
    assert_string_equal(m[0].owners[1], "janedoe@gitlab.com");

    n = coop_codeowners_match(co, "docs/projects/index.md", m, 8);
    assert_int_equal(m[0].line, 12);
    n = coop_codeowners_match(co, "docs/projects/index.txt", m, 8);
    assert_int_equal(m[0].line, 10);
    n = coop_codeowners_match(co, "#file_with_pound.rb", m, 8);
    assert_int_equal(m[0].line, 6);
    n = coop_codeowners_match(co, "path with spaces/a.md", m, 8);
    assert_int_equal(m[0].line, 15);
    coop_codeowners_free(co);
}

static void test_flavor_and_garbage(void **state)
{
    assert_int_equal(coop_codeowners_flavor_for("gitlab.com/g/p", "CODEOWNERS"), GL);
    assert_int_equal(coop_codeowners_flavor_for("github.com/o/r", ".github/CODEOWNERS"), GH);
    assert_int_equal(coop_codeowners_flavor_for("bitbucket.org/w/r", ".bitbucket/CODEOWNERS"),
                     COOP_CODEOWNERS_BITBUCKET);
    static const char junk[] = "\x01\x02 \xff\n[\n^\n**/**/** @a\n/ @b\n\n";
    struct coop_codeowners *co;
    for (int f = 0; f < 3; f++) {
        assert_int_equal(coop_codeowners_parse(junk, sizeof junk - 1, f, &co), COOP_ERR_OK);
        struct coop_codeowners_match m[4];
        coop_codeowners_match(co, "a/b/c", m, 4);
        coop_codeowners_free(co);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_patterns),
        cmocka_unit_test(test_github_file_last_match_wins),
        cmocka_unit_test(test_github_errors_are_not_fatal),
        cmocka_unit_test(test_gitlab_patterns),
        cmocka_unit_test(test_gitlab_sections),
        cmocka_unit_test(test_flavor_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Signature schemes: the published test vectors of GitHub, Slack and
 * Standard Webhooks pass; wrong, missing, truncated, stale and replayed
 * signatures are refused; a source without a configured secret refuses
 * everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coop/config.h"
#include "coop/webhook.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY "Hello, World!"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

#define SLACK_SECRET "8f742231b10e8888abcd99yyyzzz85a5"
#define SLACK_TS "1531420618"
#define SLACK_BODY                                                                                 \
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="         \
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"     \
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"             \
    "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."               \
    "803a0bc887a14d10d2c447fce8b6703c"
#define SLACK_SIG "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
#define SLACK_NOW (1531420618LL * 1000)

#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS "1614265330"
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_NOW (1614265330LL * 1000)

static void test_github_vector(void **state)
{
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY), GH_SIG),
                     COOP_ERR_OK);
    /* wrong secret, wrong body, missing, other algorithm, truncated, extended */
    assert_int_equal(
        coop_webhook_verify_hub("It's a Secret to Everybody!", GH_BODY, strlen(GH_BODY), GH_SIG),
        COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, "Hello, World?", 13, GH_SIG),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, 12, GH_SIG), COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY), NULL),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY),
                                             "sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
                     COOP_ERR_AUTH);
    char truncated[] = GH_SIG;
    truncated[sizeof truncated - 2] = '\0';
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY), truncated),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY), GH_SIG "00"),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_hub(GH_SECRET, GH_BODY, strlen(GH_BODY), "sha256="),
                     COOP_ERR_AUTH);
    /* no secret: refused whatever is presented */
    assert_int_equal(coop_webhook_verify_hub(NULL, GH_BODY, strlen(GH_BODY), GH_SIG),
                     COOP_ERR_CONFIG);
    assert_int_equal(coop_webhook_verify_hub("", GH_BODY, strlen(GH_BODY), GH_SIG),
                     COOP_ERR_CONFIG);
}

static void test_slack_vector(void **state)
{
    size_t n = strlen(SLACK_BODY);
    assert_int_equal(
        coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n, SLACK_SIG, SLACK_NOW),
        COOP_ERR_OK);
    /* within the window on both sides */
    assert_int_equal(coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n, SLACK_SIG,
                                               SLACK_NOW + 299 * 1000),
                     COOP_ERR_OK);
    /* stale: a replay six minutes later, and a timestamp from the future */
    assert_int_equal(coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n, SLACK_SIG,
                                               SLACK_NOW + 301 * 1000),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n, SLACK_SIG,
                                               SLACK_NOW - 301 * 1000),
                     COOP_ERR_AUTH);
    /* replayed signature under a fresh timestamp */
    assert_int_equal(coop_webhook_verify_slack(SLACK_SECRET, "1531420718", SLACK_BODY, n, SLACK_SIG,
                                               SLACK_NOW + 100 * 1000),
                     COOP_ERR_AUTH);
    /* wrong, missing, truncated, bad timestamp */
    assert_int_equal(coop_webhook_verify_slack("8f742231b10e8888abcd99yyyzzz85a6", SLACK_TS,
                                               SLACK_BODY, n, SLACK_SIG, SLACK_NOW),
                     COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n, NULL, SLACK_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_slack(SLACK_SECRET, NULL, SLACK_BODY, n, SLACK_SIG, SLACK_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_slack(SLACK_SECRET, "15314206l8", SLACK_BODY, n, SLACK_SIG, SLACK_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n,
                                               "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d2",
                                               SLACK_NOW),
                     COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_slack(SLACK_SECRET, SLACK_TS, SLACK_BODY, n - 1, SLACK_SIG, SLACK_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_slack(NULL, SLACK_TS, SLACK_BODY, n, SLACK_SIG, SLACK_NOW),
                     COOP_ERR_CONFIG);
}

static void test_standard_vector(void **state)
{
    size_t n = strlen(SW_BODY);
    assert_int_equal(
        coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n, SW_SIG, SW_NOW),
        COOP_ERR_OK);
    /* several signatures, one of which matches (key rotation) */
    assert_int_equal(coop_webhook_verify_standard(
                         SW_SECRET, SW_ID, SW_TS, SW_BODY, n,
                         "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " SW_SIG, SW_NOW),
                     COOP_ERR_OK);
    /* another version, another id (replay under a new id), stale, body changed */
    assert_int_equal(
        coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n,
                                     "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SW_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_standard(SW_SECRET, "msg_other", SW_TS, SW_BODY, n, SW_SIG, SW_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n, SW_SIG,
                                                  SW_NOW + 6 * 60 * 1000),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, "{\"test\": 2432232315}",
                                                  n, SW_SIG, SW_NOW),
                     COOP_ERR_AUTH);
    /* missing, truncated, empty */
    assert_int_equal(
        coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n, NULL, SW_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(
        coop_webhook_verify_standard(SW_SECRET, NULL, SW_TS, SW_BODY, n, SW_SIG, SW_NOW),
        COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n,
                                                  "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlN",
                                                  SW_NOW),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_standard(SW_SECRET, SW_ID, SW_TS, SW_BODY, n, "", SW_NOW),
                     COOP_ERR_AUTH);
    assert_int_equal(coop_webhook_verify_standard(NULL, SW_ID, SW_TS, SW_BODY, n, SW_SIG, SW_NOW),
                     COOP_ERR_CONFIG);
}

/* ---- through the sources, with headers and configuration ------------------- */

struct hdrs {
    const char *names[6];
    const char *values[6];
};

static const char *get_header(const void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (int i = 0; i < 6 && h->names[i]; i++)
        if (!strcasecmp(h->names[i], name))
            return h->values[i];
    return NULL;
}

static void test_sources_need_a_secret(void **state)
{
    struct coop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    unsetenv("COOP_GITHUB_WEBHOOK_SECRET");
    unsetenv("COOP_GITLAB_WEBHOOK_TOKEN");
    unsetenv("COOP_GITLAB_SIGNING_KEY");
    unsetenv("COOP_BITBUCKET_WEBHOOK_SECRET");
    unsetenv("COOP_SLACK_SIGNING_SECRET");
    struct hdrs h = {{"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitlab-Token"},
                     {GH_SIG, GH_SIG, "tok"}};
    struct coop_webhook_input in = {GH_BODY, strlen(GH_BODY), get_header, &h, SW_NOW};
    for (size_t i = 0; coop_webhook_sources[i]; i++)
        assert_int_equal(coop_webhook_sources[i]->verify(&cfg, &in), COOP_ERR_CONFIG);

    coop_config_override(&cfg, "COOP_GITHUB_WEBHOOK_SECRET", GH_SECRET);
    coop_config_override(&cfg, "COOP_BITBUCKET_WEBHOOK_SECRET", GH_SECRET);
    assert_int_equal(coop_webhook_github.verify(&cfg, &in), COOP_ERR_OK);
    assert_int_equal(coop_webhook_bitbucket.verify(&cfg, &in), COOP_ERR_OK);

    /* GitLab: the token alone; then the token and the signing key together. */
    coop_config_override(&cfg, "COOP_GITLAB_WEBHOOK_TOKEN", "tok");
    assert_int_equal(coop_webhook_gitlab.verify(&cfg, &in), COOP_ERR_OK);
    struct hdrs wrong = {{"X-Gitlab-Token"}, {"tok2"}};
    struct coop_webhook_input bad = {GH_BODY, strlen(GH_BODY), get_header, &wrong, SW_NOW};
    assert_int_equal(coop_webhook_gitlab.verify(&cfg, &bad), COOP_ERR_AUTH);
    coop_config_override(&cfg, "COOP_GITLAB_SIGNING_KEY", SW_SECRET);
    assert_int_equal(coop_webhook_gitlab.verify(&cfg, &in), COOP_ERR_AUTH);
    struct hdrs sw = {{"X-Gitlab-Token", "webhook-id", "webhook-timestamp", "webhook-signature"},
                      {"tok", SW_ID, SW_TS, SW_SIG}};
    struct coop_webhook_input signed_in = {SW_BODY, strlen(SW_BODY), get_header, &sw, SW_NOW};
    assert_int_equal(coop_webhook_gitlab.verify(&cfg, &signed_in), COOP_ERR_OK);
    signed_in.now_ms += 10 * 60 * 1000;
    assert_int_equal(coop_webhook_gitlab.verify(&cfg, &signed_in), COOP_ERR_AUTH);
}

int main(void)
{
    coop_core_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_vector),
        cmocka_unit_test(test_slack_vector),
        cmocka_unit_test(test_standard_vector),
        cmocka_unit_test(test_sources_need_a_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The built-in rule set. Each rule has a stable id (it appears in redacted
 * text, audit rows and the attestation), a one-line description, a cheap
 * Vectorscan prefilter and a PCRE2 pattern that finds the exact span.
 *
 * Writing a rule: the prefilter must match (at least) wherever the pattern
 * does, and the pattern's match must start no more than `back` bytes before
 * the place where the prefilter's match ends. Capture group 1 (use branch
 * reset "(?|...)" for alternatives) is the part replaced; tokens that carry
 * their own prefix are replaced whole, assignments keep their name.
 */
#include "sanitize_int.h"

#include <hs.h>

/* Token edges: a secret is not part of a longer word. */
#define LB "(?<![A-Za-z0-9_])"
#define RB "(?![A-Za-z0-9_])"
#define RBD "(?![A-Za-z0-9_\\-])"

/* name<quote> <type annotation> <operator> <quote>: the parts of an
 * assignment in C, TypeScript, Python, Go, YAML, JSON, .env, ini, Makefiles,
 * with JSON-escaped quotes allowed (a payload inside a payload). */
#define HQ "\\\\?[\"'`]?"
#define SP "[ \\t]{0,8}"
#define TYPE_ANN "(?::[ \\t]{0,4}[A-Za-z<>\\[\\]|]{1,24}[ \\t]{0,4})?"
#define OP "(?:=>|:=|\\?=|\\|\\|=|=|:)"
#define ASSIGN HQ SP TYPE_ANN OP SP
/* A quoted value without blanks, or a bare one that cannot start an
 * expression (no call, index, pointer, variable or template). */
#define QVAL(min) "\\\\?[\"'`]([^\"'`\\s\\\\]{" min ",512})\\\\?[\"'`]"
#define UVAL(min)                                                                                  \
    "([^\\s\"'`,;()\\[\\]{}<>\\\\$&*@|#!=+][^\\s\"'`,;()\\[\\]{}<>\\\\&]{" min ",511})"
#define VALUE(qmin, umin) "(?|" QVAL(qmin) "|" UVAL(umin) ")"
/* The prefilter's view of the same: a value of at least n bytes begins. */
#define HS_VALUE(n) "\\\\?[\"'`]?[^\\s\"'`]{" n "}"

#define SECRET_NAMES                                                                               \
    "(?:secret|token|api[_.\\-]?key|access[_.\\-]?key|credentials?|"                               \
    "(?:private|secret|auth|signing|encryption|master|storage|account|app|license|"                \
    "subscription)[_.\\-]?key)"
#define PASSWORD_NAMES_HS "(?:password|passwd|passphrase|pass|pwd)"
#define PASSWORD_NAMES "(?:password|passwd|passphrase|(?<![A-Za-z])pass|(?<![A-Za-z])pwd)"
#define HEADER_NAMES                                                                               \
    "(?:authorization|x-api-key|api-key|x-auth-token|private-token|x-goog-api-key|"                \
    "ocp-apim-subscription-key)"
#define GITLAB_PREFIX "(?:gl(?:pat|dt|rt|ptt|cbt|imt|soat|oas|agent|ffct|ft)-|GR1348941)"

#define SECRETS COOP_SANITIZE_SECRETS
#define PII COOP_SANITIZE_PII

const struct sanitize_rule coop_sanitize_rule_table[] = {
    /* ---- cloud providers ---- */
    {
        .info = {"aws-access-key-id", "AWS access key ID (AKIA, ASIA, ABIA, ACCA, A3T prefixes)",
                 SECRETS, "aws"},
        .prefilter = "(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
        .pattern = LB "((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})" RB,
        .back = 24,
        .fwd = 8,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 2.5,
        .min_len = 20,
    },
    {
        .info = {"aws-secret-access-key",
                 "AWS secret access key (40 characters) assigned to an aws_secret_access_key-like "
                 "name, as in ~/.aws/credentials, env files, JSON and code",
                 SECRETS, "aws"},
        .prefilter = "secret[_.\\-]?(?:access[_.\\-]?)?key" HQ SP TYPE_ANN OP SP
                     "\\\\?[\"'`]?[A-Za-z0-9/+]{40}",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)secret[_.\\-]?(?:access[_.\\-]?)?key" ASSIGN
                   "\\\\?[\"'`]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        .back = 128,
        .fwd = 8,
        .priority = 1,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.8,
        .min_len = 40,
    },
    {
        .info = {"aws-session-token",
                 "AWS session token assigned to an aws_session_token-like name", SECRETS, "aws"},
        .prefilter = "session[_.\\-]?token" HQ SP TYPE_ANN OP SP "\\\\?[\"'`]?[A-Za-z0-9/+=]{16}",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)session[_.\\-]?token" ASSIGN
                   "\\\\?[\"'`]?([A-Za-z0-9/+=]{100,4096})(?![A-Za-z0-9/+=])",
        .back = 112,
        .fwd = 4200,
        .priority = 1,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 4.0,
        .min_len = 100,
    },
    {
        .info = {"google-api-key", "Google API key (AIza...)", SECRETS, "google"},
        .prefilter = "AIza[0-9A-Za-z_\\-]{35}",
        .pattern = LB "(AIza[0-9A-Za-z_\\-]{35})" RBD,
        .back = 48,
        .fwd = 8,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 39,
        .no_words = true,
    },
    {
        .info = {"gcp-service-account-key",
                 "Google Cloud service-account private key (the private_key field of its JSON)",
                 SECRETS, "google"},
        .prefilter = "\"private_key\"[ \\t]{0,8}:[ \\t]{0,8}\"-----BEGIN",
        .pattern = "\"private_key\"[ \\t]{0,8}:[ \\t]{0,8}\"(-----BEGIN[A-Z ]{0,20}PRIVATE "
                   "KEY-----[A-Za-z0-9+/=\\\\\\s]{64,16000}?-----END[A-Z ]{0,20}PRIVATE "
                   "KEY-----(?:\\\\n)?)\"",
        .back = 64,
        .fwd = 16400,
        .priority = 0,
        .check = SANITIZE_CHECK_PEM,
    },
    {
        .info = {"azure-storage-key",
                 "Azure storage account or Service Bus key (AccountKey=, SharedAccessKey=)",
                 SECRETS, "azure"},
        .prefilter = "(?:AccountKey|SharedAccessKey)[ \\t]{0,8}=[ \\t]{0,8}[A-Za-z0-9+/]{20}",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)(?:AccountKey|SharedAccessKey)[ \\t]{0,8}=[ \\t]{0,8}"
                   "([A-Za-z0-9+/]{40,100}={0,2})(?![A-Za-z0-9+/=])",
        .back = 64,
        .fwd = 110,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.8,
        .min_len = 40,
    },
    {
        .info = {"azure-sas-signature", "Azure shared access signature (sig= in a SAS URL)",
                 SECRETS, "azure"},
        .prefilter = "[?&]sig=[A-Za-z0-9%+/=]{30}",
        .pattern = "[?&]sig=([A-Za-z0-9%+/=]{30,200})(?![A-Za-z0-9%+/=])",
        .back = 40,
        .fwd = 180,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.5,
        .min_len = 30,
    },

    /* ---- code hosts and package registries ---- */
    {
        .info = {"github-token",
                 "GitHub token: classic personal access, OAuth, user-to-server, server-to-server "
                 "or refresh (ghp_, gho_, ghu_, ghs_, ghr_)",
                 SECRETS, "github"},
        .prefilter = "gh[pousr]_[A-Za-z0-9]{36}",
        .pattern = LB "(gh[pousr]_[A-Za-z0-9]{36,251})" RB,
        .back = 48,
        .fwd = 260,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 40,
        .no_words = true,
    },
    {
        .info = {"github-fine-grained-token",
                 "GitHub fine-grained personal access token (github_pat_)", SECRETS, "github"},
        .prefilter = "github_pat_[A-Za-z0-9_]{22}",
        .pattern = LB "(github_pat_[A-Za-z0-9_]{22,242})" RB,
        .back = 40,
        .fwd = 260,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 33,
        .no_words = true,
    },
    {
        .info = {"gitlab-token",
                 "GitLab token: personal, deploy, runner, trigger, CI job, OAuth, agent, feed "
                 "(glpat-, gldt-, glrt-, glptt-, ... and runner registration GR1348941)",
                 SECRETS, "gitlab"},
        .prefilter = GITLAB_PREFIX "[A-Za-z0-9_\\-]{20}",
        .pattern =
            LB "(" GITLAB_PREFIX "[A-Za-z0-9_\\-]{20,200}(?:\\.[A-Za-z0-9_\\-]{2,100}){0,3})" RBD,
        .back = 40,
        .fwd = 420,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 24,
        .no_words = true,
    },
    {
        .info = {"npm-token", "npm access token (npm_...) or an .npmrc _authToken value", SECRETS,
                 "npm"},
        .prefilter = "npm_[A-Za-z0-9]{36}|:_authToken",
        .pattern = "(?|" LB "(npm_[A-Za-z0-9]{36})" RB
                   "|:_authToken[ \\t]{0,8}=[ \\t]{0,8}([^\\s'\"`$]{8,300}))",
        .back = 48,
        .fwd = 330,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 8,
        .no_words = true,
    },
    {
        .info = {"pypi-token", "PyPI or TestPyPI API token (pypi-AgE...)", SECRETS, "pypi"},
        .prefilter = "pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)",
        .pattern = LB "(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\\-]{50,400})" RBD,
        .back = 48,
        .fwd = 440,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.5,
        .min_len = 60,
    },

    /* ---- SaaS and model providers ---- */
    {
        .info = {"slack-token",
                 "Slack token: bot, user, app, refresh, configuration (xoxb-, xoxp-, xoxa-, xoxe-, "
                 "xapp-, ...)",
                 SECRETS, "slack"},
        .prefilter = "xox[abposre][.\\-]|xapp-[0-9]-",
        .pattern = LB "(xox(?:[abposr]|e(?:\\.xox[bp])?)-[0-9A-Za-z\\-]{10,250}"
                      "|xapp-\\d-[0-9A-Za-z\\-]{20,250})" RBD,
        .back = 16,
        .fwd = 270,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 15,
        .no_words = true,
    },
    {
        .info = {"slack-webhook-url",
                 "Slack incoming webhook or workflow URL (hooks.slack.com path)", SECRETS, "slack"},
        .prefilter = "hooks\\.slack\\.com/(?:services|workflows|triggers)/",
        .pattern =
            "hooks\\.slack\\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/+\\-]{20,200})",
        .back = 40,
        .fwd = 220,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 20,
        .no_words = true,
    },
    {
        .info = {"stripe-key",
                 "Stripe secret or restricted key (sk_live_, rk_test_, ...) or webhook "
                 "signing secret (whsec_)",
                 SECRETS, "stripe"},
        .prefilter = "(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10}|whsec_[A-Za-z0-9+/]{24}",
        .pattern = "(?|" LB "((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,247})" RB "|" LB
                   "(whsec_[A-Za-z0-9+/=]{24,100})" RB ")",
        .back = 40,
        .fwd = 270,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 18,
        .no_words = true,
    },
    {
        .info = {"openai-api-key", "OpenAI API key (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-)",
                 SECRETS, "openai"},
        .prefilter = "sk-(?:proj|svcacct|admin)-|T3BlbkFJ|sk-[A-Za-z0-9]{48}",
        .pattern = LB "(sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\\-]{20,250}"
                      "|[A-Za-z0-9_\\-]{0,80}T3BlbkFJ[A-Za-z0-9_\\-]{16,200}|[A-Za-z0-9]{48}))" RBD,
        .back = 100,
        .fwd = 270,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 4.0,
        .min_len = 40,
        .no_words = true,
    },
    {
        .info = {"anthropic-api-key", "Anthropic API or admin key (sk-ant-api03-, sk-ant-admin01-)",
                 SECRETS, "anthropic"},
        .prefilter = "sk-ant-[a-z]{2,8}[0-9]{2}-",
        .pattern = LB "(sk-ant-[a-z]{2,8}\\d{2}-[A-Za-z0-9_\\-]{32,300})" RBD,
        .back = 24,
        .fwd = 320,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.5,
        .min_len = 45,
        .no_words = true,
    },
    {
        .info = {"twilio-api-key", "Twilio API key SID (SK + 32 hex)", SECRETS, "twilio"},
        .prefilter = "SK[0-9a-fA-F]{32}",
        .pattern = LB "(SK[0-9a-fA-F]{32})" RB,
        .back = 40,
        .fwd = 8,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 34,
    },
    {
        .info = {"twilio-auth-token", "Twilio auth token (32 hex) assigned to a twilio..token name",
                 SECRETS, "twilio"},
        .prefilter = "twilio[A-Za-z0-9_.\\-]{0,30}(?:token|secret)",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)twilio[A-Za-z0-9_.\\-]{0,30}?(?:token|secret)" ASSIGN
                   "\\\\?[\"'`]?([0-9a-f]{32})(?![0-9A-Za-z])",
        .back = 48,
        .fwd = 80,
        .priority = 1,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 32,
    },
    {
        .info = {"sendgrid-api-key", "SendGrid API key (SG.<22>.<43>)", SECRETS, "sendgrid"},
        .prefilter = "SG\\.[A-Za-z0-9_\\-]{22}\\.[A-Za-z0-9_\\-]{43}",
        .pattern = LB "(SG\\.[A-Za-z0-9_\\-]{22}\\.[A-Za-z0-9_\\-]{43})" RBD,
        .back = 80,
        .fwd = 8,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.5,
        .min_len = 69,
        .no_words = true,
    },

    /* ---- formats ---- */
    {
        .info = {"private-key",
                 "PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8, encrypted, PGP), with "
                 "real or escaped newlines, also when its END line is missing",
                 SECRETS, "private-key"},
        .prefilter = "-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY",
        .pattern = "-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
                   "(?:[\\s\\S]{0,16000}?-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
                   "|(?:(?:\\\\r|\\r)?(?:\\\\n|\\n|[ \\t]+)[A-Za-z0-9+/=]{16,100})+)",
        .back = 64,
        .fwd = 16200,
        .priority = 1,
        .check = SANITIZE_CHECK_PEM,
    },
    {
        .info = {"jwt", "JSON Web Token (three base64url parts, header and payload JSON)", SECRETS,
                 "jwt"},
        .prefilter = "eyJ[A-Za-z0-9_\\-]{10}[A-Za-z0-9_\\-]*\\.eyJ",
        .pattern = LB "(eyJ[A-Za-z0-9_\\-]{10,2000}\\.eyJ[A-Za-z0-9_\\-]{10,8000}"
                      "\\.[A-Za-z0-9_\\-]{10,2000})" RBD,
        .back = 2048,
        .fwd = 10100,
        .priority = 0,
        .check = SANITIZE_CHECK_TOKEN,
        .min_entropy = 3.0,
        .min_len = 40,
    },
    {
        .info = {"url-credentials",
                 "Password inside a URL or connection URI (scheme://user:password@host)", SECRETS,
                 "url-credentials"},
        .prefilter = "://[^\\s:/@'\"`<>]{0,128}:[^\\s/'\"`<>]{1,256}@",
        .pattern = "(?i)" LB "[a-z][a-z0-9+.\\-]{1,30}://[^\\s:/@'\"`<>{}\\[\\]]{0,128}:"
                   "([^\\s/'\"`<>]{1,256})@[A-Za-z0-9._\\-\\[]",
        .back = 448,
        .fwd = 300,
        .priority = 1,
        .check = SANITIZE_CHECK_URL,
    },
    {
        .info = {"connection-string-password",
                 "Password=/Pwd= in a semicolon-separated connection string (SQL Server, ADO.NET, "
                 "ODBC, JDBC properties)",
                 SECRETS, "connection-string"},
        .prefilter = ";[ \\t]{0,8}(?:password|pwd)[ \\t]{0,8}=|"
                     "(?:password|pwd)[ \\t]{0,8}=[^;\\r\\n]{1,130};",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?im)(?|(?<=;)[ \\t]{0,8}(?:password|pwd)[ \\t]{0,8}=[ \\t]{0,8}"
                   "(?|'([^'\\r\\n]{1,128})'|\\{([^}\\r\\n]{1,128})\\}|([^;\\r\\n\"'`]{1,128}?))"
                   "[ \\t]*(?=;|[\"'`]|$)"
                   "|(?:^|(?<=[\"'`]))[ \\t]{0,8}(?:password|pwd)[ \\t]{0,8}=[ \\t]{0,8}"
                   "(?|'([^'\\r\\n]{1,128})'|\\{([^}\\r\\n]{1,128})\\}|([^;\\r\\n\"'`]{1,128}?))"
                   "[ \\t]*;)",
        .back = 192,
        .fwd = 200,
        .priority = 1,
        .check = SANITIZE_CHECK_CONNECTION,
    },
    {
        .info = {"authorization-header",
                 "Credential in an Authorization, X-API-Key, Private-Token or similar header",
                 SECRETS, "authorization-header"},
        .prefilter =
            HEADER_NAMES "[\"'`\\\\]{0,2}[ \\t]{0,8}[:=,][ \\t]{0,8}[\"'`\\\\]{0,2}[ \\t]{0,8}"
                         "(?:(?:bearer|basic|token|bot|apikey|sso-key|ssws|key)[ \\t]+)?"
                         "[A-Za-z0-9._~+/=\\-:]{8}",
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)" HEADER_NAMES HQ SP "[:=,]" SP "\\\\?[\"'`]?" SP
                   "(?:(?:bearer|basic|token|bot|apikey|sso-key|ssws|key)[ \\t]+)?"
                   "([A-Za-z0-9._~+/=\\-:]{8,2048})(?![A-Za-z0-9._~+/=\\-:])",
        .back = 48,
        .fwd = 2100,
        .priority = 1,
        .check = SANITIZE_CHECK_HEADER,
        .min_entropy = 2.5,
        .min_len = 8,
    },

    /* ---- generic assignments ---- */
    {
        .info = {"generic-secret",
                 "High-entropy value assigned to a name ending in secret, token, api_key, "
                 "access_key, private_key, client_secret, credentials and the like",
                 SECRETS, "generic"},
        .prefilter = SECRET_NAMES HQ SP TYPE_ANN OP SP HS_VALUE("8"),
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)" SECRET_NAMES ASSIGN VALUE("8", "7"),
        .back = 96,
        .fwd = 530,
        .priority = 2,
        .check = SANITIZE_CHECK_GENERIC,
        .min_entropy = 3.0,
        .min_len = 10,
    },
    {
        .info = {"password-assignment",
                 "Literal value assigned to a name ending in password, passwd, passphrase, pass "
                 "or pwd",
                 SECRETS, "generic"},
        .prefilter = PASSWORD_NAMES_HS HQ SP TYPE_ANN OP SP HS_VALUE("6"),
        .prefilter_flags = HS_FLAG_CASELESS,
        .pattern = "(?i)" PASSWORD_NAMES ASSIGN VALUE("6", "5"),
        .back = 96,
        .fwd = 530,
        .priority = 2,
        .check = SANITIZE_CHECK_PASSWORD,
        .min_entropy = 2.0,
        .min_len = 6,
    },

    /* ---- personal data (off unless the policy enables it) ---- */
    {
        .info = {"email-address", "Email address (not at example or test domains)", PII, "pii"},
        .prefilter = "@[A-Za-z0-9][A-Za-z0-9.\\-]{0,250}\\.[A-Za-z]{2}",
        /* Not the password@host of URL credentials (mailto: is fine). */
        .pattern = "(?:(?<=mailto:)|(?<![A-Za-z0-9._%+\\-/"
                   ":]))([A-Za-z0-9._%+\\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,62}"
                   "[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,62}[A-Za-z0-9])?){0,8}"
                   "\\.[A-Za-z]{2,24})(?![A-Za-z0-9\\-])",
        .back = 340,
        .fwd = 40,
        .priority = 3,
        .check = SANITIZE_CHECK_EMAIL,
    },
    {
        .info = {"ipv4-address", "IPv4 address (not loopback, unspecified or broadcast)", PII,
                 "pii"},
        .prefilter = "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        .pattern = "(?<![0-9A-Za-z.])((?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}"
                   "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d))(?![0-9]|\\.[0-9])",
        .back = 20,
        .fwd = 4,
        .priority = 3,
        .check = SANITIZE_CHECK_IPV4,
    },
};

const size_t coop_sanitize_rule_count =
    sizeof coop_sanitize_rule_table / sizeof coop_sanitize_rule_table[0];

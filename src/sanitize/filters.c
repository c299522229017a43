/*
 * Whether a span a rule's pattern confirmed is a secret worth redacting.
 * Redacting an identifier breaks the answer the developer asked for, so
 * placeholders (YOUR_API_KEY, xxxx, ${SECRET}, process.env.X, <token>),
 * identifiers made of words (accessTokenValue, SECRET_FROM_ENV), paths,
 * numbers and low-entropy values are left alone. Every function here reads
 * exactly the len bytes it is given, whatever they are.
 */
#include "sanitize_int.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

double coop_sanitize_entropy(const char *text, size_t len)
{
    if (len == 0)
        return 0.0;
    unsigned counts[256] = {0};
    for (size_t i = 0; i < len; i++)
        counts[(unsigned char)text[i]]++;
    double h = 0.0;
    for (unsigned c = 0; c < 256; c++) {
        if (!counts[c])
            continue;
        double p = (double)counts[c] / (double)len;
        h -= p * log2(p);
    }
    return h;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

/* Case-insensitive search of an ASCII lowercase needle in the bytes. */
static bool contains(const char *text, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n > len)
        return false;
    for (size_t i = 0; i + n <= len; i++) {
        size_t j = 0;
        while (j < n && lower((unsigned char)text[i + j]) == (unsigned char)needle[j])
            j++;
        if (j == n)
            return true;
    }
    return false;
}

static bool equals_any(const char *text, size_t len, const char *const *words)
{
    for (; *words; words++) {
        size_t n = strlen(*words);
        if (n != len)
            continue;
        size_t j = 0;
        while (j < n && lower((unsigned char)text[j]) == (unsigned char)(*words)[j])
            j++;
        if (j == n)
            return true;
    }
    return false;
}

/* Words that only placeholders, templates and documentation contain
 * (lower case; matched case-insensitively anywhere in the value). */
#define W(s)                                                                                       \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
static const struct {
    const char *s;
    size_t n;
} placeholder_words[] = {
    W("your"),        W("${"),         W("{{"),          W("}}"),       W("process.env"),
    W("os.environ"),  W("getenv"),     W("example"),     W("xxxx"),     W("****"),
    W("...."),        W("redacted"),   W("placeholder"), W("changeme"), W("change_me"),
    W("dummy"),       W("replace"),    W("insert"),      W("fake"),     W("sample"),
    W("<"),           W(">"),          W("%s"),          W("{0}"),      W("{}"),
    W("secret_here"), W("token_here"), W("key_here"),    W("foobar"),   W("lorem"),
    W("12345678"),    W("abcdefgh"),
};
#undef W

/* A run of 6 identical bytes: 000000, aaaaaa, ------. */
static bool has_long_run(const char *text, size_t len)
{
    size_t run = 1;
    for (size_t i = 1; i < len; i++) {
        run = text[i] == text[i - 1] ? run + 1 : 1;
        if (run >= 6)
            return true;
    }
    return false;
}

#define NWORDS (sizeof placeholder_words / sizeof *placeholder_words)
_Static_assert(NWORDS <= 64, "one bit per placeholder word");

/* For each byte, the placeholder words starting with it (a bit per word). */
static uint64_t word_starts[256];
static pthread_once_t word_starts_once = PTHREAD_ONCE_INIT;

static void build_word_starts(void)
{
    for (size_t w = 0; w < NWORDS; w++)
        word_starts[(unsigned char)placeholder_words[w].s[0]] |= 1ull << w;
}

/* One pass over the value: at each byte only the words starting with it are
 * compared. */
static bool has_placeholder_word(const char *text, size_t len)
{
    pthread_once(&word_starts_once, build_word_starts);
    for (size_t i = 0; i < len; i++) {
        uint64_t m = word_starts[lower((unsigned char)text[i])];
        while (m) {
            unsigned w = (unsigned)__builtin_ctzll(m);
            m &= m - 1;
            size_t n = placeholder_words[w].n;
            if (len - i < n)
                continue;
            size_t j = 1;
            while (j < n &&
                   lower((unsigned char)text[i + j]) == (unsigned char)placeholder_words[w].s[j])
                j++;
            if (j == n)
                return true;
        }
    }
    return false;
}

static bool is_placeholder(const char *text, size_t len)
{
    /* $TOKEN, $env:TOKEN, $(cat file): a shell or PowerShell reference. */
    if (len >= 2 && text[0] == '$' &&
        (is_alpha((unsigned char)text[1]) || text[1] == '(' || text[1] == '{' || text[1] == '_'))
        return true;
    return has_long_run(text, len) || has_placeholder_word(text, len);
}

static bool all_letters(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!is_alpha(c) && c != '_' && c != '-' && c != '.')
            return false;
    }
    return true;
}

static bool no_letters(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (is_alpha((unsigned char)text[i]))
            return false;
    return true;
}

/* 0x1f2e3d4c5b6a: a number in code, not a secret. */
static bool hex_literal(const char *text, size_t len)
{
    if (len < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return false;
    for (size_t i = 2; i < len; i++) {
        unsigned char c = lower((unsigned char)text[i]);
        if (!is_digit(c) && !(c >= 'a' && c <= 'f') && c != '_' && c != 'u' && c != 'l')
            return false;
    }
    return true;
}

static bool path_or_url(const char *text, size_t len)
{
    if (len >= 1 && (text[0] == '/' || text[0] == '~'))
        return true;
    if (len >= 2 && text[0] == '.' && (text[1] == '/' || text[1] == '.'))
        return true;
    if (len >= 3 && is_alpha((unsigned char)text[0]) && text[1] == ':' &&
        (text[2] == '\\' || text[2] == '/'))
        return true;
    return contains(text, len, "://");
}

/*
 * Made of words, as identifiers and prose are: split on separators, case
 * changes and letter/digit changes, the bytes in words of three letters or
 * more make up nearly all of it (accessTokenValue2, SECRET_FROM_ENV,
 * my-api-token). Random strings break into short pieces.
 */
static bool wordy_count(const char *text, size_t len, unsigned *words /* OUT */)
{
    size_t in_words = 0, seps = 0, digits = 0;
    *words = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        if (is_alpha(c)) {
            size_t j = i + 1;
            if (is_upper(c)) {
                /* Capitalized word, or an upper-case run (not taking the
                 * capital that starts the next word: HTTPServer). */
                if (j < len && !is_upper((unsigned char)text[j])) {
                    while (j < len && is_alpha((unsigned char)text[j]) &&
                           !is_upper((unsigned char)text[j]))
                        j++;
                } else {
                    while (j < len && is_upper((unsigned char)text[j]))
                        j++;
                    if (j < len && is_alpha((unsigned char)text[j]) && j - i > 1)
                        j--;
                }
            } else {
                while (j < len && is_alpha((unsigned char)text[j]) &&
                       !is_upper((unsigned char)text[j]))
                    j++;
            }
            if (j - i >= 3) {
                in_words += j - i;
                (*words)++;
            }
            i = j;
        } else {
            if (is_digit(c))
                digits++;
            else
                seps++;
            i++;
        }
    }
    if (digits > 4)
        return false;
    return (in_words + seps) * 100 >= len * 85;
}

static bool wordy(const char *text, size_t len)
{
    unsigned words;
    return wordy_count(text, len, &words);
}

/* Naming a password, with at most digits and punctuation after the
 * letters: myPassword, Password, db_pass, password123, secret!. */
static bool names_password(const char *text, size_t len)
{
    size_t n = len;
    while (n > 0 && !is_alpha((unsigned char)text[n - 1]))
        n--;
    return n > 0 && all_letters(text, n) &&
           (contains(text, n, "pass") || contains(text, n, "pwd") || contains(text, n, "secret") ||
            contains(text, n, "changeme") || contains(text, n, "admin"));
}

static const char *const weak_words[] = {
    "password", "pass", "passwd", "pwd", "pw", "secret", "changeme", "admin:admin", NULL,
};

static bool check_generic(const struct sanitize_rule *r, const char *v, size_t n)
{
    if (n < r->min_len || all_letters(v, n) || no_letters(v, n) || hex_literal(v, n) ||
        wordy(v, n) || path_or_url(v, n) || is_placeholder(v, n))
        return false;
    return coop_sanitize_entropy(v, n) >= r->min_entropy;
}

/* A quoted password may be one word and a digit (hunter2); several words
 * (myPasswordValue) or a bare one (password: hunter2 in code is likelier
 * an identifier) are not taken. */
static bool mixed_case(const char *v, size_t n)
{
    bool up = false, low = false;
    for (size_t i = 0; i < n; i++) {
        up = up || is_upper((unsigned char)v[i]);
        low = low || (v[i] >= 'a' && v[i] <= 'z');
    }
    return up && low;
}

static bool check_password(const struct sanitize_rule *r, const char *v, size_t n, bool quoted)
{
    unsigned words;
    if (n < r->min_len || hex_literal(v, n) || names_password(v, n) || path_or_url(v, n) ||
        is_placeholder(v, n))
        return false;
    bool wordish = wordy_count(v, n, &words);
    /* Letters only: a quoted random mix of cases (SSaRPAXGYsihCq), never
     * a word or an identifier (required, passwordInput.value). */
    if (all_letters(v, n))
        return quoted && !wordish && mixed_case(v, n) && coop_sanitize_entropy(v, n) >= 3.0;
    if (wordish && (!quoted || words >= 2))
        return false;
    return coop_sanitize_entropy(v, n) >= r->min_entropy;
}

static size_t find_dashes(const char *v, size_t n, size_t from)
{
    for (size_t i = from; i + 5 <= n; i++)
        if (memcmp(v + i, "-----", 5) == 0)
            return i;
    return n;
}

/* A PEM block counts when its body (between the marker lines) holds at
 * least 64 base64 characters: "-----BEGIN RSA PRIVATE KEY-----\n...\n" in
 * documentation does not. */
static bool check_pem(const char *v, size_t n)
{
    size_t i = find_dashes(v, n, 5); /* the dashes closing the BEGIN line */
    i = i < n ? i + 5 : n;
    size_t end = find_dashes(v, n, i);
    size_t body = 0;
    for (; i < end; i++) {
        unsigned char c = (unsigned char)v[i];
        /* An escaped newline's letter is not body. */
        if (c == '\\' && i + 1 < end && (v[i + 1] == 'n' || v[i + 1] == 'r')) {
            i++;
            continue;
        }
        if (is_alpha(c) || is_digit(c) || c == '+' || c == '/')
            body++;
    }
    return body >= 64 && !contains(v, end, "xxxx");
}

static bool check_connection(const char *v, size_t n)
{
    return n >= 1 && !is_placeholder(v, n) && !names_password(v, n) &&
           !equals_any(v, n, weak_words);
}

static bool check_url(const char *v, size_t n)
{
    return n >= 1 && !is_placeholder(v, n) && !names_password(v, n) &&
           !equals_any(v, n, weak_words);
}

static bool check_header(const struct sanitize_rule *r, const char *v, size_t n)
{
    if (n < r->min_len || is_placeholder(v, n) || all_letters(v, n) || wordy(v, n))
        return false;
    return coop_sanitize_entropy(v, n) >= r->min_entropy;
}

static bool check_token(const struct sanitize_rule *r, const char *v, size_t n)
{
    if (n < r->min_len || is_placeholder(v, n) || (r->no_words && wordy(v, n)))
        return false;
    return coop_sanitize_entropy(v, n) >= r->min_entropy;
}

static bool check_email(const char *v, size_t n)
{
    static const char *const domains[] = {
        "@example.com", "@example.org", "@example.net", ".example", "@localhost",
        ".test",        "@test.com",    ".invalid",     NULL,
    };
    for (const char *const *d = domains; *d; d++) {
        size_t dl = strlen(*d);
        if (n >= dl && contains(v + n - dl, dl, *d))
            return false;
    }
    return true;
}

static bool check_ipv4(const char *v, size_t n)
{
    if (n >= 4 && memcmp(v, "127.", 4) == 0)
        return false;
    if (n >= 2 && memcmp(v, "0.", 2) == 0)
        return false;
    if (n >= 4 && memcmp(v, "255.", 4) == 0)
        return false;
    return true;
}

bool coop_sanitize_accept(const struct sanitize_rule *r, const char *text, size_t len, bool quoted)
{
    switch (r->check) {
    case SANITIZE_CHECK_TOKEN:
        return check_token(r, text, len);
    case SANITIZE_CHECK_GENERIC:
        return check_generic(r, text, len);
    case SANITIZE_CHECK_PASSWORD:
        return check_password(r, text, len, quoted);
    case SANITIZE_CHECK_PEM:
        return check_pem(text, len);
    case SANITIZE_CHECK_CONNECTION:
        return check_connection(text, len);
    case SANITIZE_CHECK_URL:
        return check_url(text, len);
    case SANITIZE_CHECK_HEADER:
        return check_header(r, text, len);
    case SANITIZE_CHECK_EMAIL:
        return check_email(text, len);
    case SANITIZE_CHECK_IPV4:
        return check_ipv4(text, len);
    }
    return true;
}

/*
 * core: what every module of Coop uses and that uses no module: errors,
 * bounded buffers, logging that refuses secrets, the clock, constant-time
 * comparison, random identifiers and strict JSON parsing.
 *
 * Ownership: functions named _new return memory the caller frees with the
 * matching _free; _init/_dispose work on memory the caller provides.
 */
#ifndef COOP_CORE_H
#define COOP_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* ---- errors ------------------------------------------------------------ */

/*
 * One table generates enum coop_err, coop_strerror() and coop_err_name().
 * A message here never holds data: detail goes to a caller's buffer or the
 * log, so no secret can travel inside an error.
 */
#define COOP_ERR_TABLE(X)                                                      \
    X(OK, "success")                                                           \
    X(NOMEM, "out of memory")                                                  \
    X(INVALID, "invalid argument")                                             \
    X(TOO_LARGE, "input too large")                                            \
    X(NOT_FOUND, "not found")                                                  \
    X(CONFLICT, "conflict")                                                    \
    X(DUPLICATE, "duplicate")                                                  \
    X(IO, "input/output error")                                                \
    X(STORE, "store error")                                                    \
    X(BUSY, "resource busy")                                                   \
    X(AUTH, "authentication failed")                                           \
    X(FORBIDDEN, "forbidden by policy")                                        \
    X(UNAVAILABLE, "service unavailable")                                      \
    X(TIMEOUT, "timed out")                                                    \
    X(PROTOCOL, "protocol error")                                              \
    X(CRYPTO, "cryptographic failure")                                         \
    X(CONFIG, "invalid configuration")                                         \
    X(RATE_LIMITED, "rate limited")                                            \
    X(UPSTREAM, "upstream error")                                              \
    X(INTERNAL, "internal error")

enum coop_err {
#define COOP_ERR_ENUM(name, msg) COOP_ERR_##name,
    COOP_ERR_TABLE(COOP_ERR_ENUM)
#undef COOP_ERR_ENUM
};
typedef enum coop_err coop_err;

/* A static, human-readable description of err. */
const char *coop_strerror(coop_err err);
/* The enum's name without prefix ("NOT_FOUND"), for logs and JSON codes. */
const char *coop_err_name(coop_err err);

/* ---- bounded buffers --------------------------------------------------- */

/*
 * A growable byte buffer that never grows past max: appending beyond it
 * fails with COOP_ERR_TOO_LARGE and leaves the contents unchanged. The data
 * is always NUL-terminated (the terminator is not counted in len).
 */
struct coop_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void coop_buf_init(struct coop_buf *b, size_t max);
/* Frees the storage; the buffer may be initialised again. */
void coop_buf_dispose(struct coop_buf *b);
void coop_buf_reset(struct coop_buf *b);
coop_err coop_buf_append(struct coop_buf *b, const void *data, size_t len);
/* Makes room for extra more bytes at once (within the maximum), so that
 * appends of a size known in advance do not grow the buffer step by step. */
coop_err coop_buf_reserve(struct coop_buf *b, size_t extra);
coop_err coop_buf_puts(struct coop_buf *b, const char *s);
coop_err coop_buf_printf(struct coop_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
coop_err coop_buf_vprintf(struct coop_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included. Bytes that are not
 * valid UTF-8 become U+FFFD, so the output always parses. */
coop_err coop_buf_json_str(struct coop_buf *b, const char *s, size_t len);
/* Hands the storage to the caller (free() it) and resets the buffer. */
char *coop_buf_steal(struct coop_buf *b, size_t *len /* OUT, may be NULL */);

/* ---- logging ----------------------------------------------------------- */

enum coop_log_level {
    COOP_LOG_ERROR,
    COOP_LOG_WARN,
    COOP_LOG_INFO,
    COOP_LOG_DEBUG,
};

enum coop_log_type {
    COOP_LOG_T_END,
    COOP_LOG_T_STR,
    COOP_LOG_T_INT,
    COOP_LOG_T_DBL,
    COOP_LOG_T_BOOL,
};

/*
 * A typed log field. Logging has no free-form formatting: a message is a
 * string literal and everything variable is a named field, so what may be
 * logged can be checked by name. A field whose name has a segment (split on
 * '_', '-', '.') such as key, token, secret, password, authorization, auth,
 * prompt, body, header or cookie is refused: its value is not written and
 * the line records the refusal instead.
 */
struct coop_log_field {
    enum coop_log_type type;
    const char *name;
    union {
        const char *s;
        long long i;
        double d;
        bool b;
    } v;
};

#define COOP_F_STR(n, x) ((struct coop_log_field){.type = COOP_LOG_T_STR, .name = (n), .v.s = (x)})
#define COOP_F_INT(n, x)                                                                           \
    ((struct coop_log_field){.type = COOP_LOG_T_INT, .name = (n), .v.i = (long long)(x)})
#define COOP_F_DBL(n, x) ((struct coop_log_field){.type = COOP_LOG_T_DBL, .name = (n), .v.d = (x)})
#define COOP_F_BOOL(n, x) ((struct coop_log_field){.type = COOP_LOG_T_BOOL, .name = (n), .v.b = (x)})
#define COOP_F_ERR(e) COOP_F_STR("error", coop_err_name(e))

/* The string-literal concatenation makes a non-literal message a compile error. */
#define COOP_LOG_(lvl, msg, ...)                                                                   \
    coop_log_fields((lvl), "" msg "",                                                              \
                    (const struct coop_log_field[]){__VA_ARGS__ __VA_OPT__(, ){.type = 0}})
#define coop_log_error(msg, ...) COOP_LOG_(COOP_LOG_ERROR, msg __VA_OPT__(, ) __VA_ARGS__)
#define coop_log_warn(msg, ...) COOP_LOG_(COOP_LOG_WARN, msg __VA_OPT__(, ) __VA_ARGS__)
#define coop_log_info(msg, ...) COOP_LOG_(COOP_LOG_INFO, msg __VA_OPT__(, ) __VA_ARGS__)
#define coop_log_debug(msg, ...) COOP_LOG_(COOP_LOG_DEBUG, msg __VA_OPT__(, ) __VA_ARGS__)

/*
 * Writes one JSON object as one line: time, level, msg, then the fields (a
 * list ended by a COOP_LOG_T_END entry), plus the request id of the calling
 * thread when one is set. Returns COOP_ERR_FORBIDDEN when a field was refused
 * (the line is still written, without that value).
 */
coop_err coop_log_fields(enum coop_log_level level, const char *msg,
                         const struct coop_log_field *fields);

void coop_log_set_level(enum coop_log_level level);
bool coop_log_enabled(enum coop_log_level level);
coop_err coop_log_level_parse(const char *s, enum coop_log_level *out /* OUT */);
/* Where lines go; stderr by default. The descriptor is not closed. */
void coop_log_set_fd(int fd);
/* The request id logged with this thread's lines; NULL clears it. The
 * string must outlive the setting. */
void coop_log_set_request_id(const char *request_id);
/* True when the field name would be refused. */
bool coop_log_name_refused(const char *name);
/*
 * Registers a secret value (copied into locked memory) so that, should it
 * ever appear inside a logged string, it is replaced by "[redacted]". This
 * is a second line of defence behind the field-name rule. Values shorter
 * than 8 bytes are ignored.
 */
void coop_log_register_secret(const char *value);
/* Forgets a registered value (a short-lived credential that was replaced),
 * so that the fixed-size registry keeps room for the ones in use. */
void coop_log_unregister_secret(const char *value);

/* ---- clock ------------------------------------------------------------- */

/* Wall-clock time in milliseconds since the epoch; injectable for tests. */
int64_t coop_clock_now_ms(void);
/* Monotonic time in nanoseconds, for durations. */
int64_t coop_clock_mono_ns(void);
/* Replaces the wall clock (NULL restores it). For tests only. */
void coop_clock_set_override(int64_t (*now_ms)(void));
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds into out. */
void coop_clock_format(int64_t ms, char out[32]);
/* Parses RFC 3339 / ISO 8601 ("2024-01-02T03:04:05Z", offsets, fractions). */
coop_err coop_clock_parse(const char *s, int64_t *ms /* OUT */);

/* ---- crypto helpers ---------------------------------------------------- */

/* Initialises libsodium; call once before any other coop function. */
coop_err coop_core_init(void);
/* Constant-time equality of two byte strings of possibly different lengths:
 * the time depends only on the lengths, never on the contents. */
bool coop_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Writes n random bytes as 2n lowercase hex digits plus NUL into out. */
void coop_random_hex(char *out, size_t n);
/* Lowercase hex SHA-256 of data (65 bytes with the NUL). */
void coop_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- strings ----------------------------------------------------------- */

/* strlcpy semantics: always terminates, returns strlen(src). */
size_t coop_strlcpy(char *dst, const char *src, size_t size);
/* Parses a base-10 int64 spanning the whole of s; no whitespace, no sign
 * other than a leading '-'. */
coop_err coop_parse_i64(const char *s, int64_t *out /* OUT */);
/* Standard base64 decode; returns COOP_ERR_INVALID on bad input. */
coop_err coop_base64_decode(const char *in, unsigned char *out, size_t out_max,
                            size_t *out_len /* OUT */);

/* ---- JSON -------------------------------------------------------------- */

/*
 * Parses untrusted JSON: strict mode, UTF-8 validated, at most max_depth
 * levels, the whole input consumed. Duplicate keys are refused when
 * refuse_duplicates is set (json-c would keep the last silently), and
 * integers beyond 64 bits are refused rather than saturated. On success
 * *out owns a reference the caller puts with json_object_put().
 */
coop_err coop_json_parse(const char *text, size_t len, int max_depth, bool refuse_duplicates,
                         struct json_object **out /* OUT */);

/*
 * Checks, without building anything or allocating, that text is a JSON
 * document coop_json_parse() would accept with the same max_depth and
 * refuse_duplicates false: anything this accepts, that parses. It follows
 * RFC 8259 where json-c is laxer, and so refuses NaN, Infinity, leading
 * zeros, "1.", raw control characters in strings, overlong or surrogate
 * UTF-8, and a bare number, true, false or null as the whole document.
 * *root (may be NULL) gets the top-level value's first byte: '{', '[' or '"'.
 * COOP_ERR_INVALID, or COOP_ERR_TOO_LARGE for nesting beyond max_depth (as
 * in json-c, a value inside max_depth containers is already too deep).
 */
coop_err coop_json_validate(const char *text, size_t len, int max_depth, char *root /* OUT */);

/* Member lookups that also check the type; NULL when absent or mistyped. */
const char *coop_json_str(struct json_object *obj, const char *key);
struct json_object *coop_json_obj(struct json_object *obj, const char *key);
struct json_object *coop_json_arr(struct json_object *obj, const char *key);
/* *out set and true when key holds an integer. */
bool coop_json_int(struct json_object *obj, const char *key, int64_t *out /* OUT */);
bool coop_json_bool(struct json_object *obj, const char *key, bool *out /* OUT */);

#endif

/*
 * Structured logging: one JSON object per line, written with a single
 * write() so lines from different threads never interleave.
 *
 * The API has no format strings. Messages are literals and variable data
 * travels in named, typed fields; names that suggest secret material are
 * refused outright, and registered secret values are scrubbed from any
 * string that reaches a line anyway.
 */
#include "coop/core.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384
#define VALUE_MAX_BYTES 1024
#define MAX_SECRETS 64

static atomic_int log_level = COOP_LOG_INFO;
static atomic_int log_fd = 2;
static _Thread_local const char *thread_request_id;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[MAX_SECRETS];
static size_t secret_lens[MAX_SECRETS];
static size_t nsecrets;

static const char *const refused_segments[] = {
    "key",          "keys",          "token",  "secret",    "secrets",  "password",
    "passwd",       "pwd",           "auth",   "authorization", "prompt", "prompts",
    "body",         "header",        "headers", "cookie",   "cookies",  "credential",
    "credentials",  "apikey",        "signature", "passphrase", "seed",
};

void coop_log_set_level(enum coop_log_level level)
{
    atomic_store(&log_level, (int)level);
}

bool coop_log_enabled(enum coop_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

coop_err coop_log_level_parse(const char *s, enum coop_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum coop_log_level)i;
            return COOP_ERR_OK;
        }
    }
    return COOP_ERR_INVALID;
}

void coop_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

void coop_log_set_request_id(const char *request_id)
{
    thread_request_id = request_id;
}

bool coop_log_name_refused(const char *name)
{
    char seg[64];
    size_t n = 0;
    for (const char *p = name;; p++) {
        if (*p == '_' || *p == '-' || *p == '.' || *p == '\0') {
            seg[n] = '\0';
            for (size_t i = 0; i < sizeof refused_segments / sizeof *refused_segments; i++)
                if (n && strcmp(seg, refused_segments[i]) == 0)
                    return true;
            n = 0;
            if (*p == '\0')
                break;
        } else if (n + 1 < sizeof seg) {
            seg[n++] = (char)tolower((unsigned char)*p);
        } else {
            return true; /* an unreadably long name is not worth the risk */
        }
    }
    return false;
}

void coop_log_register_secret(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    if (len < 8)
        return;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (secret_lens[i] == len && memcmp(secrets[i], value, len) == 0) {
            pthread_mutex_unlock(&secrets_lock);
            return;
        }
    }
    if (nsecrets < MAX_SECRETS) {
        char *copy = sodium_malloc(len + 1);
        if (copy) {
            memcpy(copy, value, len + 1);
            secrets[nsecrets] = copy;
            secret_lens[nsecrets] = len;
            nsecrets++;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
}

void coop_log_unregister_secret(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (secret_lens[i] == len && memcmp(secrets[i], value, len) == 0) {
            sodium_free(secrets[i]);
            secrets[i] = secrets[nsecrets - 1];
            secret_lens[i] = secret_lens[nsecrets - 1];
            nsecrets--;
            break;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
}

/* Appends value as a JSON string, scrubbing registered secrets and
 * truncating what is longer than VALUE_MAX_BYTES. */
static void append_value(struct coop_buf *line, const char *value)
{
    char tmp[VALUE_MAX_BYTES + 16];
    size_t len = strnlen(value, VALUE_MAX_BYTES);
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < nsecrets; i++) {
        char *hit;
        while ((hit = memmem(tmp, len, secrets[i], secret_lens[i])) != NULL) {
            static const char mark[] = "[redacted]";
            size_t rest = len - (size_t)(hit - tmp) - secret_lens[i];
            memmove(hit + sizeof mark - 1, hit + secret_lens[i], rest);
            memcpy(hit, mark, sizeof mark - 1);
            len = (size_t)(hit - tmp) + sizeof mark - 1 + rest;
        }
    }
    pthread_mutex_unlock(&secrets_lock);
    coop_buf_json_str(line, tmp, len);
}

static const char *level_name(enum coop_log_level level)
{
    switch (level) {
    case COOP_LOG_ERROR:
        return "error";
    case COOP_LOG_WARN:
        return "warn";
    case COOP_LOG_INFO:
        return "info";
    case COOP_LOG_DEBUG:
        return "debug";
    }
    return "info";
}

static void append_field(struct coop_buf *line, const struct coop_log_field *f)
{
    coop_buf_puts(line, ",");
    coop_buf_json_str(line, f->name, strlen(f->name));
    coop_buf_puts(line, ":");
    switch (f->type) {
    case COOP_LOG_T_STR:
        if (f->v.s)
            append_value(line, f->v.s);
        else
            coop_buf_puts(line, "null");
        break;
    case COOP_LOG_T_INT:
        coop_buf_printf(line, "%lld", f->v.i);
        break;
    case COOP_LOG_T_DBL:
        coop_buf_printf(line, "%.6g", f->v.d);
        break;
    case COOP_LOG_T_BOOL:
        coop_buf_puts(line, f->v.b ? "true" : "false");
        break;
    case COOP_LOG_T_END:
        coop_buf_puts(line, "null");
        break;
    }
}

coop_err coop_log_fields(enum coop_log_level level, const char *msg,
                         const struct coop_log_field *fields)
{
    if (!coop_log_enabled(level))
        return COOP_ERR_OK;
    coop_err result = COOP_ERR_OK;
    struct coop_buf line;
    char ts[32];
    coop_buf_init(&line, LINE_MAX_BYTES);
    coop_clock_format(coop_clock_now_ms(), ts);
    coop_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_name(level));
    append_value(&line, msg);
    if (thread_request_id) {
        coop_buf_puts(&line, ",\"request_id\":");
        append_value(&line, thread_request_id);
    }
    for (const struct coop_log_field *f = fields; f && f->type != COOP_LOG_T_END; f++) {
        if (!f->name)
            continue;
        if (coop_log_name_refused(f->name)) {
            coop_buf_puts(&line, ",\"refused_field\":");
            coop_buf_json_str(&line, f->name, strnlen(f->name, 64));
            result = COOP_ERR_FORBIDDEN;
            continue;
        }
        append_field(&line, f);
    }
    if (coop_buf_puts(&line, "}\n") != COOP_ERR_OK) {
        coop_buf_reset(&line);
        coop_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n",
                        ts, level_name(level));
    }
    const char *p = line.data;
    size_t left = line.len;
    int fd = atomic_load(&log_fd);
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    coop_buf_dispose(&line);
    return result;
}

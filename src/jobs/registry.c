/*
 * The process-wide table of job handlers by kind. Modules register at
 * start; a later registration of the same kind replaces the earlier one,
 * which is how a module takes over a kind another one only recorded.
 */
#include "jobs_int.h"

#include <string.h>

#define MAX_HANDLERS 64

struct entry {
    char kind[COOP_JOBS_KIND_MAX];
    struct coop_jobs_handler h;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct entry table[MAX_HANDLERS];
static int count;
static int nprepare; /* kinds with a prepare function */

static void recount_prepare(void)
{
    nprepare = 0;
    for (int i = 0; i < count; i++)
        nprepare += table[i].h.prepare != NULL;
}

coop_err coop_jobs_register_handler_ex(const char *kind, coop_job_handler_fn fn, void *ctx,
                                       unsigned flags)
{
    if (!kind || !kind[0] || strlen(kind) >= COOP_JOBS_KIND_MAX || !fn)
        return COOP_ERR_INVALID;
    coop_err err = COOP_ERR_OK;
    pthread_rwlock_wrlock(&lock);
    int i = 0;
    while (i < count && strcmp(table[i].kind, kind) != 0)
        i++;
    if (i == count) {
        if (count == MAX_HANDLERS)
            err = COOP_ERR_TOO_LARGE;
        else
            coop_strlcpy(table[count++].kind, kind, COOP_JOBS_KIND_MAX);
    }
    if (!err) {
        table[i].h = (struct coop_jobs_handler){fn, ctx, flags, NULL, NULL};
        recount_prepare();
    }
    pthread_rwlock_unlock(&lock);
    return err;
}

coop_err coop_jobs_register_handler(const char *kind, coop_job_handler_fn fn, void *ctx)
{
    return coop_jobs_register_handler_ex(kind, fn, ctx, 0);
}

coop_err coop_jobs_set_prepare(const char *kind, coop_job_prepare_fn fn,
                               coop_job_prepared_free_fn free_fn)
{
    if (!kind || !fn || !free_fn)
        return COOP_ERR_INVALID;
    coop_err err = COOP_ERR_NOT_FOUND;
    pthread_rwlock_wrlock(&lock);
    for (int i = 0; i < count; i++) {
        if (strcmp(table[i].kind, kind) == 0) {
            if (table[i].h.flags & COOP_JOBS_OUTSIDE_TX) {
                err = COOP_ERR_INVALID; /* such a handler has no transaction to shorten */
            } else {
                table[i].h.prepare = fn;
                table[i].h.prepared_free = free_fn;
                err = COOP_ERR_OK;
            }
        }
    }
    recount_prepare();
    pthread_rwlock_unlock(&lock);
    return err;
}

bool coop_jobs_any_prepare_(void)
{
    pthread_rwlock_rdlock(&lock);
    bool any = nprepare > 0;
    pthread_rwlock_unlock(&lock);
    return any;
}

void coop_jobs_clear_handlers(void)
{
    pthread_rwlock_wrlock(&lock);
    count = 0;
    nprepare = 0;
    pthread_rwlock_unlock(&lock);
}

bool coop_jobs_handler_find_(const char *kind, struct coop_jobs_handler *out)
{
    bool found = false;
    pthread_rwlock_rdlock(&lock);
    for (int i = 0; i < count && !found; i++) {
        if (strcmp(table[i].kind, kind) == 0) {
            *out = table[i].h;
            found = true;
        }
    }
    pthread_rwlock_unlock(&lock);
    return found;
}

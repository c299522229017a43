/*
 * The retention job: a thread that purges the audit chains when it starts
 * and then on a fixed interval, until stopped. It reads the (injectable)
 * clock, so tests can move time forward.
 */
#include "audit_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct coop_audit_purger {
    struct coop_store *store;
    int retention_days;
    int interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
};

static void purge_once(struct coop_audit_purger *p)
{
    int64_t deleted = 0;
    coop_err err = coop_audit_purge(p->store, coop_clock_now_ms(), p->retention_days, &deleted);
    if (err)
        coop_log_error("audit retention purge failed", COOP_F_ERR(err));
    else if (deleted > 0)
        coop_log_info("audit retention purge", COOP_F_INT("deleted", deleted),
                      COOP_F_INT("retention_days", p->retention_days));
}

static void *run(void *arg)
{
    struct coop_audit_purger *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->mu);
        purge_once(p);
        pthread_mutex_lock(&p->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += p->interval_s;
        while (!p->stopping && pthread_cond_timedwait(&p->cv, &p->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

coop_err coop_audit_purger_start(struct coop_store *store, int retention_days, int interval_s,
                                 struct coop_audit_purger **out)
{
    if (!store || retention_days < 1 || interval_s < 1)
        return COOP_ERR_INVALID;
    struct coop_audit_purger *p = calloc(1, sizeof *p);
    if (!p)
        return COOP_ERR_NOMEM;
    p->store = store;
    p->retention_days = retention_days;
    p->interval_s = interval_s;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return COOP_ERR_NOMEM;
    }
    *out = p;
    return COOP_ERR_OK;
}

void coop_audit_purger_stop(struct coop_audit_purger *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

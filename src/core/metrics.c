/*
 * In-process metrics registry. Series are created under a lock and never
 * freed; updates are atomic adds, so the request path takes no lock once a
 * route's series exist.
 */
#include "coop/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 2048
#define NBUCKETS 14

static const double bucket_bounds[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1.0,    5.0};

struct coop_metric {
    enum coop_metric_kind kind;
    char *name;
    char *help;
    char *labels;
    atomic_llong value;                /* counter, gauge; histogram count */
    atomic_llong buckets[NBUCKETS];    /* histogram: per bucket (not cumulative) */
    atomic_llong sum_ns;               /* histogram: sum of observations */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct coop_metric *series[MAX_SERIES];
static atomic_size_t nseries;

struct coop_metric *coop_metric_get(enum coop_metric_kind kind, const char *name,
                                    const char *help, const char *labels)
{
    labels = labels ? labels : "";
    size_t n = atomic_load(&nseries);
    for (size_t i = 0; i < n; i++) {
        struct coop_metric *m = series[i];
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0)
            return m;
    }
    pthread_mutex_lock(&reg_lock);
    n = atomic_load(&nseries);
    for (size_t i = 0; i < n; i++) {
        struct coop_metric *m = series[i];
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0) {
            pthread_mutex_unlock(&reg_lock);
            return m;
        }
    }
    struct coop_metric *m = NULL;
    if (n < MAX_SERIES && (m = calloc(1, sizeof *m))) {
        m->kind = kind;
        m->name = strdup(name);
        m->help = strdup(help ? help : "");
        m->labels = strdup(labels);
        if (!m->name || !m->help || !m->labels) {
            free(m->name);
            free(m->help);
            free(m->labels);
            free(m);
            m = NULL;
        } else {
            series[n] = m;
            atomic_store(&nseries, n + 1);
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return m;
}

void coop_metric_add(struct coop_metric *m, int64_t delta)
{
    if (m)
        atomic_fetch_add(&m->value, delta);
}

void coop_metric_set(struct coop_metric *m, int64_t value)
{
    if (m)
        atomic_store(&m->value, value);
}

void coop_metric_observe(struct coop_metric *m, double seconds)
{
    if (!m)
        return;
    int b = 0;
    while (b < NBUCKETS && seconds > bucket_bounds[b])
        b++;
    if (b < NBUCKETS)
        atomic_fetch_add(&m->buckets[b], 1);
    atomic_fetch_add(&m->sum_ns, (long long)(seconds * 1e9));
    atomic_fetch_add(&m->value, 1);
}

void coop_metric_inc(const char *name, const char *help, const char *labels)
{
    coop_metric_add(coop_metric_get(COOP_METRIC_COUNTER, name, help, labels), 1);
}

static const char *kind_name(enum coop_metric_kind kind)
{
    switch (kind) {
    case COOP_METRIC_COUNTER:
        return "counter";
    case COOP_METRIC_GAUGE:
        return "gauge";
    case COOP_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static void render_one(struct coop_buf *out, struct coop_metric *m)
{
    const char *sep = m->labels[0] ? "," : "";
    if (m->kind != COOP_METRIC_HISTOGRAM) {
        if (m->labels[0])
            coop_buf_printf(out, "%s{%s} %lld\n", m->name, m->labels, atomic_load(&m->value));
        else
            coop_buf_printf(out, "%s %lld\n", m->name, atomic_load(&m->value));
        return;
    }
    long long cumulative = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        cumulative += atomic_load(&m->buckets[b]);
        coop_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lld\n", m->name, m->labels, sep,
                        bucket_bounds[b], cumulative);
    }
    long long count = atomic_load(&m->value);
    coop_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", m->name, m->labels, sep, count);
    coop_buf_printf(out, "%s_sum{%s} %.9f\n", m->name, m->labels,
                    (double)atomic_load(&m->sum_ns) / 1e9);
    coop_buf_printf(out, "%s_count{%s} %lld\n", m->name, m->labels, count);
}

coop_err coop_metrics_render(struct coop_buf *out)
{
    size_t n = atomic_load(&nseries);
    /* Group series of one name under one HELP/TYPE header. */
    char *done = calloc(n ? n : 1, 1);
    if (!done)
        return COOP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        struct coop_metric *m = series[i];
        coop_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                        kind_name(m->kind));
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(series[j]->name, m->name) == 0) {
                render_one(out, series[j]);
                done[j] = 1;
            }
        }
    }
    free(done);
    return COOP_ERR_OK;
}

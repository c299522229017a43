/*
 * metrics (part of core): Prometheus counters, gauges and histograms kept
 * in process memory and rendered as text by GET /metrics.
 *
 * A series is a metric name plus a label string written out in full
 * ("route=\"/healthz\",status=\"200\""). Label values come from fixed sets
 * (routes, status codes, providers, job kinds), never from input or
 * secrets. Updates are lock-free once a series exists.
 */
#ifndef COOP_METRICS_H
#define COOP_METRICS_H

#include "coop/core.h"

struct coop_metric;

enum coop_metric_kind {
    COOP_METRIC_COUNTER,
    COOP_METRIC_GAUGE,
    COOP_METRIC_HISTOGRAM,
};

/* Finds or creates a series; NULL only when the registry is full. The
 * returned pointer stays valid for the life of the process. */
struct coop_metric *coop_metric_get(enum coop_metric_kind kind, const char *name,
                                    const char *help, const char *labels);
void coop_metric_add(struct coop_metric *m, int64_t delta);
void coop_metric_set(struct coop_metric *m, int64_t value);
/* Records one observation in seconds (histograms). */
void coop_metric_observe(struct coop_metric *m, double seconds);

/* Shorthands that look the series up each time (fine off the hot path). */
void coop_metric_inc(const char *name, const char *help, const char *labels);

/* Renders every series in the Prometheus text format 0.0.4. */
coop_err coop_metrics_render(struct coop_buf *out);

#endif

/*
 * Internal to the http module: the per-request state the server keeps and
 * the hooks between server.c, stream.c, response.c and metrics.
 */
#ifndef COOP_HTTP_INT_H
#define COOP_HTTP_INT_H

#include "coop/http.h"

#include <microhttpd.h>
#include <stdatomic.h>

struct request_state {
    struct coop_http_server *srv;
    struct MHD_Connection *conn;
    struct coop_http_request req;
    const struct coop_http_route *route;
    const char *route_label;
    char method[16];
    char *path;
    char request_id[72];
    char param_buf[512];
    char allow[64];
    struct coop_buf body;
    unsigned early_status;
    bool body_too_large;
    unsigned status;
    bool quiet;
    struct coop_http_stream *stream;
};

void coop_http_response_init_(struct coop_http_response *res);
void coop_http_response_dispose_(struct coop_http_response *res);

enum MHD_Result coop_http_stream_queue_(struct coop_http_stream *s, struct MHD_Connection *conn,
                                        const struct coop_http_response *res);
unsigned coop_http_stream_status_(struct coop_http_stream *s);
void coop_http_stream_release_(struct coop_http_stream *s);
void coop_http_streams_abort_all_(struct coop_http_server *srv);

void coop_http_metrics_record_(const char *method, const char *route, unsigned status,
                               double seconds);

struct coop_store *coop_http_store_(struct coop_http_server *srv);
const struct coop_config *coop_http_config_(struct coop_http_server *srv);

#endif

/*
 * The upstream of the router benchmark: an OpenAI-compatible chat
 * completions endpoint in C (libmicrohttpd) that answers at once, so the
 * figures show what sits between the client and the provider (coopd, or
 * the Portkey gateway), not the emulator. A body with "stream":true gets
 * an SSE answer (role, four content chunks, finish, usage, [DONE]).
 * Usage: bench-router_emu PORT THREADS
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char json_body[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello from the "
    "benchmark emulator.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2000,"
    "\"completion_tokens\":6,\"total_tokens\":2006}}";

#define CHUNK(delta, fin)                                                                          \
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,"         \
    "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" fin    \
    "}]}\n\n"
static const char sse_body[] = CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") CHUNK(
    "{\"content\":\"Hello \"}", "null") CHUNK("{\"content\":\"from \"}", "null")
    CHUNK("{\"content\":\"the \"}", "null") CHUNK("{\"content\":\"emulator.\"}", "null") CHUNK(
        "{}",
        "\"stop\"") "data: "
                    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                    "\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":2000,"
                    "\"completion_tokens\":6,\"total_tokens\":2006}}\n\n"
                    "data: [DONE]\n\n";

struct req {
    int stream;
    char tail[16]; /* the last bytes seen, to find "stream":true across reads */
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct req *r = *con_cls;
    if (!r) {
        *con_cls = calloc(1, sizeof *r);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        if (memmem(upload_data, *upload_data_size, "\"stream\":true", 13) ||
            memmem(upload_data, *upload_data_size, "\"stream\": true", 14))
            r->stream = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *b = r->stream ? sse_body : json_body;
    size_t n = r->stream ? sizeof sse_body - 1 : sizeof json_body - 1;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(n, (void *)b, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type",
                            r->stream ? "text/event-stream" : "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT THREADS\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned threads = (unsigned)strtoul(argv[2], NULL, 10);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, on_request,
                         NULL, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                         1024u, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED,
                         on_done, NULL, MHD_OPTION_END);
    if (!d)
        return 1;
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}

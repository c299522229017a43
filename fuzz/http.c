/*
 * Fuzz target: HTTP request handling. One coopd HTTP server without a
 * listening socket runs for the whole process, with token auth on and the
 * core routes plus a body-echoing route; each input is written as raw
 * bytes into a fresh socketpair handed to the server, and the answer is
 * read until the server closes. Any crash, sanitizer report or hang is a
 * finding; an answer must start with "HTTP/1." when there is one.
 */
#include "coop/config.h"
#include "coop/http.h"
#include "coop/store.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct coop_http_server *srv;
static struct coop_config cfg;
static struct coop_store *store;

static void echo(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    json_object *o = NULL;
    if (coop_json_parse(req->body, req->body_len, 16, true, &o) != COOP_ERR_OK) {
        coop_http_error(res, req, 400, "invalid_json", "the body is not valid JSON");
        return;
    }
    const char *q = coop_http_query(req, "q");
    json_object_object_add(o, "q", q ? json_object_new_string(q) : NULL);
    json_object_object_add(o, "id", req->params[0] ? json_object_new_string(req->params[0]) : NULL);
    coop_http_json(res, 200, o);
    json_object_put(o);
}

static void setup(void)
{
    coop_core_init();
    coop_log_set_level(COOP_LOG_ERROR);
    coop_config_override(&cfg, "COOP_API_TOKEN", "fuzz-token-0123456789abcdef");
    coop_config_override(&cfg, "COOP_IDLE_TIMEOUT", "1");
    coop_config_override(&cfg, "COOP_HTTP_THREADS", "1");
    coop_config_override(&cfg, "COOP_RATE_LIMIT", "0");
    char err[256];
    if (coop_config_load(&cfg, err, sizeof err) || coop_store_open("memory", 1, &store) ||
        coop_store_migrate(store, NULL))
        abort();
    struct coop_http_options opt = {.config = &cfg, .store = store, .no_listen = true};
    struct coop_http_route route = {.method = "POST",
                                    .pattern = "/fuzz/{id}/echo",
                                    .scope = COOP_SCOPE_READ,
                                    .max_body = 4096,
                                    .handler = echo};
    if (coop_http_new(&opt, &srv) || coop_http_add_core_routes(srv) ||
        coop_http_add_route(srv, &route) || coop_http_start(srv, NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        setup();
    if (size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    if (coop_http_add_connection(srv, sv[1]) != COOP_ERR_OK) {
        close(sv[0]);
        return 0;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    size_t sent = 0;
    char buf[65536];
    size_t got = 0;
    bool shut = false;
    for (int rounds = 0; rounds < 400; rounds++) {
        struct pollfd p = {sv[0], POLLIN | (sent < size ? POLLOUT : 0), 0};
        if (poll(&p, 1, 10) < 0)
            break;
        if (sent < size && (p.revents & POLLOUT)) {
            ssize_t n = write(sv[0], data + sent, size - sent);
            if (n > 0)
                sent += (size_t)n;
        }
        if (sent == size && !shut) {
            shutdown(sv[0], SHUT_WR);
            shut = true;
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(sv[0], buf + got, sizeof buf - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            if (got == sizeof buf)
                got = 0;
        }
    }
    close(sv[0]);
    if (got >= 7 && memcmp(buf, "HTTP/1.", 7) != 0)
        abort();
    return 0;
}

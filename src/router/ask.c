/*
 * POST /v1/ask: a question about one file, answered by a model with the
 * facts Coop's graph knows about that file (CODEOWNERS rule and owners,
 * authors by degree of authorship, recent contributors, recent history,
 * files that change with it) and the code the caller sends. The
 * context is built here as an ordinary chat request and goes through
 * router_chat, so the policy, the sanitizer, the zero-retention layer
 * and the audit apply exactly as for /v1/chat/completions.
 */
#include "router_int.h"

#include "coop/graph.h"

#include <json-c/json.h>
#include <string.h>

#define ASK_DEFAULT_MODEL "openai/gpt-4o-mini"
#define ASK_MAX_CODE (256u << 10)

static const char ask_instruction[] =
    "You answer a developer's question about one file of a code repository. Use the facts "
    "and the code given; say so when they do not answer the question.";

static struct json_object *message(const char *role, const char *text, size_t len)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_string_len(text, (int)len));
    return m;
}

typedef coop_err (*graph_fn)(struct coop_store *, const struct coop_graph_query *,
                             struct json_object **, const char **);

/* Appends one graph fact as "label: {json}"; unknown repo or path is
 * reported to the caller through *what. */
static coop_err add_fact(struct coop_store *store, graph_fn fn, const char *label,
                         const struct coop_graph_query *q, struct coop_buf *ctxt, const char **what)
{
    struct json_object *out = NULL;
    coop_err err = fn(store, q, &out, what);
    if (err == COOP_ERR_NOT_FOUND && *what && strcmp(*what, "path") == 0)
        return COOP_ERR_OK; /* a new file: no history yet */
    if (err)
        return err;
    coop_buf_printf(ctxt, "%s: ", label);
    json_to_buf(out, ctxt);
    coop_buf_puts(ctxt, "\n");
    json_object_put(out);
    return COOP_ERR_OK;
}

static coop_err graph_facts(struct coop_store *store, const char *repo, const char *path,
                            struct coop_buf *ctxt, const char **what)
{
    struct coop_graph_query q = {.repo = repo, .path = path, .limit = 10};
    coop_buf_puts(ctxt, "Facts from Coop's code graph (JSON):\n");
    coop_err err = add_fact(store, coop_graph_owners, "owners and authors", &q, ctxt, what);
    if (!err)
        err = add_fact(store, coop_graph_history, "recent history", &q, ctxt, what);
    if (!err)
        err = add_fact(store, coop_graph_coupling, "files that change with it", &q, ctxt, what);
    return err;
}

void router_ask_handler(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    struct coop_router *r = ctx;
    struct json_object *in = NULL;
    if (coop_json_parse(req->body, req->body_len, 16, true, &in) ||
        !json_object_is_type(in, json_type_object)) {
        json_object_put(in);
        coop_http_error(res, req, 400, "invalid_json", "the body must be a JSON object");
        return;
    }
    const char *repo = coop_json_str(in, "repo"), *path = coop_json_str(in, "path");
    const char *question = coop_json_str(in, "question"), *code = coop_json_str(in, "code");
    const char *model = coop_json_str(in, "model");
    if (!repo || !path || !question || !*question || strlen(repo) > 512 || strlen(path) > 4096 ||
        (code && strlen(code) > ASK_MAX_CODE)) {
        json_object_put(in);
        coop_http_error(res, req, 400, "invalid_request",
                        "repo, path and question are required strings; code is at most 256 KiB");
        return;
    }
    if (!model)
        model = coop_config_get(r->cfg, "COOP_ASK_MODEL");
    struct coop_buf ctxt;
    coop_buf_init(&ctxt, MAX_ANSWER);
    coop_buf_printf(&ctxt, "Repository: %s\nFile: %s\n", repo, path);
    const char *what = NULL;
    coop_err gerr = graph_facts(r->store, repo, path, &ctxt, &what);
    if (gerr) {
        coop_buf_dispose(&ctxt);
        json_object_put(in);
        if (gerr == COOP_ERR_NOT_FOUND)
            coop_http_error(res, req, 404, "not_found", "Coop does not know this repository");
        else if (gerr == COOP_ERR_INVALID)
            coop_http_error(res, req, 400, "invalid_request", "repo or path is malformed");
        else
            coop_http_error(res, req, 503, "store_unavailable", "the graph could not be read");
        return;
    }
    if (code)
        coop_buf_printf(&ctxt, "\nThe file's code:\n```\n%s\n```\n", code);
    struct json_object *body = json_object_new_object();
    json_object_object_add(body, "model",
                           json_object_new_string(model ? model : ASK_DEFAULT_MODEL));
    struct json_object *msgs = json_object_new_array();
    json_object_array_add(msgs, message("system", ask_instruction, sizeof ask_instruction - 1));
    json_object_array_add(msgs, message("user", ctxt.data, ctxt.len));
    json_object_array_add(msgs, message("user", question, strlen(question)));
    json_object_object_add(body, "messages", msgs);
    bool stream = false;
    if (coop_json_bool(in, "stream", &stream) && stream)
        json_object_object_add(body, "stream", json_object_new_boolean(1));
    coop_buf_dispose(&ctxt);
    json_object_put(in);
    router_chat(r, req, res, body);
}

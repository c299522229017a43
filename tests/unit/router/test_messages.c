/*
 * The Anthropic Messages translation of POST /v1/messages: requests into
 * the router's OpenAI-format request (model names, system text, blocks,
 * parameters, refusals), answers and stream chunks back into a Message and
 * Messages events, and the error shapes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "router/router_int.h"

#include <json-c/json.h>
#include <string.h>

static struct json_object *parse(const char *text)
{
    struct json_object *o = NULL;
    assert_int_equal(coop_json_parse(text, strlen(text), 64, true, &o), COOP_ERR_OK);
    return o;
}

/* Translates text; returns the new request, or NULL with *problem set. */
static struct json_object *translate(const char *text, const char **problem)
{
    struct json_object *in = parse(text), *out = NULL;
    coop_err err = messages_request(in, &out, problem);
    json_object_put(in);
    if (err) {
        assert_int_equal(err, COOP_ERR_INVALID);
        assert_non_null(*problem);
        return NULL;
    }
    return out;
}

static const char *msg_field(struct json_object *req, size_t i, const char *key)
{
    return coop_json_str(json_object_array_get_idx(coop_json_arr(req, "messages"), i), key);
}

static void test_request_basic(void **state)
{
    const char *problem = NULL;
    struct json_object *r = translate(
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"system\":\"Be brief.\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hi \"},"
        "{\"type\":\"text\",\"text\":\"there\",\"cache_control\":{\"type\":\"ephemeral\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"more\"}]}],"
        "\"temperature\":0.5,\"top_p\":1,\"stop_sequences\":[\"END\"],\"stream\":true,"
        "\"metadata\":{\"user_id\":\"u-1\"}}",
        &problem);
    assert_non_null(r);
    assert_string_equal(coop_json_str(r, "model"), "anthropic/claude-sonnet-4-5");
    int64_t v = 0;
    assert_true(coop_json_int(r, "max_tokens", &v));
    assert_int_equal(v, 64);
    bool stream = false;
    assert_true(coop_json_bool(r, "stream", &stream));
    assert_true(stream);
    assert_int_equal(json_object_array_length(coop_json_arr(r, "messages")), 4);
    assert_string_equal(msg_field(r, 0, "role"), "system");
    assert_string_equal(msg_field(r, 0, "content"), "Be brief.");
    assert_string_equal(msg_field(r, 1, "role"), "user");
    assert_string_equal(msg_field(r, 2, "role"), "assistant");
    assert_string_equal(msg_field(r, 2, "content"), "hi there");
    assert_string_equal(msg_field(r, 3, "content"), "more");
    struct json_object *stop = coop_json_arr(r, "stop");
    assert_non_null(stop);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(stop, 0)), "END");
    /* The number keeps its original text; metadata is not forwarded. */
    struct json_object *t = NULL;
    assert_true(json_object_object_get_ex(r, "temperature", &t));
    assert_string_equal(json_object_to_json_string(t), "0.5");
    assert_false(json_object_object_get_ex(r, "metadata", NULL));
    json_object_put(r);
}

static void test_request_models_and_system_blocks(void **state)
{
    const char *problem = NULL;
    struct json_object *r = translate(
        "{\"model\":\"openai/gpt-4o\",\"max_tokens\":1,"
        "\"system\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        &problem);
    assert_non_null(r);
    assert_string_equal(coop_json_str(r, "model"), "openai/gpt-4o");
    assert_string_equal(msg_field(r, 0, "content"), "AB");
    assert_false(json_object_object_get_ex(r, "stream", NULL));
    json_object_put(r);
    /* No system: the user turn is first. */
    r = translate("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                  "\"content\":\"x\"}]}",
                  &problem);
    assert_non_null(r);
    assert_string_equal(coop_json_str(r, "model"), "anthropic/m");
    assert_string_equal(msg_field(r, 0, "role"), "user");
    json_object_put(r);
}

static void test_request_refused(void **state)
{
    static const char *const bad[] = {
        /* missing or wrong required fields */
        "{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":5,\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"max_tokens\":\"5\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"
        "}",
        "{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"max_tokens\":5.5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":{}}",
        "{\"model\":\"m\",\"max_tokens\":5}",
        /* messages */
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\"}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":5}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[\"x\"]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\","
        "\"name\":\"n\"}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/"
        "png\",\"data\":\"AA\"}}]}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"x\"}]}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        "\"text\",\"text\":5}]}]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
        "\"x\"}]}]}",
        /* parameters */
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"tools\":[]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"top_k\":5}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"unknown\":1}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"temperature\":\"hot\"}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"temperature\":1.5}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stream\":\"yes\"}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stop_sequences\":\"END\"}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"stop_sequences\":[\"\"]}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"metadata\":{\"user_id\":1}}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"metadata\":{\"other\":\"x\"}}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"system\":5}",
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"system\":[{\"type\":\"image\"}]}",
        "[1,2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *problem = NULL;
        struct json_object *r = translate(bad[i], &problem);
        if (r)
            fail_msg("accepted case %zu: %s", i, bad[i]);
        /* A problem names the rule, never the input. */
        assert_null(strstr(problem, "image/png"));
    }
}

static void test_response(void **state)
{
    struct messages_state ms = {.model = "claude-sonnet-4-5"};
    struct coop_translate t = {.id = "chatcmpl-abc123", .input_tokens = 11, .output_tokens = 7};
    static const char openai[] =
        "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"Hi \\\"you\\\"\"},"
        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}";
    struct coop_buf out;
    coop_buf_init(&out, 1 << 20);
    assert_int_equal(messages_response(&ms, &t, openai, sizeof openai - 1, &out), COOP_ERR_OK);
    struct json_object *m = parse(out.data);
    assert_string_equal(coop_json_str(m, "id"), "msg_abc123");
    assert_string_equal(coop_json_str(m, "type"), "message");
    assert_string_equal(coop_json_str(m, "role"), "assistant");
    assert_string_equal(coop_json_str(m, "model"), "claude-sonnet-4-5");
    assert_string_equal(coop_json_str(m, "stop_reason"), "max_tokens");
    struct json_object *c0 = json_object_array_get_idx(coop_json_arr(m, "content"), 0);
    assert_string_equal(coop_json_str(c0, "type"), "text");
    assert_string_equal(coop_json_str(c0, "text"), "Hi \"you\"");
    int64_t v = 0;
    assert_true(coop_json_int(coop_json_obj(m, "usage"), "input_tokens", &v));
    assert_int_equal(v, 11);
    assert_true(coop_json_int(coop_json_obj(m, "usage"), "output_tokens", &v));
    assert_int_equal(v, 7);
    json_object_put(m);
    /* An Anthropic id stays as it is; no choices is a protocol error. */
    coop_buf_reset(&out);
    coop_strlcpy(t.id, "msg_01XYZ", sizeof t.id);
    static const char stop[] = "{\"choices\":[{\"message\":{\"content\":null},"
                               "\"finish_reason\":\"stop\"}]}";
    assert_int_equal(messages_response(&ms, &t, stop, sizeof stop - 1, &out), COOP_ERR_OK);
    m = parse(out.data);
    assert_string_equal(coop_json_str(m, "id"), "msg_01XYZ");
    assert_string_equal(coop_json_str(m, "stop_reason"), "end_turn");
    assert_int_equal(json_object_array_length(coop_json_arr(m, "content")), 0);
    json_object_put(m);
    coop_buf_reset(&out);
    assert_int_equal(messages_response(&ms, &t, "{}", 2, &out), COOP_ERR_PROTOCOL);
    assert_int_equal(messages_response(&ms, &t, "nope", 4, &out), COOP_ERR_PROTOCOL);
    coop_buf_dispose(&out);
}

/* The event names of an Anthropic stream, in order, with each data parsed
 * and its type checked against the event name. */
static int event_names(const char *text, char names[][32], int max, struct coop_buf *texts)
{
    int n = 0;
    const char *p = text;
    while ((p = strstr(p, "event: ")) != NULL && n < max) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - p - 7);
        memcpy(names[n], p + 7, len);
        names[n][len] = '\0';
        assert_memory_equal(nl + 1, "data: ", 6);
        const char *end = strstr(nl, "\n\n");
        assert_non_null(end);
        struct json_object *o = NULL;
        assert_int_equal(coop_json_parse(nl + 7, (size_t)(end - nl - 7), 64, true, &o),
                         COOP_ERR_OK);
        assert_string_equal(coop_json_str(o, "type"), names[n]);
        const char *t = coop_json_str(coop_json_obj(o, "delta"), "text");
        if (t)
            coop_buf_puts(texts, t);
        json_object_put(o);
        n++;
        p = end + 2;
    }
    return n;
}

static void test_stream(void **state)
{
    struct messages_state ms = {.model = "openai/gpt-4o"};
    struct coop_translate t = {.id = "chatcmpl-s1", .input_tokens = 0};
    struct coop_buf io, all, texts;
    coop_buf_init(&io, 1 << 20);
    coop_buf_init(&all, 1 << 20);
    coop_buf_init(&texts, 1 << 20);
    static const char *const chunks[] = {
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n"
        "data: [DONE]\n\n",
    };
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        coop_buf_reset(&io);
        coop_buf_puts(&io, chunks[i]);
        if (i == 3) {
            t.input_tokens = 11;
            t.output_tokens = 7;
        }
        assert_int_equal(messages_stream(&ms, &t, &io), COOP_ERR_OK);
        if (io.len)
            coop_buf_append(&all, io.data, io.len);
    }
    char names[16][32];
    int n = event_names(all.data, names, 16, &texts);
    static const char *const want[] = {
        "message_start",      "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta",       "message_stop"};
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
    assert_string_equal(texts.data, "Hello");
    assert_non_null(strstr(all.data, "\"model\":\"openai/gpt-4o\""));
    assert_non_null(strstr(all.data, "\"id\":\"msg_s1\""));
    assert_non_null(strstr(all.data, "\"stop_reason\":\"end_turn\""));
    assert_non_null(strstr(all.data, "\"usage\":{\"input_tokens\":11,\"output_tokens\":7}"));
    assert_true(ms.done);
    /* After the end nothing more goes out; a malformed chunk is an error. */
    coop_buf_reset(&io);
    coop_buf_puts(&io, "data: [DONE]\n\n");
    assert_int_equal(messages_stream(&ms, &t, &io), COOP_ERR_OK);
    assert_int_equal(io.len, 0);
    coop_buf_reset(&io);
    coop_buf_puts(&io, "data: {oops\n\n");
    assert_int_equal(messages_stream(&ms, &t, &io), COOP_ERR_PROTOCOL);
    coop_buf_dispose(&io);
    coop_buf_dispose(&all);
    coop_buf_dispose(&texts);
}

static void test_stream_length_and_empty(void **state)
{
    /* A stream that ends with no text still opens and closes its block. */
    struct messages_state ms = {.model = "m"};
    struct coop_translate t = {.id = "msg_1"};
    struct coop_buf io, texts;
    coop_buf_init(&io, 1 << 20);
    coop_buf_init(&texts, 1 << 20);
    coop_buf_puts(&io, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
                       "\"length\"}]}\n\ndata: [DONE]\n\n");
    assert_int_equal(messages_stream(&ms, &t, &io), COOP_ERR_OK);
    char names[16][32];
    assert_int_equal(event_names(io.data, names, 16, &texts), 5);
    assert_string_equal(names[0], "message_start");
    assert_string_equal(names[4], "message_stop");
    assert_non_null(strstr(io.data, "\"stop_reason\":\"max_tokens\""));
    coop_buf_dispose(&io);
    coop_buf_dispose(&texts);
}

static void test_stop_sequence(void **state)
{
    /* A provider that names the stop sequence (Anthropic): stop_reason
     * stop_sequence with the sequence, in a Message and in a stream. */
    struct messages_state ms = {.model = "claude-x"};
    struct coop_translate t = {.id = "msg_2", .stop_sequence = "END\""};
    static const char body[] = "{\"choices\":[{\"message\":{\"content\":\"a\"},"
                               "\"finish_reason\":\"stop\"}]}";
    struct coop_buf out;
    coop_buf_init(&out, 1 << 20);
    assert_int_equal(messages_response(&ms, &t, body, sizeof body - 1, &out), COOP_ERR_OK);
    struct json_object *m = parse(out.data);
    assert_string_equal(coop_json_str(m, "stop_reason"), "stop_sequence");
    assert_string_equal(coop_json_str(m, "stop_sequence"), "END\"");
    json_object_put(m);
    coop_buf_reset(&out);
    coop_buf_puts(&out, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
                        "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    assert_int_equal(messages_stream(&ms, &t, &out), COOP_ERR_OK);
    assert_non_null(
        strstr(out.data, "\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\\\"\""));
    /* max_tokens wins over a stale sequence. */
    struct messages_state ms2 = {.model = "claude-x"};
    coop_buf_reset(&out);
    coop_buf_puts(&out, "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                        "\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n");
    assert_int_equal(messages_stream(&ms2, &t, &out), COOP_ERR_OK);
    assert_non_null(strstr(out.data, "\"stop_reason\":\"max_tokens\""));
    coop_buf_dispose(&out);
}

static void test_errors(void **state)
{
    struct coop_buf b;
    coop_buf_init(&b, 4096);
    messages_error_json(&b, 429, "provider_rate_limited", "slow down", "rid-1");
    struct json_object *o = parse(b.data);
    assert_string_equal(coop_json_str(o, "type"), "error");
    struct json_object *e = coop_json_obj(o, "error");
    assert_string_equal(coop_json_str(e, "type"), "rate_limit_error");
    assert_string_equal(coop_json_str(e, "message"), "slow down");
    assert_string_equal(coop_json_str(e, "code"), "provider_rate_limited");
    assert_string_equal(coop_json_str(e, "request_id"), "rid-1");
    json_object_put(o);
    static const struct {
        unsigned status;
        const char *type;
    } types[] = {{400, "invalid_request_error"},
                 {401, "authentication_error"},
                 {403, "permission_error"},
                 {404, "not_found_error"},
                 {502, "api_error"},
                 {503, "overloaded_error"},
                 {504, "timeout_error"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        coop_buf_reset(&b);
        messages_error_event(&b, types[i].status, "c", "m", "r");
        assert_memory_equal(b.data, "event: error\ndata: ", 19);
        assert_memory_equal(b.data + b.len - 2, "\n\n", 2);
        o = parse(b.data + 19);
        assert_string_equal(coop_json_str(coop_json_obj(o, "error"), "type"), types[i].type);
        json_object_put(o);
    }
    coop_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_request_models_and_system_blocks),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_length_and_empty),
        cmocka_unit_test(test_stop_sequence),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

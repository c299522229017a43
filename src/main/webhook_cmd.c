/*
 * coopd webhook parse SOURCE EVENT [FILE]: prints the events Coop makes of
 * a payload (FILE, or standard input) as a JSON array, without storing
 * anything. For operators checking what a host sends, and for tests.
 */
#include "app.h"

#include "coop/event.h"
#include "coop/webhook.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_all(FILE *f, struct coop_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (coop_buf_append(b, chunk, n))
            return -1;
    return ferror(f) ? -1 : 0;
}

static int parse_cmd(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: coopd webhook parse github|gitlab|bitbucket|slack EVENT [FILE]\n");
        return 2;
    }
    const struct coop_webhook_source *src = coop_webhook_source_find(argv[1]);
    if (!src) {
        fprintf(stderr, "coopd webhook parse: unknown source '%.40s'\n", argv[1]);
        return 2;
    }
    FILE *f = argc == 4 ? fopen(argv[3], "rb") : stdin;
    if (!f) {
        fprintf(stderr, "coopd webhook parse: cannot open the file\n");
        return 1;
    }
    struct coop_buf b;
    coop_buf_init(&b, COOP_WEBHOOK_MAX_BODY);
    int rc = read_all(f, &b);
    if (f != stdin)
        fclose(f);
    struct json_object *json = NULL;
    coop_err err = rc ? COOP_ERR_TOO_LARGE : coop_json_parse(b.data, b.len, 128, false, &json);
    coop_buf_dispose(&b);
    struct coop_event *events = NULL;
    if (!err)
        err = src->parse(argv[2], json, &events);
    json_object_put(json);
    if (err) {
        fprintf(stderr, "coopd webhook parse: %s\n", coop_strerror(err));
        return 1;
    }
    struct json_object *arr = json_object_new_array();
    for (struct coop_event *ev = events; ev; ev = ev->next) {
        struct json_object *o = NULL;
        if (coop_event_to_json(ev, &o) == COOP_ERR_OK)
            json_object_array_add(arr, o);
    }
    coop_event_free(events);
    puts(json_object_to_json_string_ext(arr,
                                        JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    return 0;
}

int coop_cmd_webhook(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "parse") == 0)
        return parse_cmd(argc - 1, argv + 1);
    fprintf(stderr, "usage: coopd webhook parse SOURCE EVENT [FILE]\n");
    return 2;
}

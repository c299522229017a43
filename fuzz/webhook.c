/*
 * Fuzz target: what a webhook sender controls. The first byte picks a
 * source and one of its event names; the rest is the body, which goes
 * through each signature scheme (with hostile header values derived from
 * it) and, when it is JSON, through that source's event parser.
 */
#include "coop/event.h"
#include "coop/webhook.h"

#include <json-c/json.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    int source; /* 0 github, 1 gitlab, 2 bitbucket, 3 slack */
    const char *event;
} events[] = {
    {0, "push"}, {0, "pull_request"}, {0, "pull_request_review"}, {0, "repository"}, {0, "ping"},
    {1, "Push Hook"}, {1, "Merge Request Hook"}, {1, "System Hook"}, {1, "Note Hook"},
    {2, "repo:push"}, {2, "pullrequest:created"}, {2, "pullrequest:approved"},
    {2, "repo:refs_changed"}, {2, "pr:opened"}, {2, "pr:reviewer:approved"}, {2, "repo:updated"},
    {3, "team_join"}, {3, "user_change"}, {3, "event_callback"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t pick = data[0] % (sizeof events / sizeof *events);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    /* Signature checks must refuse without reading past what they are given. */
    char header[80];
    size_t hn = len < sizeof header - 1 ? len : sizeof header - 1;
    memcpy(header, body, hn);
    header[hn] = '\0';
    (void)coop_webhook_verify_hub("fuzz-secret", body, len, header);
    (void)coop_webhook_verify_slack("fuzz-secret", header, body, len, header, 1700000000000);
    (void)coop_webhook_verify_standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", header, header,
                                       body, len, header, 1700000000000);

    json_object *payload = NULL;
    if (coop_json_parse(body, len, 64, false, &payload) != COOP_ERR_OK)
        return 0;
    struct coop_event *ev = NULL;
    coop_err err = COOP_ERR_OK;
    switch (events[pick].source) {
    case 0:
        err = coop_event_parse_github(events[pick].event, payload, &ev);
        break;
    case 1:
        err = coop_event_parse_gitlab(events[pick].event, payload, &ev);
        break;
    case 2:
        err = coop_event_parse_bitbucket(events[pick].event, payload, &ev);
        break;
    default:
        err = coop_event_parse_slack(events[pick].event, payload, &ev);
        break;
    }
    if (err != COOP_ERR_OK && ev)
        __builtin_trap();
    coop_event_free(ev);
    json_object_put(payload);
    return 0;
}

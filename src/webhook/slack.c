/*
 * Slack Events API: X-Slack-Signature "v0=<hex>" over "v0:" ts ":" body
 * with COOP_SLACK_SIGNING_SECRET, X-Slack-Request-Timestamp within five
 * minutes. url_verification is answered with its challenge and stored
 * nowhere; other envelopes dedupe by event_id, so Slack's retries
 * (X-Slack-Retry-Num) are acknowledged and processed once. Events used:
 * team_join and user_change.
 */
#include "webhook_int.h"

#include <string.h>

static coop_err slack_verify(const struct coop_config *cfg, const struct coop_webhook_input *in)
{
    return coop_webhook_verify_slack(coop_config_get(cfg, "COOP_SLACK_SIGNING_SECRET"),
                                     in->header(in->header_ctx, "X-Slack-Request-Timestamp"),
                                     in->body, in->len,
                                     in->header(in->header_ctx, "X-Slack-Signature"), in->now_ms);
}

static coop_err slack_describe(const struct coop_webhook_input *in, struct json_object *body,
                               struct coop_webhook_meta *out)
{
    const char *type = jstr(body, "type");
    if (!type)
        return COOP_ERR_PROTOCOL;
    if (!strcmp(type, "url_verification")) {
        const char *ch = jstr(body, "challenge");
        if (!ch || strlen(ch) >= sizeof out->challenge_value)
            return COOP_ERR_PROTOCOL;
        out->challenge = true;
        coop_strlcpy(out->challenge_value, ch, sizeof out->challenge_value);
        coop_strlcpy(out->event, type, sizeof out->event);
        return COOP_ERR_OK;
    }
    const char *inner = jstr(body, "event.type");
    const char *name = !strcmp(type, "event_callback") && inner ? inner : type;
    if (strlen(name) >= sizeof out->event)
        return COOP_ERR_PROTOCOL;
    coop_strlcpy(out->event, name, sizeof out->event);
    const char *id = jstr(body, "event_id");
    if (id && *id && strlen(id) < sizeof out->delivery)
        coop_strlcpy(out->delivery, id, sizeof out->delivery);
    else
        coop_webhook_body_key_(in, out);
    return COOP_ERR_OK;
}

coop_err coop_event_parse_slack(const char *event_name, struct json_object *payload,
                                struct coop_event **out)
{
    *out = NULL;
    if (!event_name || !payload || !json_object_is_type(payload, json_type_object))
        return COOP_ERR_PROTOCOL;
    struct json_object *inner = jget(payload, "event");
    if (!inner || !json_object_is_type(inner, json_type_object))
        inner = payload;
    const char *type = jstr(inner, "type");
    if (!type || (strcmp(type, "team_join") && strcmp(type, "user_change")))
        return COOP_ERR_OK;
    struct json_object *u = jget(inner, "user");
    const char *id = jstr(u, "id");
    if (!id)
        return COOP_ERR_PROTOCOL;
    struct coop_event *ev = ev_new(COOP_EVENT_SLACK_USER, COOP_EVENT_SOURCE_SLACK, type);
    if (!ev)
        return COOP_ERR_NOMEM;
    struct coop_event_slack_user *su = &ev->u.slack_user;
    su->user_id = ev_strdup(ev, id);
    su->team_id = ev_strdup(ev, jstr(u, "team_id") ? jstr(u, "team_id") : jstr(payload, "team_id"));
    su->name = ev_strdup(ev, jstr(u, "name"));
    su->real_name =
        ev_strdup(ev, jstr(u, "real_name") ? jstr(u, "real_name") : jstr(u, "profile.real_name"));
    su->display_name = ev_strdup(ev, jstr(u, "profile.display_name"));
    su->email = ev_strdup(ev, jstr(u, "profile.email"));
    su->deleted = jbool(u, "deleted");
    su->is_bot = jbool(u, "is_bot");
    ev->sender.login = ev_strdup(ev, su->name);
    int64_t t = jint(payload, "event_time", 0);
    ev->time_ms = t > 0 ? t * 1000 : 0;
    return ev_finish(ev, out);
}

const struct coop_webhook_source coop_webhook_slack = {
    .version = 1,
    .name = "slack",
    .route = "/webhooks/slack",
    .job_kind = "webhook.slack",
    .verify = slack_verify,
    .describe = slack_describe,
    .parse = coop_event_parse_slack,
};

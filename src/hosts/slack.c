/*
 * Slack's users.info, to learn a Slack user's email (users:read.email
 * scope) so the graph can link the Slack identity to the person who
 * commits with that email. The Web API answers 200 with {"ok":false,
 * "error":"..."} for most failures, so the verdict is read from the body.
 */
#include "hosts_int.h"

#include <json-c/json.h>
#include <string.h>

const struct coop_host_ops coop_host_slack = {
    .version = 1,
    .name = "slack",
    .kind = COOP_HOST_SLACK,
    .base_var = "COOP_SLACK_API_URL",
    .base_default = "https://slack.com/api",
    .token_var = "COOP_SLACK_BOT_TOKEN",
};

static void copy(char *dst, size_t size, const char *s)
{
    coop_strlcpy(dst, s ? s : "", size);
}

static coop_err slack_error(const char *e)
{
    static const char *const auth[] = {"invalid_auth",  "not_authed",        "token_expired",
                                       "token_revoked", "account_inactive", "missing_scope",
                                       NULL};
    for (size_t i = 0; auth[i]; i++)
        if (!strcmp(e, auth[i]))
            return COOP_ERR_AUTH;
    if (!strcmp(e, "user_not_found") || !strcmp(e, "user_not_visible"))
        return COOP_ERR_NOT_FOUND;
    if (!strcmp(e, "ratelimited"))
        return COOP_ERR_RATE_LIMITED;
    return COOP_ERR_UPSTREAM;
}

coop_err coop_hosts_slack_parse_user(const char *body, size_t len,
                                     struct coop_hosts_slack_user *out, char *why,
                                     size_t why_size)
{
    memset(out, 0, sizeof *out);
    if (why_size)
        why[0] = '\0';
    struct json_object *o;
    coop_err err = hosts_json_object(body, len, &o);
    if (err)
        return err;
    bool ok = false;
    struct json_object *u = coop_json_obj(o, "user");
    if (!coop_json_bool(o, "ok", &ok) || !ok) {
        const char *e = coop_json_str(o, "error");
        /* The error word is Slack's own vocabulary, never a credential;
         * anything unexpected is not echoed. */
        err = e ? slack_error(e) : COOP_ERR_PROTOCOL;
        copy(why, why_size, err == COOP_ERR_UPSTREAM ? "slack_error" : e);
    } else if (!u || !coop_json_str(u, "id")) {
        err = COOP_ERR_PROTOCOL;
    } else {
        copy(out->id, sizeof out->id, coop_json_str(u, "id"));
        copy(out->team, sizeof out->team, coop_json_str(u, "team_id"));
        copy(out->name, sizeof out->name, coop_json_str(u, "name"));
        copy(out->real_name, sizeof out->real_name, coop_json_str(u, "real_name"));
        copy(out->email, sizeof out->email, hosts_json_path_str(u, "profile.email"));
        if (!out->real_name[0])
            copy(out->real_name, sizeof out->real_name,
                 hosts_json_path_str(u, "profile.real_name"));
        coop_json_bool(u, "deleted", &out->deleted);
        coop_json_bool(u, "is_bot", &out->is_bot);
    }
    json_object_put(o);
    return err;
}

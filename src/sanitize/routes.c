/*
 * The sanitizer's one endpoint: the list of rules (id, description, group,
 * family) that the attestation reports as applied before transmission. It
 * reads the static rule table only; the sanitizer stores nothing.
 */
#include "coop/http.h"
#include "coop/sanitize.h"

#include <json-c/json.h>

static const char *group_name(unsigned group)
{
    return group == COOP_SANITIZE_PII ? "pii" : "secrets";
}

static void list_rules(struct coop_http_request *req, struct coop_http_response *res, void *ctx)
{
    const struct coop_sanitize_rule_info *rules;
    size_t n = coop_sanitize_rules(&rules);
    json_object *arr = json_object_new_array_ext((int)n);
    json_object *root = json_object_new_object();
    if (!arr || !root) {
        json_object_put(arr);
        json_object_put(root);
        coop_http_error(res, req, 500, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(rules[i].id));
        json_object_object_add(o, "description", json_object_new_string(rules[i].description));
        json_object_object_add(o, "group", json_object_new_string(group_name(rules[i].group)));
        json_object_object_add(o, "family", json_object_new_string(rules[i].family));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "rules", arr);
    coop_http_json(res, 200, root);
    json_object_put(root);
}

coop_err coop_sanitize_register_routes(struct coop_http_server *srv)
{
    const struct coop_http_route route = {
        .method = "GET",
        .pattern = "/v1/admin/sanitizer/rules",
        .scope = COOP_SCOPE_ADMIN,
        .handler = list_rules,
    };
    return coop_http_add_route(srv, &route);
}

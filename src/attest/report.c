/*
 * The retention report and the attestation statement built around it.
 * Every figure comes from the audit log (request totals, config changes,
 * chain anchors and heads, each chain verified on the spot) or from the
 * policy the router has in force; nothing is asserted that was not read.
 */
#include "attest_int.h"

#include "coop/audit.h"
#include "coop/sanitize.h"

#include <json-c/json.h>
#include <pthread.h>
#include <string.h>

#define DAY_MS 86400000LL
#define CONFIG_WINDOW_DAYS 90
#define CONFIG_MAX_ENTRIES 10000

static pthread_mutex_t policy_mu = PTHREAD_MUTEX_INITIALIZER;
static coop_attest_policy_fn policy_fn;
static void *policy_ctx;

void coop_attest_set_policy_source(coop_attest_policy_fn fn, void *ctx)
{
    pthread_mutex_lock(&policy_mu);
    policy_fn = fn;
    policy_ctx = ctx;
    pthread_mutex_unlock(&policy_mu);
}

/* The per-provider object, unwrapped from {"providers":{...}} if need be. */
static json_object *policy_json(void)
{
    pthread_mutex_lock(&policy_mu);
    json_object *p = policy_fn ? policy_fn(policy_ctx) : NULL;
    pthread_mutex_unlock(&policy_mu);
    json_object *inner = coop_json_obj(p, "providers");
    if (inner) {
        json_object_get(inner);
        json_object_put(p);
        p = inner;
    }
    return p;
}

static json_object *time_json(int64_t ms)
{
    char t[32];
    coop_clock_format(ms, t);
    return json_object_new_string(t);
}

static coop_err chain_json(struct coop_store *store, const char *chain, json_object **out)
{
    struct coop_audit_verify_result v;
    struct coop_audit_chain_state st;
    coop_err err = coop_audit_verify(store, chain, &v);
    if (!err)
        err = coop_audit_chain_state(store, chain, &st);
    if (err)
        return err;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "intact", json_object_new_boolean(v.intact));
    json_object_object_add(o, "entries", json_object_new_int64(v.entries));
    json_object_object_add(o, "anchor_seq", json_object_new_int64(st.anchor_seq));
    json_object_object_add(o, "anchor_hash", json_object_new_string(st.anchor_hash));
    json_object_object_add(o, "head_seq", json_object_new_int64(st.head_seq));
    json_object_object_add(o, "head_hash", json_object_new_string(v.head_hash));
    if (!v.intact) {
        json_object_object_add(o, "bad_seq", json_object_new_int64(v.bad_seq));
        json_object_object_add(o, "reason", json_object_new_string(v.reason));
    }
    *out = o;
    return COOP_ERR_OK;
}

static json_object *requests_json(const struct coop_audit_totals *t)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "total", json_object_new_int64(t->requests));
    json_object_object_add(o, "sent_to_providers", json_object_new_int64(t->sent));
    json_object_object_add(o, "sent_with_zero_retention",
                           json_object_new_int64(t->sent_zero_retention));
    /* Of the requests that reached a provider, the share that carried the
     * zero-retention measures; null when none was sent. */
    json_object_object_add(
        o, "zero_retention_percent",
        t->sent ? json_object_new_double(100.0 * (double)t->sent_zero_retention / (double)t->sent)
                : NULL);
    json_object_object_add(o, "byok", json_object_new_int64(t->byok));
    json_object_object_add(o, "blocked_by_policy", json_object_new_int64(t->blocked));
    json_object_object_add(o, "errors", json_object_new_int64(t->errors));
    json_object_object_add(o, "first", t->first_ms ? time_json(t->first_ms) : NULL);
    json_object_object_add(o, "last", t->last_ms ? time_json(t->last_ms) : NULL);
    return o;
}

static coop_err config_changes_json(struct coop_store *store, int64_t since, int64_t until,
                                    json_object **out)
{
    json_object *all = json_object_new_array();
    int64_t cursor = 0;
    bool truncated = false;
    do {
        json_object *rows = NULL;
        coop_err err = coop_audit_config_list(store, since, until, cursor, 1000, &rows, &cursor);
        if (err) {
            json_object_put(all);
            return err;
        }
        for (size_t i = 0; i < json_object_array_length(rows); i++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(rows, i)));
        json_object_put(rows);
        truncated = cursor && json_object_array_length(all) >= CONFIG_MAX_ENTRIES;
    } while (cursor && !truncated);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "since", time_json(since));
    json_object_object_add(o, "count",
                           json_object_new_int64((int64_t)json_object_array_length(all)));
    json_object_object_add(o, "truncated", json_object_new_boolean(truncated));
    json_object_object_add(o, "entries", all);
    *out = o;
    return COOP_ERR_OK;
}

/* The rules every LLM request is sanitized with (the secrets group always
 * applies; the PII group only where the policy enables it). */
static json_object *sanitization_json(void)
{
    const struct coop_sanitize_rule_info *rules = NULL;
    size_t n = coop_sanitize_rules(&rules);
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "id", json_object_new_string(rules[i].id));
        json_object_object_add(r, "description", json_object_new_string(rules[i].description));
        json_object_object_add(
            r, "group",
            json_object_new_string(rules[i].group == COOP_SANITIZE_PII ? "pii" : "secrets"));
        json_object_array_add(arr, r);
    }
    json_object_object_add(o, "rule_count", json_object_new_int64((int64_t)n));
    json_object_object_add(o, "rules", arr);
    return o;
}

coop_err coop_attest_report(struct coop_store *store, int64_t now_ms, int days, int retention_days,
                            json_object **out)
{
    if (days < 1 || days > 3650)
        return COOP_ERR_INVALID;
    int64_t start = now_ms - (int64_t)days * DAY_MS;
    struct coop_audit_totals totals;
    json_object *llm = NULL, *config = NULL, *changes = NULL;
    coop_err err = coop_audit_totals(store, start, now_ms + 1, &totals);
    if (!err)
        err = chain_json(store, COOP_AUDIT_CHAIN_LLM, &llm);
    if (!err)
        err = chain_json(store, COOP_AUDIT_CHAIN_CONFIG, &config);
    if (!err)
        err =
            config_changes_json(store, now_ms - CONFIG_WINDOW_DAYS * DAY_MS, now_ms + 1, &changes);
    if (err) {
        json_object_put(llm);
        json_object_put(config);
        return err;
    }

    json_object *r = json_object_new_object(), *period = json_object_new_object(),
                *gen = json_object_new_object(), *audit = json_object_new_object(),
                *chains = json_object_new_object();
    json_object_object_add(r, "report_type", json_object_new_string("coop.retention-report.v1"));
    json_object_object_add(gen, "name", json_object_new_string("coopd"));
    json_object_object_add(gen, "version", json_object_new_string(COOP_VERSION));
    json_object_object_add(r, "generator", gen);
    json_object_object_add(r, "generated_at", time_json(now_ms));
    json_object_object_add(period, "start", time_json(start));
    json_object_object_add(period, "end", time_json(now_ms));
    json_object_object_add(period, "days", json_object_new_int(days));
    json_object_object_add(r, "period", period);
    json_object_object_add(r, "llm_requests", requests_json(&totals));

    json_object *policy = policy_json();
    json_object_object_add(r, "providers", policy);
    json_object_object_add(r, "providers_source",
                           json_object_new_string(policy ? "policy in force" : "unavailable"));
    json_object_object_add(r, "sanitization", sanitization_json());
    json_object_object_add(r, "config_changes", changes);

    json_object_object_add(audit, "retention_days", json_object_new_int(retention_days));
    json_object_object_add(chains, COOP_AUDIT_CHAIN_LLM, llm);
    json_object_object_add(chains, COOP_AUDIT_CHAIN_CONFIG, config);
    json_object_object_add(audit, "chains", chains);
    json_object_object_add(r, "audit", audit);
    *out = r;
    return COOP_ERR_OK;
}

static json_object *subject(const char *name, json_object *chain)
{
    json_object *s = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(s, "name", json_object_new_string(name));
    json_object_object_add(d, "sha256",
                           json_object_get(json_object_object_get(chain, "head_hash")));
    json_object_object_add(s, "digest", d);
    return s;
}

coop_err coop_attest_statement(struct coop_store *store, int64_t now_ms, int days,
                               int retention_days, json_object **out)
{
    json_object *report = NULL;
    coop_err err = coop_attest_report(store, now_ms, days, retention_days, &report);
    if (err)
        return err;
    json_object *chains = json_object_object_get(json_object_object_get(report, "audit"), "chains");
    json_object *st = json_object_new_object(), *subjects = json_object_new_array();
    json_object_array_add(subjects, subject("coop-audit-chain:llm",
                                            json_object_object_get(chains, COOP_AUDIT_CHAIN_LLM)));
    json_object_array_add(subjects,
                          subject("coop-audit-chain:config",
                                  json_object_object_get(chains, COOP_AUDIT_CHAIN_CONFIG)));
    json_object_object_add(st, "_type", json_object_new_string(COOP_INTOTO_STATEMENT_TYPE));
    json_object_object_add(st, "subject", subjects);
    json_object_object_add(st, "predicateType", json_object_new_string(COOP_ATTEST_PREDICATE_TYPE));
    json_object_object_add(st, "predicate", report);
    *out = st;
    return COOP_ERR_OK;
}

coop_err coop_attest_envelope(const struct coop_attest_signer *s, struct coop_store *store,
                              int64_t now_ms, int days, int retention_days, json_object **out)
{
    json_object *st = NULL;
    coop_err err = coop_attest_statement(store, now_ms, days, retention_days, &st);
    if (err)
        return err;
    size_t len = 0;
    const char *text = json_object_to_json_string_length(
        st, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    err = coop_dsse_sign(s, COOP_DSSE_PAYLOAD_TYPE, text, len, out);
    json_object_put(st);
    return err;
}

/*
 * The hash chains behind the audit log and the config-change log.
 *
 * An entry is a list of typed values in a fixed order (the chain's column
 * table below). Its canonical form is a JSON array: a version tag, the
 * sequence number, the recording time, then each column (null when NULL);
 * its hash is SHA-256 over the previous entry's hash (hex), a newline, and
 * the canonical form. The same encoder serves appending and verifying, so
 * a verifier rebuilds exactly what was hashed.
 *
 * Appends serialize on the chain's row in audit_chains: the first statement
 * of the transaction increments head_seq with RETURNING, which takes the
 * row lock on PostgreSQL and the write lock on SQLite, so two appends can
 * never share a predecessor.
 */
#include "audit_int.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const struct audit_column llm_columns[] = {
    {"customer", true, false},       {"provider", true, false},
    {"model", true, false},          {"ts", false, false},
    {"request_id", true, false},     {"status", true, false},
    {"status_code", false, false},   {"byok", false, false},
    {"zero_retention", true, false}, {"sanitizer_counts", true, false},
    {"latency_ms", false, false},    {"input_tokens", false, false},
    {"output_tokens", false, false}, {"target", true, false},
    {"attempts", false, false},      {"route", true, true},
};

static const struct audit_column config_columns[] = {
    {"actor", true, false},
    {"what", true, false},
    {"detail", true, false},
};

const struct audit_chain audit_chain_llm = {
    .name = COOP_AUDIT_CHAIN_LLM,
    .table = "audit_log",
    .tag = "coop.audit.llm.v1",
    .columns = llm_columns,
    .ncolumns = sizeof llm_columns / sizeof *llm_columns,
};

const struct audit_chain audit_chain_config = {
    .name = COOP_AUDIT_CHAIN_CONFIG,
    .table = "config_changes",
    .tag = "coop.audit.config.v1",
    .columns = config_columns,
    .ncolumns = sizeof config_columns / sizeof *config_columns,
};

const struct audit_chain *audit_chain_find(const char *name)
{
    if (name && strcmp(name, COOP_AUDIT_CHAIN_LLM) == 0)
        return &audit_chain_llm;
    if (name && strcmp(name, COOP_AUDIT_CHAIN_CONFIG) == 0)
        return &audit_chain_config;
    return NULL;
}

static const char zero_hash[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- canonical form and hash --------------------------------------------- */

coop_err audit_entry_hash(const struct audit_chain *c, int64_t seq, int64_t recorded_at,
                          const struct audit_value *v, const char *prev_hash, char out[65])
{
    struct coop_buf b;
    coop_buf_init(&b, 1u << 20);
    coop_err err = coop_buf_puts(&b, prev_hash);
    if (!err)
        err = coop_buf_puts(&b, "\n[");
    if (!err)
        err = coop_buf_json_str(&b, c->tag, strlen(c->tag));
    if (!err)
        err = coop_buf_printf(&b, ",%lld,%lld", (long long)seq, (long long)recorded_at);
    for (size_t i = 0; !err && i < c->ncolumns; i++) {
        if (v[i].null && c->columns[i].optional)
            continue;
        err = coop_buf_puts(&b, ",");
        if (err)
            break;
        if (v[i].null)
            err = coop_buf_puts(&b, "null");
        else if (c->columns[i].text)
            err = coop_buf_json_str(&b, v[i].s, v[i].n);
        else
            err = coop_buf_printf(&b, "%lld", (long long)v[i].i);
    }
    if (!err)
        err = coop_buf_puts(&b, "]");
    if (!err)
        coop_sha256_hex(b.data, b.len, out);
    coop_buf_dispose(&b);
    return err;
}

/* ---- chain state ---------------------------------------------------------- */

static coop_err read_state(void *ctx, const struct coop_row *row)
{
    struct coop_audit_chain_state *st = ctx;
    const char *hh = coop_row_text(row, 1, NULL), *ah = coop_row_text(row, 3, NULL);
    st->head_seq = coop_row_int(row, 0);
    coop_strlcpy(st->head_hash, hh ? hh : "", sizeof st->head_hash);
    st->anchor_seq = coop_row_int(row, 2);
    coop_strlcpy(st->anchor_hash, ah ? ah : "", sizeof st->anchor_hash);
    return COOP_ERR_OK;
}

coop_err audit_state_conn(struct coop_conn *conn, const char *chain,
                          struct coop_audit_chain_state *out)
{
    memset(out, 0, sizeof *out);
    out->anchor_seq = -1;
    coop_err err = coop_conn_query(conn,
                                   "SELECT head_seq, head_hash, anchor_seq, anchor_hash "
                                   "FROM audit_chains WHERE chain = ?",
                                   COOP_PARAMS(COOP_PT(chain)), read_state, out);
    if (!err && out->anchor_seq < 0)
        err = COOP_ERR_NOT_FOUND;
    return err;
}

struct state_ctx {
    const char *chain;
    struct coop_audit_chain_state *out;
};

static coop_err state_tx(struct coop_conn *conn, void *ctx)
{
    struct state_ctx *s = ctx;
    return audit_state_conn(conn, s->chain, s->out);
}

coop_err coop_audit_chain_state(struct coop_store *store, const char *chain,
                                struct coop_audit_chain_state *out)
{
    if (!audit_chain_find(chain))
        return COOP_ERR_INVALID;
    struct state_ctx s = {chain, out};
    return coop_store_tx(store, false, state_tx, &s);
}

/* ---- append --------------------------------------------------------------- */

static coop_err read_next(void *ctx, const struct coop_row *row)
{
    struct coop_audit_chain_state *st = ctx;
    const char *h = coop_row_text(row, 1, NULL);
    st->head_seq = coop_row_int(row, 0);
    coop_strlcpy(st->head_hash, h ? h : "", sizeof st->head_hash);
    return COOP_ERR_OK;
}

coop_err audit_chain_append(struct coop_conn *conn, const struct audit_chain *c,
                            const struct audit_value *v, int64_t recorded_at)
{
    struct coop_audit_chain_state st = {.head_seq = -1};
    coop_err err = COOP_ERR_OK;
    /* Every append moves the same head row. Under PostgreSQL's SERIALIZABLE
     * concurrent appenders would each fail and retry; a self-conflicting
     * table lock taken before the transaction's first query (its snapshot)
     * queues them instead, as SQLite's single writer does. */
    if (coop_conn_dialect(conn) == COOP_STORE_POSTGRES &&
        (err = coop_conn_exec(conn, "LOCK TABLE audit_chains IN SHARE ROW EXCLUSIVE MODE",
                              COOP_NOPARAMS, NULL)))
        return err;
    err = coop_conn_query(conn,
                                   "UPDATE audit_chains SET head_seq = head_seq + 1 "
                                   "WHERE chain = ? RETURNING head_seq, head_hash",
                                   COOP_PARAMS(COOP_PT(c->name)), read_next, &st);
    if (err)
        return err;
    if (st.head_seq < 1)
        return COOP_ERR_NOT_FOUND;
    char hash[65];
    if ((err = audit_entry_hash(c, st.head_seq, recorded_at, v, st.head_hash, hash)))
        return err;

    /* INSERT INTO t (seq, recorded_at, <columns>, prev_hash, hash) VALUES (?...) */
    struct coop_buf sql;
    struct coop_param params[AUDIT_MAX_COLUMNS + 4];
    size_t np = 0;
    coop_buf_init(&sql, 4096);
    coop_buf_printf(&sql, "INSERT INTO %s (seq, recorded_at", c->table);
    for (size_t i = 0; i < c->ncolumns; i++)
        coop_buf_printf(&sql, ", %s", c->columns[i].name);
    coop_buf_puts(&sql, ", prev_hash, hash) VALUES (?, ?");
    params[np++] = COOP_PI(st.head_seq);
    params[np++] = COOP_PI(recorded_at);
    for (size_t i = 0; i < c->ncolumns; i++) {
        coop_buf_puts(&sql, ", ?");
        if (v[i].null)
            params[np++] = COOP_PNULL;
        else if (c->columns[i].text)
            params[np++] = COOP_PTN(v[i].s, v[i].n);
        else
            params[np++] = COOP_PI(v[i].i);
    }
    err = coop_buf_puts(&sql, ", ?, ?)");
    params[np++] = COOP_PT(st.head_hash);
    params[np++] = COOP_PT(hash);
    if (!err)
        err = coop_conn_exec(conn, sql.data, params, np, NULL);
    coop_buf_dispose(&sql);
    if (!err)
        err = coop_conn_exec(conn, "UPDATE audit_chains SET head_hash = ? WHERE chain = ?",
                             COOP_PARAMS(COOP_PT(hash), COOP_PT(c->name)), NULL);
    return err;
}

/* ---- verify --------------------------------------------------------------- */

struct verify_ctx {
    const struct audit_chain *c;
    struct coop_audit_verify_result *out;
    int64_t expect_seq;
    char prev[65];
};

static void fail(struct verify_ctx *v, int64_t seq, const char *why)
{
    struct coop_audit_verify_result *out = v->out;
    if (!out->intact)
        return;
    out->intact = false;
    out->bad_seq = seq;
    coop_strlcpy(out->reason, why, sizeof out->reason);
}

static coop_err verify_row(void *ctx, const struct coop_row *row)
{
    struct verify_ctx *v = ctx;
    const struct audit_chain *c = v->c;
    struct audit_value vals[AUDIT_MAX_COLUMNS];
    int64_t seq = coop_row_int(row, 0), recorded_at = coop_row_int(row, 1);
    for (size_t i = 0; i < c->ncolumns; i++) {
        int col = (int)i + 2;
        memset(&vals[i], 0, sizeof vals[i]);
        vals[i].null = coop_row_is_null(row, col);
        if (vals[i].null)
            continue;
        if (c->columns[i].text)
            vals[i].s = coop_row_text(row, col, &vals[i].n);
        else
            vals[i].i = coop_row_int(row, col);
    }
    const char *prev = coop_row_text(row, (int)c->ncolumns + 2, NULL);
    const char *stored = coop_row_text(row, (int)c->ncolumns + 3, NULL);
    char hash[65];
    coop_err err = audit_entry_hash(c, seq, recorded_at, vals, v->prev, hash);
    if (err)
        return err;

    if (seq != v->expect_seq)
        fail(v, v->expect_seq,
             seq > v->expect_seq ? "an entry is missing" : "sequence out of order");
    else if (!prev || strcmp(prev, v->prev) != 0)
        fail(v, seq, "previous-hash link does not match");
    else if (!stored || strcmp(stored, hash) != 0)
        fail(v, seq, "entry hash does not match its contents");

    if (v->out->entries == 0)
        v->out->first_seq = seq;
    v->out->entries++;
    v->out->last_seq = seq;
    /* Continue from the recomputed hash so one change is reported once,
     * at the entry where it happened. */
    memcpy(v->prev, hash, sizeof v->prev);
    v->expect_seq = seq + 1;
    return COOP_ERR_OK;
}

struct verify_tx_ctx {
    const struct audit_chain *c;
    struct coop_audit_verify_result *out;
};

static coop_err verify_tx(struct coop_conn *conn, void *ctx)
{
    struct verify_tx_ctx *t = ctx;
    const struct audit_chain *c = t->c;
    struct coop_audit_verify_result *out = t->out;
    struct coop_audit_chain_state st;
    memset(out, 0, sizeof *out);
    out->intact = true;
    coop_err err = audit_state_conn(conn, c->name, &st);
    if (err)
        return err;

    struct verify_ctx v = {.c = c, .out = out, .expect_seq = st.anchor_seq};
    coop_strlcpy(v.prev, st.anchor_hash, sizeof v.prev);
    struct coop_buf sql;
    coop_buf_init(&sql, 4096);
    coop_buf_puts(&sql, "SELECT seq, recorded_at");
    for (size_t i = 0; i < c->ncolumns; i++)
        coop_buf_printf(&sql, ", %s", c->columns[i].name);
    err = coop_buf_printf(&sql, ", prev_hash, hash FROM %s ORDER BY seq", c->table);
    if (!err)
        err = coop_conn_query(conn, sql.data, COOP_NOPARAMS, verify_row, &v);
    coop_buf_dispose(&sql);
    if (err)
        return err;

    /* The head pins the newest entry: removing entries at the end, or all
     * of them, shows here. */
    if (st.head_seq >= st.anchor_seq && v.expect_seq != st.head_seq + 1)
        fail(&v, v.expect_seq, "entries at the end are missing");
    else if (st.head_seq < st.anchor_seq - 1)
        fail(&v, st.head_seq, "the head is behind the anchor");
    else if (out->entries == 0 && strcmp(st.head_hash, st.anchor_hash) != 0)
        fail(&v, st.anchor_seq, "the head does not match the anchor");
    else if (out->entries > 0 && strcmp(v.prev, st.head_hash) != 0)
        fail(&v, out->last_seq, "the head hash does not match the newest entry");
    coop_strlcpy(out->head_hash, st.head_hash, sizeof out->head_hash);
    return COOP_ERR_OK;
}

coop_err coop_audit_verify(struct coop_store *store, const char *chain,
                           struct coop_audit_verify_result *out)
{
    const struct audit_chain *c = audit_chain_find(chain);
    if (!c)
        return COOP_ERR_INVALID;
    struct verify_tx_ctx t = {c, out};
    return coop_store_tx(store, false, verify_tx, &t);
}

/* ---- purge ---------------------------------------------------------------- */

struct purge_ctx {
    const struct audit_chain *c;
    int64_t cutoff;
    int64_t deleted;
};

static coop_err read_text65(void *ctx, const struct coop_row *row)
{
    const char *h = coop_row_text(row, 0, NULL);
    coop_strlcpy(ctx, h ? h : "", 65);
    return COOP_ERR_OK;
}

static coop_err purge_tx(struct coop_conn *conn, void *ctx)
{
    struct purge_ctx *p = ctx;
    const struct audit_chain *c = p->c;
    struct coop_audit_chain_state st;
    char sql[256];
    p->deleted = 0;
    coop_err err = audit_state_conn(conn, c->name, &st);
    if (err)
        return err;

    /* Keep everything from the first entry recorded at or after the
     * cutoff; an older entry after it (the clock went back) stays too,
     * so that what is kept is always one unbroken chain. */
    int64_t keep_from = 0;
    snprintf(sql, sizeof sql, "SELECT MIN(seq) FROM %s WHERE recorded_at >= ?", c->table);
    err = coop_conn_query_int(conn, sql, COOP_PARAMS(COOP_PI(p->cutoff)), &keep_from);
    if (err == COOP_ERR_NOT_FOUND || (!err && keep_from == 0))
        keep_from = st.head_seq + 1;
    else if (err)
        return err;
    if (keep_from <= st.anchor_seq)
        return COOP_ERR_OK;

    char anchor[65] = "";
    snprintf(sql, sizeof sql, "SELECT hash FROM %s WHERE seq = ?", c->table);
    if ((err =
             coop_conn_query(conn, sql, COOP_PARAMS(COOP_PI(keep_from - 1)), read_text65, anchor)))
        return err;
    if (!anchor[0]) {
        coop_log_error("audit purge: the entry before the cutoff is missing; chain not purged",
                       COOP_F_STR("chain", c->name), COOP_F_INT("seq", keep_from - 1));
        return COOP_ERR_CONFLICT;
    }
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE seq < ?", c->table);
    if ((err = coop_conn_exec(conn, sql, COOP_PARAMS(COOP_PI(keep_from)), &p->deleted)))
        return err;
    return coop_conn_exec(conn,
                          "UPDATE audit_chains SET anchor_seq = ?, anchor_hash = ? WHERE chain = ?",
                          COOP_PARAMS(COOP_PI(keep_from), COOP_PT(anchor), COOP_PT(c->name)), NULL);
}

coop_err coop_audit_purge(struct coop_store *store, int64_t now_ms, int retention_days,
                          int64_t *deleted)
{
    const struct audit_chain *chains[] = {&audit_chain_llm, &audit_chain_config};
    int64_t total = 0;
    if (retention_days < 1)
        return COOP_ERR_INVALID;
    for (size_t i = 0; i < sizeof chains / sizeof *chains; i++) {
        struct purge_ctx p = {.c = chains[i],
                              .cutoff = now_ms - (int64_t)retention_days * 86400000};
        coop_err err = coop_store_tx(store, true, purge_tx, &p);
        if (err)
            return err;
        total += p.deleted;
    }
    if (deleted)
        *deleted = total;
    return COOP_ERR_OK;
}

const char *audit_zero_hash(void)
{
    return zero_hash;
}

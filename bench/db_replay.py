#!/usr/bin/env python3
"""Writes the psql script of one replay variant (see bench/db-replay.sh).

The job's statements for the default mapping, replayed batch by batch over one connection:
tokens bench-000000001..N in creation order (the seed of bench/lib.sh), answers from the token's
last digit (0-5 COMPLETED, 6-7 EXPIRED, 8 FAILED, 9 NEW), 500 per claim and per apply, claim i
answered by apply i. A variant is a comma-separated list of pieces, each optionally =FILE (a
file of bench/replay/) or =OPTION:

  setup=FILE        SQL run first (an index changed, a setting), before the statements are prepared
  claim[=FILE]      the claim as the job sends it (advisory lock, expired-claim delete, the job's
                    claim statement with its parameters written in, unprepared); claim=notoken:
                    claims that hold no token list (priced, not exact); claim=prep: the claim
                    prepared once per keyset shape; claim=FILE: a claim statement of your own
                    (:key and :tok stand for the keyset)
  apply[=FILE]      the batch apply (prepared; default the job's), then the delete of the claim it
                    answered; apply_update*.sql and apply_audit_*.sql are the update alone and the
                    update with an audit row. A file that prepares `apply_terminal` (and
                    optionally `apply_rest`) is a split apply: the answers terminal at the
                    gateway go to apply_terminal($1 run, $2 worker, $3 tokens, $4 claim ids,
                    $5..$8 the mapped values, $9 states, $10 raw answers, $11 attempts), the
                    others, if the batch has any, to apply_rest (the parameters of the job's
                    apply); a line `-- noset` leaves out the SET LOCAL enable_seqscan = off
  report[=FILE]     the report's read of its findings (a cursor, FETCH 500 at a time; default the
                    job's)
  count             count_selected once at the start (the job's)
  leases            one live claim row per batch, written before the first batch (no claim
                    statements), so that `apply` alone passes its lease check and is priced
                    without the claims' cost and noise
  nonew             with apply: the answers still NEW are not sent (priced, not exact)
  noset             with apply: no SET LOCAL enable_seqscan = off before it
  naive             the naive guarded update only (two arrays), on the merchant's table alone

    db_replay.py VARIANT N [KEYS [STATEMENTS]] > script.sql

KEYS: "created_at<TAB>token" per session in claim order (db-replay.sh writes it), for the
keyset of each claim and the tokens. STATEMENTS: what `deposit-reconciler statements claim
count apply findings` printed for the replayed database (db-replay.sh writes it), so "the job's"
statements above are the binary's own, never a copy that ages (an apply that takes `$21` takes
the batch in two groups, as apply_groups below; an older binary's apply, the nine arrays). bench/replay/ holds only
variants that differ on purpose; the names of the dated copies it used to hold,
replay_apply_v1.sql, apply_groups.sql (the apply in two groups, sixth session) and report_v1.sql,
now stand for the binary's apply and report read.
"""
import re
import sys

BATCH = 500
TABLE = '"public"."deposit_sessions"'


def answer(i):
    d = int(token(i)[-1])
    return 'COMPLETED' if d <= 5 else 'EXPIRED' if d <= 7 else 'FAILED' if d == 8 else 'NEW'


TOKENS = []


def token(i):
    return TOKENS[i - 1] if TOKENS else 'bench-%09d' % i


def arr(values):
    out = []
    for v in values:
        if v is None:
            out.append('NULL')
        elif isinstance(v, int):
            out.append(str(v))
        else:
            out.append('"' + v.replace('\\', '\\\\').replace('"', '\\"') + '"')
    return "'{" + ','.join(out) + "}'"


STATEMENTS = {}
# Former dated copies of the job's statements: now the binary's own.
ALIASES = {'replay_apply_v1.sql': 'apply', 'report_v1.sql': 'findings',
           'replay_apply_v2.sql': 'apply', 'apply_groups.sql': 'apply'}
# Former copies of a migration as a setup: the template database is migrated by the binary, so
# they are in it already.
MIGRATED = {'audit_batches_0007.sql'}


def load_statements(path):
    text = open(path).read()
    names = ['claim', 'count', 'apply', 'findings']
    parts = text.split('\n;\n')
    if len(parts) < len(names):
        sys.exit('db_replay.py: %s does not hold the statements %s' % (path, ', '.join(names)))
    STATEMENTS.update(zip(names, parts))


def statement(name):
    if name not in STATEMENTS:
        sys.exit('db_replay.py: the job\'s %s statement is needed: pass the output of '
                 '`deposit-reconciler statements claim count apply findings` (db-replay.sh does)' % name)
    return STATEMENTS[name]


def bind(sql, values):
    """The statement with its $n parameters written in as the SQL text `values[n]`."""
    return re.sub(r'\$(\d+)', lambda m: values[int(m.group(1))], sql)


def quoted(v):
    return 'NULL' if v is None else "'" + v.replace("'", "''") + "'"


def raw(i):
    return '{"sessionState":"%s","checkOutUrl":"https://checkout.example/c/%s"}' % (answer(i), token(i))




CLAIM_PREP = """PREPARE claim_%(name)s AS
WITH picked AS (
  SELECT s."session_token"::text AS token, coalesce(k.checks, 0) AS checks,
         s."created_at" AS order_key, s."session_token" AS order_token
  FROM "public"."deposit_sessions" s LEFT JOIN session_checks k ON k.session_token = s."session_token"::text
  WHERE s."state" = 'NEW'
    AND s."created_at" <= (now() - $4::bigint * interval '1 microsecond')::timestamp with time zone
    AND ($6::boolean OR k.next_check_at IS NULL OR k.next_check_at <= $5::timestamptz)
    AND (k.last_checked_at IS NULL OR k.last_checked_at < $5::timestamptz)%(keyset)s
    AND s."session_token"::text NOT IN (SELECT unnest(c.tokens) FROM claims c)
  ORDER BY s."created_at", s."session_token"
  LIMIT $11::integer
), claimed AS (
  INSERT INTO claims (run_id, worker_id, expires_at, tokens)
  SELECT $1::bigint, $2::text, now() + $12::bigint * interval '1 microsecond', array_agg(p.token)
  FROM picked p
  HAVING count(*) > 0
  RETURNING id
), last AS (
  SELECT p.order_key::text AS key, p.token
  FROM picked p ORDER BY p.order_key DESC, p.order_token DESC LIMIT 1
)
SELECT p.token, p.checks, (SELECT key FROM last), (SELECT token FROM last), (SELECT id FROM claimed),
       $3::text, $7::text, $8::text, $9::text, $10::text
FROM picked p;
"""


def claim_prep(key, tok):
    return """BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \\g /dev/null
DELETE FROM claims WHERE expires_at < now();
EXECUTE claim_%s(1, 'w', 'NEW', 0, :'cutoff', true, NULL, NULL, %s, %s, 500, 600000000) \\g /dev/null
COMMIT;
""" % ('next' if key else 'first', "'%s'" % key if key else 'NULL', "'%s'" % tok if tok else 'NULL')


def claim_v1(key, tok, opt=''):
    sql = bind(statement('claim'), {
        1: '1', 2: "'w'", 3: "'NEW'", 4: '0', 5: ":'cutoff'", 6: 'true', 7: 'NULL', 8: 'NULL',
        9: quoted(key), 10: quoted(tok), 11: '500', 12: '600000000',
        # The store's own live claims (none here: each apply deletes the claim it answers).
        13: "'{}'",
        # The window (sessions walked; the store's least, as every session here is due).
        14: '563'})
    if opt == 'notoken':
        anti_join = re.compile(r'\n    AND s\."session_token"::text NOT IN \(SELECT unnest\(c\.tokens\) '
                               r'FROM claims c(\)|\s+WHERE [^\n]*\)\))')
        if not anti_join.search(sql) or 'array_agg(p.token)' not in sql:
            sys.exit('db_replay.py: claim=notoken does not fit the job\'s claim statement any more')
        sql = anti_join.sub('', sql).replace('array_agg(p.token)', "'{}'::text[]")
    return """BEGIN;
SELECT pg_advisory_xact_lock(1685218145, hashtext(current_schema())) \\g /dev/null
DELETE FROM claims WHERE expires_at < now();
%s \\g /dev/null
COMMIT;
""" % sql


def main():
    pieces = dict((p.split('=', 1) + [None])[:2] for p in sys.argv[1].split(','))
    variant = set(pieces)
    n = int(sys.argv[2])
    out = sys.stdout
    out.write("\\set ON_ERROR_STOP 1\n")
    if 'naive' not in variant:
        out.write("SET search_path = deposit_reconciler;\n")
        out.write("INSERT INTO reconciler_runs (worker_id) VALUES ('w') RETURNING started_at::text AS cutoff \\gset\n")
    here = __file__.rsplit('/', 1)[0]
    if len(sys.argv) > 4:
        load_statements(sys.argv[4])

    def own(piece):
        """A piece's bench/replay/ file, or None for the job's own statement."""
        f = pieces.get(piece)
        return None if f is None or f in ALIASES else open(here + '/replay/' + f).read()
    if 'setup' in variant and pieces['setup'] not in MIGRATED:
        out.write(open(here + '/replay/' + pieces['setup']).read() + '\n')
    if 'naive' in variant:
        out.write("PREPARE apply(text[], text[]) AS UPDATE %s s SET state = u.state "
                  "FROM unnest($1, $2) AS u(token, state) "
                  "WHERE s.session_token = u.token AND s.state = 'NEW';\n" % TABLE)
    elif 'apply' in variant:
        sql = own('apply')
        out.write((sql if sql is not None else "PREPARE apply AS\n%s;" % statement('apply')) + '\n')
    if pieces.get('claim', '-') == 'prep':
        out.write("SET plan_cache_mode = force_generic_plan;\n")
        out.write(CLAIM_PREP % {'name': 'first', 'keyset': ''})
        out.write(CLAIM_PREP % {'name': 'next', 'keyset': """
    AND (s."created_at", s."session_token") > ($9::text::timestamp with time zone, $10::text::text)"""})
        out.write("SET plan_cache_mode = auto;\n")
    if 'count' in variant:
        out.write("%s \\g /dev/null\n" % bind(statement('count'), {
            1: "'NEW'", 2: '0', 3: ":'cutoff'", 4: 'true', 5: 'NULL', 6: 'NULL'}))
    rows = [line.rstrip('\n').split('\t') for line in open(sys.argv[3])] if len(sys.argv) > 3 else []
    keys = [r[0] for r in rows]
    TOKENS[:] = [r[1] for r in rows if len(r) > 1]
    key = None
    claim_id = 0
    apply_sql = own('apply') or ''
    split = 'PREPARE apply_terminal' in apply_sql
    groups = 'PREPARE apply_groups' in apply_sql
    groups_name = 'apply_groups'
    if own('apply') is None and 'apply' in variant and 'naive' not in variant \
            and '$21' in statement('apply'):
        groups, groups_name = True, 'apply'  # the job's apply takes the batch in two groups
    has_rest = 'PREPARE apply_rest' in apply_sql
    noset = '-- noset' in apply_sql or 'noset' in variant
    leases = 'leases' in variant and 'claim' not in variant
    if leases:
        out.write("INSERT INTO claims (id, run_id, worker_id, expires_at, tokens) "
                  "SELECT g, 1, 'w', now() + interval '1 day', '{}' "
                  "FROM generate_series(1, %d) g;\n" % ((n + BATCH - 1) // BATCH))
    for start in range(1, n + 1, BATCH):
        ids = list(range(start, min(n, start + BATCH - 1) + 1))
        if 'claim' in variant:
            if pieces['claim'] and pieces['claim'].endswith('.sql'):
                out.write(open(here + '/replay/' + pieces['claim']).read()
                          .replace(':key', "'%s'" % key[0] if key else 'NULL')
                          .replace(':tok', "'%s'" % key[1] if key else 'NULL'))
            elif pieces['claim'] == 'prep':
                out.write(claim_prep(*(key or (None, None))))
            else:
                out.write(claim_v1(*(key or (None, None)), opt=pieces['claim'] or ''))
            claim_id += 1
            key = (keys[ids[-1] - 1] if keys else 'x', token(ids[-1]))
        if 'naive' in variant:
            sent = [i for i in ids if answer(i) != 'NEW']
            out.write("EXECUTE apply(%s, %s);\n" % (arr(token(i) for i in sent),
                                                     arr(answer(i) for i in sent)))
        elif 'apply' in variant:
            if 'nonew' in variant:  # priced, not exact: the answers still NEW are not sent
                ids = [i for i in ids if answer(i) != 'NEW']
            cid = claim_id if 'claim' in variant else 0
            if leases:
                cid = (start - 1) // BATCH + 1  # the batch's claim row
            if groups:
                term = [i for i in ids if answer(i) != 'NEW']
                rest = [i for i in ids if answer(i) == 'NEW']
                out.write("BEGIN;\n" if noset else "BEGIN;\nSET LOCAL enable_seqscan = off;\n")
                out.write("EXECUTE %s(1, 'w', 172800000000, 'NEW', 'COMPLETED', 'EXPIRED', 'FAILED', %s) \\g /dev/null\n"
                          % (groups_name, ', '.join([
                              arr(token(i) for i in term), arr(cid for _ in term),
                              arr(answer(i) for i in term), arr(raw(i) for i in term),
                              arr(1 for _ in term), arr(1764547200000000 + i for i in term),
                              arr(token(i) for i in rest), arr(cid for _ in rest),
                              arr('state' for _ in rest), arr(answer(i) for i in rest),
                              arr(200 for _ in rest), arr(1 for _ in rest),
                              arr(None for _ in rest), arr(1764547200000000 + i for i in rest)])))
                if 'claim' in variant or leases:
                    out.write("DELETE FROM claims WHERE worker_id = 'w' AND id IN (%d);\n" % cid)
                out.write("COMMIT;\n")
                continue
            if split:
                term = [i for i in ids if answer(i) != 'NEW']
                rest = [i for i in ids if answer(i) == 'NEW']
                out.write("BEGIN;\n" if noset else "BEGIN;\nSET LOCAL enable_seqscan = off;\n")
                if term:
                    out.write("EXECUTE apply_terminal(1, 'w', %s, %s, 'NEW', 'COMPLETED', 'EXPIRED', 'FAILED', %s, %s, %s) \\g /dev/null\n"
                              % (arr(token(i) for i in term), arr(cid for _ in term),
                                 arr(answer(i) for i in term), arr(raw(i) for i in term),
                                 arr(1 for _ in term)))
                if rest and has_rest:
                    out.write("EXECUTE apply_rest(1, 'w', %s, 172800000000, 'NEW', 'COMPLETED', 'EXPIRED', 'FAILED', %s) \\g /dev/null\n"
                              % (arr(token(i) for i in rest), ', '.join([
                                  arr(cid for _ in rest), arr('state' for _ in rest),
                                  arr(answer(i) for i in rest), arr(200 for _ in rest),
                                  arr(1 for _ in rest), arr(None for _ in rest),
                                  arr(raw(i) for i in rest),
                                  arr(1764547200000000 + i for i in rest)])))
                if 'claim' in variant or leases:
                    out.write("DELETE FROM claims WHERE worker_id = 'w' AND id IN (%d);\n" % cid)
                out.write("COMMIT;\n")
                continue
            args = [
                arr(token(i) for i in ids), arr(cid for _ in ids), arr('state' for _ in ids),
                arr(answer(i) for i in ids), arr(200 for _ in ids), arr(1 for _ in ids),
                arr(None for _ in ids), arr(raw(i) for i in ids),
                arr(1764547200000000 + i for i in ids)]
            out.write("BEGIN;\n" if noset else "BEGIN;\nSET LOCAL enable_seqscan = off;\n")
            out.write("EXECUTE apply(1, 'w', %s, 172800000000, 'NEW', 'COMPLETED', 'EXPIRED', 'FAILED', %s) \\g /dev/null\n"
                      % (args[0], ', '.join(args[1:])))
            if 'claim' in variant or leases:
                out.write("DELETE FROM claims WHERE worker_id = 'w' AND id IN (%d);\n" % cid)
            out.write("COMMIT;\n")
    if 'report' in variant:
        sql = own('report')
        if sql is None:
            # What libpqxx's icursorstream sends (store/pg_finding_reader.cc).
            sql = ('BEGIN;\nDECLARE dr_findings NO SCROLL CURSOR FOR %s FOR READ ONLY;\n'
                   'FETCH 0 IN dr_findings \\g /dev/null' % statement('findings'))
        out.write(sql + "\n")
        for _ in range(n // BATCH + 2):
            out.write("FETCH FORWARD 500 FROM dr_findings \\g /dev/null\n")
        out.write("COMMIT;\n")


if __name__ == '__main__':
    main()

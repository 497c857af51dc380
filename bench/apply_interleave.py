#!/usr/bin/env python3
"""Writes the psql script of one apply-interleave.sh run (see there).

    apply_interleave.py TOKENS VARIANT[,VARIANT...] > script.sql

TOKENS: one session token per line, in creation order. Batch b of 500 sessions goes to variant
b mod len(variants), so every variant applies its own sessions (a guarded update that applies
nothing measures nothing) and all of them see the table as it evolves. Before and after each
batch the backend reads its own CPU time (/proc/<pid>/schedstat: nanoseconds on a CPU, not 10 ms
ticks) and files the difference under the variant; the first six batches of each variant are
filed apart (custom plans: a prepared statement's first five executions are planned with their
parameters). Answers as db_replay.py writes them (the token's last digit: 0-5 COMPLETED, 6-7
EXPIRED, 8 FAILED, 9 NEW), one live claim (id 1, worker 'w'), the job's transaction around each
apply (BEGIN, SET LOCAL enable_seqscan = off, EXECUTE, COMMIT).

A variant is:
  naive         the issue's naive guarded update, on public.deposit_sessions (autocommit)
  naive0        the same on public.naive_sessions (sql/0001's table: the primary key alone)
  apply         the job's apply (the file the script is given as $APPLY_SQL: the binary's own)
  FILE          a bench/replay/ file that prepares apply_groups (the job's 21 parameters)
and may end in :OPT, OPT one of
  auto          no transaction around it (autocommit, no SET LOCAL)
  noraw         the raw answers' array sent empty (prices their input; not exact)
  min           only the tokens' and states' arrays sent, the others empty (not exact)
When the variants are naive and naive0 alone, the script ends with a VACUUM of each table, measured
the same way (each had the same number of rows updated).
"""
import os
import sys

BATCH = 500
HERE = os.path.dirname(os.path.abspath(__file__))


def answer(t):
    d = int(t[-1])
    return 'COMPLETED' if d <= 5 else 'EXPIRED' if d <= 7 else 'FAILED' if d == 8 else 'NEW'


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


def raw(t):
    return '{"sessionState":"%s","checkOutUrl":"https://checkout.example/c/%s"}' % (answer(t), t)


NAIVE = ("PREPARE %s(text[], text[]) AS UPDATE public.%s s SET state = u.state "
         "FROM unnest($1, $2) AS u(token, state) WHERE s.session_token = u.token AND s.state = 'NEW';\n")


def main():
    tokens = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    variants = [v.partition(':') for v in sys.argv[2].split(',')]
    o = sys.stdout
    o.write("\\set ON_ERROR_STOP 1\nSET search_path = deposit_reconciler;\n")
    o.write("CREATE FUNCTION pg_temp.cpu() RETURNS bigint LANGUAGE sql AS $$ SELECT "
            "split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint "
            "/ 1000 $$;\n")
    o.write("CREATE TEMP TABLE cpu_t(variant text, us bigint, applied int);\n")
    o.write(NAIVE % ('naive', 'deposit_sessions'))
    if any(v == 'naive0' for v, _, _ in variants):
        o.write(NAIVE % ('naive0', 'naive_sessions'))
    for i, (v, _, _) in enumerate(variants):
        if v in ('naive', 'naive0'):
            continue
        path = os.environ['APPLY_SQL'] if v == 'apply' else os.path.join(HERE, 'replay', v)
        text = open(path).read()
        if v == 'apply':
            text = 'PREPARE apply_groups AS\n' + text.strip().rstrip(';') + ';'
        o.write(text.replace('PREPARE apply_groups AS', 'PREPARE v%d AS' % i) + '\n')
    o.write("\\o /dev/null\n")
    for b in range(len(tokens) // BATCH):
        i = b % len(variants)
        v, _, opt = variants[i]
        batch = tokens[b * BATCH:(b + 1) * BATCH]
        term = [t for t in batch if answer(t) != 'NEW']
        rest = [t for t in batch if answer(t) == 'NEW']
        o.write("SELECT pg_temp.cpu() AS c0 \\gset\n")
        if v in ('naive', 'naive0'):
            o.write("EXECUTE %s(%s, %s);\n" % (v, arr(term), arr(answer(t) for t in term)))
        else:
            args = [arr(term), arr(1 for _ in term), arr(answer(t) for t in term),
                    arr(raw(t) for t in term), arr(1 for _ in term),
                    arr(1764547200000000 for _ in term),
                    arr(rest), arr(1 for _ in rest), arr('state' for _ in rest),
                    arr('NEW' for _ in rest), arr(200 for _ in rest), arr(1 for _ in rest),
                    arr(None for _ in rest), arr(1764547200000000 for _ in rest)]
            if opt == 'noraw':
                args[3] = "'{}'"
            if opt == 'min':
                args = [a if k in (0, 2) else "'{}'" for k, a in enumerate(args)]
            if opt != 'auto':
                o.write("BEGIN;\nSET LOCAL enable_seqscan = off;\n")
            o.write("EXECUTE v%d(1, 'w', 172800000000, 'NEW', 'COMPLETED', 'EXPIRED', 'FAILED', %s);\n"
                    % (i, ', '.join(args)))
            if opt != 'auto':
                o.write("COMMIT;\n")
        name = sys.argv[2].split(',')[i] + (' (first 6)' if b // len(variants) < 6 else '')
        o.write("INSERT INTO cpu_t VALUES ('%s', pg_temp.cpu() - :c0, %d);\n" % (name, len(term)))
    if sorted(v for v, _, _ in variants) == ['naive', 'naive0']:
        # Each table had the same number of rows updated (alternate batches).
        updated = sum(1 for b in range(len(tokens) // BATCH) if variants[b % len(variants)][0] == 'naive'
                      for t in tokens[b * BATCH:(b + 1) * BATCH] if answer(t) != 'NEW')
        for table in ('deposit_sessions', 'naive_sessions'):
            o.write("SELECT pg_temp.cpu() AS c0 \\gset\nVACUUM public.%s;\n"
                    "INSERT INTO cpu_t VALUES ('VACUUM %s', pg_temp.cpu() - :c0, %d);\n"
                    % (table, table, updated))
    o.write("\\o\nCOPY cpu_t TO STDOUT;\n")


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Writes the psql script of bench/claim-explain.sh --compare: the claim before 0008, after it, and
after 0009 (sixth session), EXPLAIN (ANALYZE, BUFFERS) on the loaded database, scheduled and
--all, five times each.

Each measured claim is taken as the job takes it: from a position in the walk (the sessions of
two earlier claims of the same run behind it, both still live), inside a transaction that is
rolled back. "before" is bench/replay/claim_v1.sql with session_checks' token in the database's
collation; "after" is bench/replay/claim_v2.sql (src/store/sql/claim.sql since 0008) with it in
"C". "0009" is bench/replay/claim_window3.sql (src/store/sql/claim.sql since 0009: a window of
an eighth more than the claim takes, its schedule rows read by creation time and joined by hash)
for a claim of BATCH and of 2 x BATCH (the job claims two write batches at a time). All carry
the default mapping's names.

    claim_explain_compare.py BATCH > script.sql
"""
import re
import sys

HERE = __file__.rsplit('/', 1)[0]


def claim(name, size, all_sessions):
    text = open('%s/replay/%s' % (HERE, name)).read()
    text = '\n'.join(l for l in text.split('\n') if not l.startswith('--'))
    start = text.index('WITH ')
    body = text[start:text.index('\\g /dev/null', start)].rstrip()
    body = body.replace('LIMIT 563', 'LIMIT %d' % (size + size // 8 + 1))
    body = body.replace('LIMIT 500', 'LIMIT %d' % size).replace('= 500', '= %d' % size)
    body = body.replace(":key", ":'key'").replace(":tok", ":'tok'")
    if not all_sessions:
        body = body.replace('(true::boolean OR', '(false::boolean OR')
    return body


def main():
    batch = int(sys.argv[1])
    out = ["\\set ON_ERROR_STOP 1", "SET search_path = deposit_reconciler;",
           "SELECT now()::text AS cutoff \\gset"]
    for side, name, collation, size in (('before 0008', 'claim_v1.sql', 'default', batch),
                                        ('after 0008', 'claim_v2.sql', 'C', batch),
                                        ('after 0009', 'claim_window3.sql', None, batch),
                                        ('after 0009', 'claim_window3.sql', None, 2 * batch)):
        if collation:
            out.append('ALTER TABLE session_checks ALTER COLUMN session_token TYPE text '
                       'COLLATE "%s";' % collation)
            out.append('ANALYZE session_checks;')
        for kind, all_sessions in (('scheduled', False), ('--all', True)):
            out.append("\\echo '==== %s: %s claim of %d (two live claims behind the position)'"
                       % (side, kind, size))
            out.append('DELETE FROM claims;')
            out.append("\\set key NULL\n\\set tok NULL")
            # Two claims that stay live, each moving the position on to its last session.
            for _ in range(2):
                q = claim(name, size, all_sessions).replace(":'key'", ":key").replace(":'tok'", ":tok")
                out.append('%s \\g /dev/null' % q)
                out.append("SELECT coalesce(min(x.key), 'NULL') AS key, "
                           "coalesce(min(x.tok), 'NULL') AS tok FROM ("
                           "SELECT quote_literal(s.created_at::text) AS key, "
                           "quote_literal(s.session_token) AS tok FROM public.deposit_sessions s "
                           "WHERE s.session_token = ANY ((SELECT tokens FROM claims "
                           "ORDER BY id DESC LIMIT 1)::text[]) "
                           "ORDER BY s.created_at DESC, s.session_token DESC LIMIT 1) x \\gset")
            for _ in range(5):
                q = claim(name, size, all_sessions).replace(":'key'", ":key").replace(":'tok'", ":tok")
                out.append('BEGIN;\nEXPLAIN (ANALYZE, BUFFERS, SUMMARY) %s;\nROLLBACK;' % q)
    out.append('DELETE FROM claims;')
    print('\n'.join(out))


if __name__ == '__main__':
    main()

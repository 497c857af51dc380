#!/usr/bin/env python3
"""Prints bench/db-cost.sh's results: per-session figures side by side (each run, then the ratio
of the means, ours / naive), then for the first run of each: rows written per table, WAL by
record kind and the heaviest statements.

usage: db_cost_report.py RESULTS.tsv N
"""
import collections
import sys


def load(path):
    data = collections.defaultdict(dict)  # (kind, rep) -> {key: value}
    with open(path) as f:
        for line in f:
            kind, rep, key, value = line.rstrip("\n").split("\t", 3)
            data[(kind, int(rep))][key] = value
    return data


def num(d, key):
    v = d.get(key, "")
    return float(v) if v not in ("", None) else 0.0


def walrec(d, *names):
    total_count = 0
    for k, v in d.items():
        if k.startswith("walrec:") and k[7:] in names:
            total_count += int(v.split()[0])
    return total_count


def tables(d):
    out = {}
    for k, v in d.items():
        if k.startswith("table:"):
            ins, upd, hot, dele, nidx = (int(x) for x in v.split())
            out[k[6:]] = (ins, upd, hot, dele, nidx)
    return out


def metrics(d, n):
    t = tables(d)
    ins = sum(x[0] for x in t.values())
    upd = sum(x[1] for x in t.values())
    hot = sum(x[2] for x in t.values())
    m = collections.OrderedDict()
    m["PostgreSQL CPU, run + VACUUM (µs)"] = num(d, "pg_cpu_us") / n
    m["  of which the VACUUM (µs)"] = num(d, "vacuum_cpu_us") / n
    m["WAL (bytes)"] = num(d, "wal_bytes") / n
    m["WAL records"] = num(d, "wal_records") / n
    m["WAL full-page images"] = num(d, "wal_fpi") / n
    m["statements executed"] = num(d, "stmt_calls") / n
    m["statement rows"] = num(d, "stmt_rows") / n
    m["statement execution time (µs)"] = num(d, "stmt_ms") * 1000 / n
    m["rows inserted (all tables)"] = ins / n
    m["rows updated (all tables)"] = upd / n
    m["  of which HOT"] = hot / n
    m["index entries written (B-tree insert WAL records)"] = walrec(
        d, "Btree/INSERT_LEAF", "Btree/INSERT_POST", "Btree/SPLIT_L", "Btree/SPLIT_R") / n
    m["hash index entries written (Hash/INSERT records)"] = walrec(d, "Hash/INSERT") / n
    m["row locks written (Heap/LOCK WAL records)"] = walrec(d, "Heap/LOCK") / n
    m["client CPU (µs, the job's process)"] = num(d, "client_cpu_us") / n
    m["wall time of the run (s, total)"] = num(d, "wall_s")
    return m


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def main():
    data = load(sys.argv[1])
    n = int(sys.argv[2])
    reps = sorted({r for (_, r) in data})
    per = {(k, r): metrics(d, n) for (k, r), d in data.items()}
    rows = list(per[("ours", reps[0])].keys())
    sides = ["before", "ours"] if any(k == "before" for (k, _) in data) else ["ours"]

    def mean(v):
        return sum(v) / len(v) if v else 0

    print()
    head = f"per session (N = {n:,})".ljust(52) + " | naive (each run)    "
    for side in sides:
        head += f"| {side + ' (each run)':21}"
    head += "".join(f"| {side} / naive " for side in sides)
    print(head)
    print("-" * 52 + "-|" + "-" * 22 + ("|" + "-" * 22) * len(sides) + ("|" + "-" * 16) * len(sides))
    for key in rows:
        nv = [per[("naive", r)][key] for r in reps if ("naive", r) in per]
        line = f"{key:52} | {' / '.join(fmt(v) for v in nv):20} "
        ratios = ""
        for side in sides:
            ov = [per[(side, r)][key] for r in reps if (side, r) in per]
            line += f"| {' / '.join(fmt(v) for v in ov):20} "
            ratio = f"{mean(ov) / mean(nv):.1f}x" if mean(nv) else "-"
            if key.startswith("client CPU") or key.startswith("wall"):
                ratio = ""
            ratios += f"| {ratio:14} "
        print(line + ratios)
    for kind in sides + ["naive"]:
        d = data[(kind, reps[0])]
        print(f"\n## {kind}, run 1: final states: {d.get('states', '?')}")
        print(f"{'table':44} {'ins/sess':>9} {'upd/sess':>9} {'HOT %':>6} {'del/sess':>9} {'indexes':>8}")
        for tbl, (ins, upd, hot, dele, nidx) in sorted(tables(d).items()):
            hotp = f"{100 * hot / upd:.0f}" if upd else "-"
            print(f"{tbl:44} {ins / n:9.3f} {upd / n:9.3f} {hotp:>6} {dele / n:9.3f} {nidx:8d}")
        print(f"\nWAL by record kind (top 12){'':17} {'records/sess':>13} {'bytes/sess':>11}")
        recs = [(k[7:], *(int(x) for x in v.split())) for k, v in d.items() if k.startswith("walrec:")]
        for what, count, size in sorted(recs, key=lambda r: -r[2])[:12]:
            print(f"  {what:42} {count / n:13.3f} {size / n:11.1f}")
        print(f"\nstatements by execution time (top 12): calls, rows, ms total, µs/session, WAL bytes/session")
        stmts = []
        for k, v in d.items():
            if k.startswith("stmt:"):
                calls, rows_, ms, wal = v.split()
                stmts.append((float(ms), int(calls), int(rows_), int(wal), k[5:]))
        for ms, calls, rows_, wal, q in sorted(stmts, reverse=True):
            print(f"  {calls:7d} {rows_:8d} {ms:9.1f} {ms * 1000 / n:7.2f} {wal / n:8.1f}  {q[:110]}")


main()

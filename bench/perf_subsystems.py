#!/usr/bin/env python3
"""Where a deposit-reconciler run spends its CPU, from `perf script -F comm,tid,ip,sym,dso` of a
`perf record --call-graph dwarf` profile.

Three views:
  by subsystem   each sample goes to the innermost frame of its stack that belongs to a
                 subsystem (curl, TLS, HTTP/2, libpq/libpqxx, our modules); generic code (libc,
                 libstdc++, the kernel, nlohmann::json, fmt, std::) is charged to its caller, so
                 a memcpy inside libcurl counts as curl and JSON parsing inside
                 dr::gateway::parse_session_status as answer parsing
  by leaf        the library or kernel the CPU was actually in (self time)
  by symbol      the top self-time symbols

usage: perf_subsystems.py PERF_SCRIPT.txt
"""
import collections
import re
import sys


def classify(sym, dso):
    """A subsystem name, or None for generic code that is charged to its caller."""
    d = dso.rsplit("/", 1)[-1]
    if d.startswith("libcurl"):
        return "curl (libcurl)"
    if d.startswith("libssl") or d.startswith("libcrypto"):
        return "TLS (OpenSSL)"
    if d.startswith("libnghttp2"):
        return "HTTP/2 (nghttp2)"
    if d.startswith("libpqxx"):
        return "database client (libpq, libpqxx, store)"
    if d.startswith("libpq"):
        return "database client (libpq, libpqxx, store)"
    if d.startswith(("libz", "libbrotli", "libzstd", "libidn2", "libpsl", "libnss", "libresolv")):
        return "curl (libcurl)"
    if "deposit-reconciler" in d:
        if "parse_session_status" in sym or "describe_error_body" in sym:
            return "gateway answer parsing (JSON)"
        if "dr::report::" in sym:
            return "report writing (csv/json/html, metrics)"
        if "dr::store::" in sym or "pqxx::" in sym:
            return "database client (libpq, libpqxx, store)"
        if "dr::http::" in sym:
            return "http engine (src/http)"
        if "StoreWorker" in sym:
            return "store worker (src/reconcile)"
        if "dr::reconcile::" in sym:
            return "pipeline (src/reconcile)"
        if "dr::pacing::" in sym:
            return "pacing (token bucket, retry)"
        if "dr::log" in sym or "dr::common::" in sym or "Logger" in sym:
            return "logging and common"
        if "dr::gateway::" in sym:
            return "gateway (URLs, states)"
        if "dr::app::" in sym or sym.startswith("main"):
            return "app (main, options)"
        return None  # nlohmann, fmt, std:: templates instantiated in our binary
    return None  # libc, libstdc++, kernel, ld.so, unknown


def leaf_bucket(sym, dso):
    c = classify(sym, dso)
    if c:
        return c
    d = dso.rsplit("/", 1)[-1]
    if d.startswith("[kernel"):
        return "kernel"
    if d.startswith("libc.so") or d.startswith("libc-"):
        return "libc (malloc, memcpy, ...)"
    if d.startswith("libstdc++"):
        return "libstdc++"
    if "deposit-reconciler" in d:
        if "nlohmann" in sym:
            return "nlohmann::json (inlined in our binary)"
        if "fmt::" in sym:
            return "fmt (inlined in our binary)"
        return "our binary, other (std:: templates, ...)"
    return d or "?"


LINE = re.compile(r"^\s*([0-9a-f]+)\s+(.*)\s+\(([^()]*)\)\s*$")


def samples(path):
    stack, header = [], None
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if header is not None:
                    yield header, stack
                stack, header = [], None
                continue
            if not line.startswith(("\t", " ")) or header is None and not LINE.match(line):
                header = line.split()
                stack = []
                continue
            m = LINE.match(line)
            if m:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(2))
                stack.append((sym, m.group(3)))
    if header is not None:
        yield header, stack


def resolve_inlined(stack):
    """perf marks inlined frames with "(inlined)": give them the object of their caller."""
    out, real = [], "?"
    for sym, dso in reversed(stack):
        if dso == "inlined":
            dso = real
        else:
            real = dso
        out.append((sym, dso))
    return out[::-1]


def main():
    by_sub = collections.Counter()
    by_leaf = collections.Counter()
    by_sym = collections.Counter()
    by_tid = collections.Counter()
    by_sub_kernel = collections.Counter()
    total = 0
    for header, stack in samples(sys.argv[1]):
        if not stack:
            continue
        stack = resolve_inlined(stack)
        total += 1
        if len(header) >= 2:
            by_tid[header[1]] += 1
        sym, dso = stack[0]
        by_leaf[leaf_bucket(sym, dso)] += 1
        by_sym[(sym[:90], dso.rsplit("/", 1)[-1])] += 1
        in_kernel = dso.startswith("[kernel")
        for s, d in stack:
            c = classify(s, d)
            if c:
                by_sub[c] += 1
                if in_kernel:
                    by_sub_kernel[c] += 1
                break
        else:
            by_sub["unattributed (" + leaf_bucket(sym, dso) + ")"] += 1
    if not total:
        print("no samples")
        return
    print(f"{total} samples; threads (by share of samples): " +
          ", ".join(f"{100 * c / total:.0f}%" for _, c in by_tid.most_common(6)))
    print("\nby subsystem (generic code charged to its caller; in brackets: the part spent in the kernel)")
    for k, c in by_sub.most_common():
        print(f"  {100 * c / total:5.1f}%  {k}  [kernel {100 * by_sub_kernel[k] / total:.1f}%]")
    print("\nby leaf (where the CPU actually was)")
    for k, c in by_leaf.most_common():
        print(f"  {100 * c / total:5.1f}%  {k}")
    print("\ntop symbols (self)")
    for (s, d), c in by_sym.most_common(30):
        print(f"  {100 * c / total:5.1f}%  {s}  [{d}]")


main()

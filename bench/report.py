#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into docs/BENCHMARKS.md and docs/bench/throughput.png."""

import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone

out, docs, elapsed, seconds, repeat, concurrency, soak = sys.argv[1:8]
levels = [int(c) for c in concurrency.split()]

runs = defaultdict(list)
publishes = defaultdict(list)
with open(os.path.join(out, "results.jsonl")) as f:
    for line in f:
        r = json.loads(line)
        runs[(r["workload"], r["c"])].append(float(r["msgs"]))
        if "publishes" in r:
            publishes[(r["workload"], r["c"])].append(float(r["publishes"]))


def med(workload, c):
    values = runs.get((workload, c))
    return statistics.median(values) if values else None


def fmt(v):
    return "—" if v is None else f"{v:,.0f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


WORKLOADS = [
    ("send", "SQL `psqlqueue.send`"),
    ("raw_send", "raw single-row INSERT"),
    ("cycle_1", "SQL receive(1) + ack"),
    ("raw_cycle_1", "raw UPDATE…SKIP LOCKED LIMIT 1 + DELETE"),
    ("orig_cycle_1", "original psqlqueue pattern, 1"),
    ("orig_cycle_1_history", "original pattern, 1, after 100k acks (c=8 only)"),
    ("cycle_10", "SQL receive(10) + 10 acks"),
    ("raw_cycle_10", "raw UPDATE…SKIP LOCKED LIMIT 10 + DELETE"),
    ("orig_cycle_10", "original psqlqueue pattern, 10"),
    ("publish_1", "publish, 1 subscription (1 match)"),
    ("publish_10", "publish, 10 subscriptions (5 match)"),
    ("publish_100", "publish, 100 subscriptions (50 match)"),
    ("http_send", "HTTP POST message"),
    ("http_cycle_1", "HTTP GET messages?limit=1 + PUT ack"),
]

rss = {}
rss_path = os.path.join(out, "rss.json")
if os.path.exists(rss_path):
    with open(rss_path) as f:
        rss = json.load(f)

C = 8 if 8 in levels else levels[-1]
targets = [
    ("SQL send ≥ 0.9× raw INSERT", ratio(med("send", C), med("raw_send", C)), 0.9),
    ("SQL receive(1)+ack ≥ 0.9× raw cycle", ratio(med("cycle_1", C), med("raw_cycle_1", C)), 0.9),
    ("SQL receive(10)+ack ≥ 0.9× raw cycle", ratio(med("cycle_10", C), med("raw_cycle_10", C)), 0.9),
    ("receive(1)+ack ≥ 3× original pattern", ratio(med("cycle_1", C), med("orig_cycle_1", C)), 3.0),
    ("receive(10)+ack ≥ 3× original pattern", ratio(med("cycle_10", C), med("orig_cycle_10", C)), 3.0),
    ("receive(1)+ack ≥ 3× original pattern after 100k acks", ratio(med("cycle_1", C), med("orig_cycle_1_history", C)), 3.0),
    ("HTTP send ≥ 0.5× SQL send", ratio(med("http_send", C), med("send", C)), 0.5),
    ("HTTP receive+ack ≥ 0.5× SQL cycle (limit 1)", ratio(med("http_cycle_1", C), med("cycle_1", C)), 0.5),
    ("receive+ack at 1M waiting ≥ 0.8× at 1k", ratio(med("depth_1000000", 8), med("depth_1000", 8)), 0.8),
]

lines = []
w = lines.append
now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
rev = sh("git rev-parse --short HEAD")
started_path = os.path.join(out, "started")
if os.path.exists(started_path):  # when and what the run measured, not when this page was written
    with open(started_path) as f:
        parts = f.read().split()
    if len(parts) >= 4:
        now, rev = " ".join(parts[:3]), parts[3]
w("# Benchmarks\n")
w(f"Last full run: **{now}**, `make bench` ({int(elapsed) // 60} min {int(elapsed) % 60} s), git `{rev}`.\n")
w("## How to read this\n")
w(f"Every number is messages per second, the **median of {repeat} runs of {seconds} s** at each concurrency "
  "(pgbench clients or HTTP connections). Ratios compare medians from this one run on this one machine: "
  "the machine is shared and noisy, so absolute numbers move between runs while ratios hold better. "
  "Targets are checked at concurrency 8. pgbench, wrk, the sidecar and PostgreSQL all share the machine's "
  "cores, so the load generator takes CPU from what it measures, most for HTTP.\n")
w("- **raw** rows are PostgreSQL's own limit for the same work: plain statements on a table `bench_raw` with the same "
  "columns, primary key, receive index `(queue_id, visible_at, id)` and foreign key as `psqlqueue.messages`, "
  "no function in between (id from `gen_random_uuid()`).")
w("- **SQL cycle** is what a consumer does: `receive(queue, NULL, n)` in one transaction, then the acks of what "
  "it got in another (`SELECT count(psqlqueue.ack(...)) FROM unnest($ids)`).")
w("- **original pattern** reproduces the Go psqlqueue's statements on a table of its shape: `SELECT … FOR UPDATE "
  "SKIP LOCKED` ordered by creation, one UPDATE per message in the same transaction; ack as SELECT … FOR UPDATE "
  "then UPDATE marking it expired (rows stay).")
w("- **after 100k acks**: the original keeps acked messages (marked expired) until someone calls cleanup, as its "
  "walkthrough says; this point runs it with 100k such rows ahead of the live ones, its steady state between cleanups.")
w("- **publish** counts message copies written (publishes/s × matching subscriptions).\n")
w("## Targets (concurrency 8)\n")
w("| target | ratio | met |")
w("| --- | --- | --- |")
for name, value, goal in targets:
    met = "—" if value is None else ("yes" if value >= goal else "**no**")
    w(f"| {name} | {'—' if value is None else f'{value:.2f}×'} | {met} |")
if rss:
    mib = rss["rss_kib"] / 1024
    w(f"| sidecar peak RSS ≤ 64 MiB at 64 connections | {mib:.1f} MiB | {'yes' if mib <= 64 else '**no**'} |")
w("")
w("## Throughput (messages/s, median)\n")
w("| workload | " + " | ".join(f"c={c}" for c in levels) + " |")
w("| --- | " + " | ".join("---:" for _ in levels) + " |")
for key, label in WORKLOADS:
    w(f"| {label} | " + " | ".join(fmt(med(key, c)) for c in levels) + " |")
w("")
w("Publishes per second (each writes one message per matching subscription):\n")
w("| subscriptions | " + " | ".join(f"c={c}" for c in levels) + " | ms per publish at c=1 |")
w("| --- | " + " | ".join("---:" for _ in levels) + " | ---: |")
for subs in (1, 10, 100):
    per = [statistics.median(publishes[(f"publish_{subs}", c)]) if publishes.get((f"publish_{subs}", c)) else None for c in levels]
    one = per[0] if per and per[0] else None
    w(f"| {subs} | " + " | ".join(fmt(p) for p in per) + f" | {'—' if not one else f'{1000 / one:.2f}'} |")
w("")
w("## Depth (receive + ack with a steady backlog, c=8)\n")
w("Each cycle sends one message and receives + acks the oldest, so the backlog stays at its size.\n")
w("| messages waiting | cycles/s |")
w("| --- | ---: |")
for key, label in [("depth_1000", "1k"), ("depth_100000", "100k"), ("depth_1000000", "1M"), ("depth_10k_queues", "1k, with 10,000 other queues holding 100k messages")]:
    w(f"| {label} | {fmt(med(key, 8))} |")
plan_path = os.path.join(out, "plan.txt")
if os.path.exists(plan_path):
    with open(plan_path) as f:
        w("\nThe receive head with 10k queues and their messages present (no sort, an index range scan that stops at the limit):\n")
        w("```\n" + f.read().strip() + "\n```")
w("")
soak_path = os.path.join(out, "soak.tsv")
if os.path.exists(soak_path):
    w(f"## Bloat: {soak} s of mixed load (8 clients: send, receive, ack; 10k backlog; autovacuum on)\n")
    w("| t (s) | table | indexes | rows |")
    w("| ---: | ---: | ---: | ---: |")
    with open(soak_path) as f:
        for row in f:
            t, table, idx, rows = row.strip().split("|")
            w(f"| {t} | {int(table) / 1048576:.1f} MiB | {int(idx) / 1048576:.1f} MiB | {rows} |")
    w("")
if rss:
    w(f"## Sidecar memory\n\nPeak RSS (VmHWM) of `psqlqueue server` after {seconds} s of 64 concurrent connections "
      f"posting messages: **{rss['rss_kib'] / 1024:.1f} MiB** ({float(rss['rps64']):,.0f} requests/s).\n")
warn_path = os.path.join(out, "warnings")
if os.path.exists(warn_path):
    with open(warn_path) as f:
        warnings = f.read().strip()
    if warnings:
        w("## Warnings from this run\n\n```\n" + warnings + "\n```\n")
w("## Where targets are missed, and why\n")
w("What we measured while looking (`pgbench -M prepared` on the local server; numbers are from those "
  "investigations, not from the run above):\n")
w("- **Run-to-run spread is larger than some gaps.** Three full runs of the same SQL on this machine gave "
  "send/raw 0.74–0.96×, receive(10)/raw 0.83–0.93×, depth 1M/1k 0.79–1.17×. Treat a miss "
  "within ~0.15 of its target as unresolved by this machine, not as a regression; longer points "
  "(`BENCH_SECONDS=10 BENCH_REPEAT=5`) narrow it.")
w("- **send** pays, per call, a PL/pgSQL function entry, the explicit `FOR KEY SHARE` on the queue row (so "
  "a send racing a queue delete is a clean not-found), the attributes check and the Rust ULID call. Variants "
  "with an inlined `jsonb_path_exists` check and with `gen_random_uuid()` instead of the ULID were within "
  "noise of the shipped function in alternating 5 s runs at c=8.")
w("- **receive + ack (limit 1)**: one receive costs ~0.67 ms against ~0.55 ms for the raw UPDATE at c=1 "
  "inside BEGIN…ROLLBACK, i.e. the PL/pgSQL call and RETURN QUERY materialisation. Folding the queue lookup "
  "into the statement, dropping the expired-row DELETE CTE and the final sort each stayed within noise "
  "(0.64–0.76 ms). The structural fix is receive/ack in Rust with SPI plans kept across calls.")
w("- **receive(10) + 10 acks** also makes ten ack calls where the raw cycle runs one DELETE; a batch ack "
  "(on the roadmap) removes that difference.")
w("- **3× the original pattern at limit 1**: on a freshly filled table even the raw limit is only about "
  "2.2× the original's statements (one SELECT … SKIP LOCKED plus one UPDATE per message and per ack); its "
  "cost is in what it keeps: with the acked rows it leaves behind until cleanup (100k here) it falls to "
  "~110 messages/s while psqlqueue deletes at ack and stays flat, the 'after 100k acks' target.")
w("- **Depth**: the plan above is an index range scan that stops at the limit, with no sort; with 1M "
  "messages the heap (~0.5 GB) exceeds shared_buffers (256 MB), so touching the head reads through the OS cache.")
w("- **Bloat**: the row count stays at the backlog while table and index grow until autovacuum's passes catch "
  "up; in 90 s the growth slows but has not always stopped, so the soak table above does not prove a bound. "
  "The 10-minute soak the target asks for does not fit the 15-minute budget: `BENCH_SOAK_SECONDS=600 make bench` runs it.\n")
w("## Machine and settings\n")
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
mem = sh("free -g | awk '/Mem:/{print $2}'")
w(f"- {sh('nproc')} cores ({cpu.strip()}), {mem} GiB RAM, {platform.system()} {platform.release()}")
w(f"- {sh('/usr/lib/postgresql/15/bin/postgres --version')}; a fresh private cluster per run: fsync=on, "
  "synchronous_commit=on, shared_buffers=256MB, max_wal_size=2GB, checkpoint_timeout=15min, autovacuum=on, jit=off")
w("- extension and sidecar: release builds (`scripts/install-ext.sh --release`, `cargo build --release`); "
  "sidecar pool 16 connections")
w(f"- {sh('pgbench --version')}, `-M prepared`, `-j 2`; {sh('wrk --version 2>&1 | head -1')}")
w("- other processes on the machine (services, builds) may have been running\n")
w("## Reproduce\n")
w("```sh\nmake bench                          # the whole run, ~10 min")
w("BENCH_SECONDS=10 BENCH_REPEAT=5 make bench   # longer, steadier points")
w("```\n")
w("Scripts: `bench/run.sh` (orchestration), `bench/sql/*.sql` (pgbench scripts and fixtures), "
  "`bench/http/*.lua` (wrk), `bench/report.py` (this page and the plot). Raw output: `target/bench/`.\n")
w("![throughput](bench/throughput.png)\n")

with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
    f.write("\n".join(lines))

# The plot: messages/s against concurrency, a line per workload.
data_path = os.path.join(out, "throughput.dat")
plotted = [(k, l) for k, l in WORKLOADS if any(med(k, c) for c in levels)]
with open(data_path, "w") as f:
    for c in levels:
        f.write(str(c) + " " + " ".join(str(med(k, c) or "NaN") for k, _ in plotted) + "\n")
gp = [
    "set terminal png size 1300,650",
    f"set output '{os.path.join(docs, 'bench', 'throughput.png')}'",
    "set title 'psqlqueue throughput (median messages/s)'",
    "set xlabel 'concurrency (clients / connections)'",
    "set ylabel 'messages/s'",
    "set logscale x 2", "set logscale y 10", "set key outside right", "set grid",
    f"set xtics ({', '.join(str(c) for c in levels)})",
    "plot " + ", ".join(f"'{data_path}' using 1:{i + 2} with linespoints title '{l}'" for i, (_, l) in enumerate(plotted)),
]
subprocess.run(["gnuplot"], input="\n".join(gp), text=True, check=False)
print("\n".join(lines[: lines.index("## Throughput (messages/s, median)\n") if "## Throughput (messages/s, median)\n" in lines else 30]))

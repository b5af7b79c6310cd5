#!/usr/bin/env python3
"""Turns a directory of palaver-bench JSON reports into docs/benchmarks.md (used by scripts/bench-compare)."""
import glob
import json
import os
import platform
import subprocess
import sys

results, target_md, knobs = sys.argv[1], sys.argv[2], sys.argv[3]
reports = []
for path in sorted(glob.glob(os.path.join(results, "*.json"))):
    with open(path) as f:
        reports.append(json.load(f))


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""


def of(scenario):
    return [r for r in reports if r["scenario"] == scenario]


def best(report):
    passing = [s for s in report["steps"] if s["passed"]]
    return max(passing, key=lambda s: s["offered_rate"]) if passing else None


def best_cells(report, base, p999=False):
    """The cells of a report's highest passing step (with its p99.9 before the max when `p999`) and its
    rate against `base`'s (Palaver's) step, or "none passed"."""
    b = best(report)
    if b is None:
        return ["none passed"] + [""] * (6 if p999 else 5)
    ratio = f"{b['offered_rate'] / base['offered_rate']:.2f}×" if base else ""
    l = b["latency"]
    tail = [f"{l['p999_ms']:.2f}"] if p999 else []
    return [f"{b['offered_rate']:.0f}", f"{b['delivered_rate']:.0f}", f"{l['p50_ms']:.2f}", f"{l['p99_ms']:.2f}"] + tail + [
        f"{l['max_ms']:.1f}", ratio]


def row(cells):
    return "| " + " | ".join(cells) + " |"


out = []
w = out.append
w("# Benchmarks")
w("")
w("Palaver against Prosody 0.12 and ejabberd 23.01 (Debian's packages) and a bare TCP relay (the ceiling of")
w("this machine), all driven by `palaver-bench` with the same scenarios. Written by `scripts/bench-compare`;")
w("every figure below comes from the JSON reports of one run.")
w("")
w("## Machine and setup")
w("")
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
memory = sh("free -h | awk '/Mem:/ {print $2}'")
commit = sh("git rev-parse --short HEAD")
packages = ", ".join(" ".join(line.split()) for line in sh("dpkg-query -W prosody ejabberd 2>/dev/null").splitlines())
w(f"- CPU: {cpu}, {os.cpu_count()} cores; memory: {memory}; kernel {platform.release()}")
w(f"- Palaver commit `{commit}` (release build); {packages}")
w("- Each server pinned to core 0 (`taskset -c 0`), the generator to core 1; loopback only, plain TCP, SASL PLAIN")
w("  unless stated; shapers and login throttles off; offline storage on; open-loop load (sends follow the clock,")
w("  latency counts from each message's scheduled send time).")
w(f"- Parameters: `{knobs}`")
w("- Command: `scripts/bench-compare`, with the parameters above given as `BENCH_*` environment variables.")
w("- The machine is shared with other work (builds, tests), so figures are noisy; compare within one run.")
w("")

chat = of("chat") + of("relay")
if chat:
    w("## 1-1 chat (random pairs)")
    w("")
    w("A step passes with no loss, no bounce, no error and p99 ≤ 50 ms; the run stops at the first failing step.")
    w("Palaver acknowledges a new pair's dialog and a message saved to history before its database commits them,")
    w("so its steps must also leave its writer's queue (`palaver_store_queue_depth`, read from `/metrics` after")
    w("each step) no longer than one batch, 16,384 writes: the server kept up instead of queueing what it owes.")
    w("")
    base = next((best(r) for r in chat if r["target"] == "palaver"), None)
    w("| target | highest passing rate (msg/s) | delivered/s | p50 ms | p99 ms | p99.9 ms | max ms | vs Palaver |")
    w("|---|---|---|---|---|---|---|---|")
    for r in chat:
        w(row([r["target"]] + best_cells(r, base, p999=True)))
    w("")
    w("Every step:")
    w("")
    w("| target | offered | delivered/s | lost | bounces | errors | p50 | p90 | p99 | p99.9 | max | server backlog | generator CPU |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in chat:
        for s in r["steps"]:
            l = s["latency"]
            flag = " (limit)" if s["generator_limited"] else ""
            backlog = "" if s.get("server_backlog") is None else f"{s['server_backlog']:.0f}"
            w(f"| {r['target']} | {s['offered_rate']:.0f} | {s['delivered_rate']:.0f} | {s['lost']} | {s['bounces']} | {s['errors']} | {l['p50_ms']:.2f} | {l['p90_ms']:.2f} | {l['p99_ms']:.2f} | {l['p999_ms']:.2f} | {l['max_ms']:.1f} | {backlog} | {s['generator_cpu_percent']:.0f}%{flag} |")
    w("")

group = sorted(of("group"), key=lambda r: (r["params"]["occupants"], r["target"]))
if group:
    w("## Group fan-out")
    w("")
    w("One room of N occupants, all online and joined (XEP-0045 presence, as the SDKs join a group dialog);")
    w("random occupants send to the room at each offered rate and every message reaches all N, the sender")
    w("too. Palaver's rooms are its group dialogs (created over REST); Prosody's and ejabberd's are rooms of")
    w("their multi-user chat service, created by the first occupant's join as instant rooms. A step passes")
    w("with every copy delivered, no bounce or error, and p99 ≤ 100 ms; each size stops at its first failing step.")
    w("")
    w("| occupants | target | highest passing rate (msg/s) | deliveries/s | p50 ms | p99 ms | max ms | vs Palaver |")
    w("|---|---|---|---|---|---|---|---|")
    for r in group:
        n = r["params"]["occupants"]
        base = next((best(p) for p in group if p["target"] == "palaver" and p["params"]["occupants"] == n), None)
        w(row([str(n), r["target"]] + best_cells(r, base)))
    w("")
    w("Every step:")
    w("")
    w("| occupants | target | offered msg/s | deliveries/s | lost | bounces | errors | p50 ms | p99 ms | max ms |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in group:
        for s in r["steps"]:
            l = s["latency"]
            w(f"| {r['params']['occupants']} | {r['target']} | {s['offered_rate']:.0f} | {s['delivered_rate']:.0f} | {s['lost']} | {s['bounces']} | {s['errors']} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['max_ms']:.1f} |")
    w("")

hold = of("connect-hold")
if hold:
    w("## Idle sessions (connect and hold)")
    w("")
    w("| target | sessions asked | logged in | login rate /s | login p50 ms | login p99 ms | server RSS before → after | per session |")
    w("|---|---|---|---|---|---|---|---|")
    for r in hold:
        l = r["logins"][0]
        m = r.get("memory") or {}
        mem = f"{m.get('rss_before_bytes', 0) >> 20} → {m.get('rss_after_bytes', 0) >> 20} MiB" if m else ""
        per = f"{m['bytes_per_session'] / 1024:.1f} KiB" if m else ""
        w(f"| {r['target']} | {l['attempted']} | {l['succeeded']} | {l['rate_per_s']:.0f} | {l['latency']['p50_ms']:.1f} | {l['latency']['p99_ms']:.1f} | {mem} | {per} |")
    w("")

storm = of("login-storm")
if storm:
    w("## Login storm")
    w("")
    w("| target | method | logins | failed | rate /s | p50 ms | p99 ms | server CPU | logins per server CPU-second |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in storm:
        for l in r["logins"]:
            cpu = f"{l['server_cpu_percent']:.0f} %" if l.get("server_cpu_percent") is not None else ""
            per = f"{l['per_server_cpu_second']:.0f}" if l.get("per_server_cpu_second") else ""
            w(f"| {r['target']} | {l['method']} | {l['attempted']} | {l['failed']} | {l['rate_per_s']:.0f} | {l['latency']['p50_ms']:.1f} | {l['latency']['p99_ms']:.1f} | {cpu} | {per} |")
    w("")
    w("*Logins per server CPU-second* is what one core of the server does per second of its own CPU time: when")
    w("the generator (which derives each SCRAM proof itself) is the limit of a row, it still tells the server's capacity.")
    w("")

reads = of("rest-read")
if reads:
    w("## REST reads on a large store")
    w("")
    w("| target | request | requests | failed | offered /s | p50 ms | p99 ms | p99.9 ms | max ms |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in reads:
        for l in r["requests"]:
            lat = l["latency"]
            w(f"| {r['target']} | {l['method']} | {l['attempted']} | {l['failed']} | {r['params']['rate']:.0f} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {lat['p999_ms']:.2f} | {lat['max_ms']:.1f} |")
    w("")

notes = [(r["target"], r["scenario"], n) for r in reports for n in r["notes"]]
fails = [(r["target"], r["scenario"], l["failure_samples"][0]) for r in reports for l in r["logins"] + r.get("requests", []) if l["failure_samples"]]
if notes or fails:
    w("## Notes from the run")
    w("")
    for t, s, n in notes:
        w(f"- {t} {s}: {n}")
    for t, s, n in fails:
        w(f"- {t} {s}: first login failure: `{n[:200]}`")
    w("")

# The charts the runner kept beside the page (it keeps only the largest group size's), not every chart
# of the results: a link to one it removed would show nothing.
charts_dir = os.path.join(os.path.dirname(os.path.abspath(target_md)), "benchmarks")
charts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(charts_dir, "*.png")))
if charts:
    w("## Charts")
    w("")
    for c in charts:
        w(f"![{c}](benchmarks/{c})")
        w("")

# Hand-written sections (comparisons across runs, what the targets miss and why) follow this marker in
# the existing file; they are kept, after the generated part, for a person to bring up to date.
KEPT = "<!-- Hand-written from here on: scripts/bench-report.py keeps it. -->"
if os.path.exists(target_md):
    with open(target_md) as f:
        previous = f.read()
    if KEPT in previous:
        out += ["", previous[previous.index(KEPT):].rstrip("\n")]

with open(target_md, "w") as f:
    f.write("\n".join(out) + "\n")

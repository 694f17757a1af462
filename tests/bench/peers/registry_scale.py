#!/usr/bin/env python3
"""Context Registry at scale, through the protocol (official MCP Python SDK over stdio).

  1. `conversation_log` one message per call (the first --single messages), then batched (one
     call per conversation chunk of up to --batch messages) up to each size in --sizes.
  2. At each size, `extract` latency p50/p95 (client round trip) for the workload's searches,
     overall and per keyword class.
  3. Resident memory of the server: idle after initialize, peak (VmHWM) and current after the
     writes, and after the searches; the database size.

The messages are workload.py's mixed Korean/English stream with `conversations = size // 200`
(200 messages a conversation, so batches are real batches). Example:

  target/mcp-venv/bin/python tests/bench/peers/registry_scale.py \
      --binary target/release/backoffice --sizes 100000,1000000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MiB, machine_info, pct, table  # noqa: E402
import workload  # noqa: E402


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024 / MiB
    return float("nan")


def server_pid():
    import psutil
    children = psutil.Process(os.getpid()).children(recursive=True)
    return [c.pid for c in children if "backoffice" in " ".join(c.cmdline())][0]


async def run(args):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    sizes = [int(x) for x in args.sizes.split(",")]
    biggest = max(sizes)
    t = time.perf_counter()
    messages, searches = workload.generate(biggest, args.searches, args.seed, conversations=max(1, biggest // 200))
    print(f"# generated {len(messages):,} messages, {len(searches)} searches in {time.perf_counter() - t:.1f}s",
          flush=True)
    state = tempfile.mkdtemp(prefix="registry-scale-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update({"BACKOFFICE_STATE": state, "BACKOFFICE_CHANNEL": "bench"})
    params = StdioServerParameters(command=args.binary, args=["mcp"], env=env)
    out = {"machine": machine_info(), "sizes": {}, "binary": args.binary}
    sessions = {}

    async def log(s, conversation, batch):
        arguments = {"messages": [{"role": m["role"], "content": m["text"], "timestamp": m["ts"]} for m in batch]}
        if conversation in sessions:
            arguments["session_id"] = sessions[conversation]
        else:
            arguments["title"] = conversation
        result = await s.call_tool("conversation_log", arguments, read_timeout_seconds=120)
        assert not result.is_error, result.content
        sessions.setdefault(conversation, result.structured_content["session_id"])
        return result.structured_content["added"]

    try:
        async with stdio_client(params, errlog=open(os.path.join(state, "stderr.log"), "w")) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                pid = server_pid()
                out["rss_idle_mib"] = proc_status(pid, "VmRSS")
                pings = []
                for _ in range(100):
                    t = time.perf_counter()
                    await s.send_ping()
                    pings.append((time.perf_counter() - t) * 1000)
                out["ping_p50_ms"] = pct(pings, 50)
                done = 0
                # 1a. one message per call
                single = messages[: args.single]
                t = time.perf_counter()
                for m in single:
                    done += await log(s, m["conversation_id"], [m])
                wall = time.perf_counter() - t
                out["single_msgs_per_s"] = len(single) / wall
                print(f"one at a time: {len(single):,} messages in {wall:.1f}s = {len(single) / wall:,.0f} msg/s",
                      flush=True)
                batched_total, batched_wall = 0, 0.0
                for size in sizes:
                    # 1b. batched, per conversation, up to `size`
                    chunk = messages[done:size]
                    pending = {}
                    for m in chunk:
                        pending.setdefault(m["conversation_id"], []).append(m)
                    t = time.perf_counter()
                    added = 0
                    for conversation, items in pending.items():
                        for i in range(0, len(items), args.batch):
                            added += await log(s, conversation, items[i:i + args.batch])
                    wall = time.perf_counter() - t
                    assert added == len(chunk), (added, len(chunk))
                    done += added
                    batched_total += added
                    batched_wall += wall
                    rate = added / wall if wall else float("nan")
                    row = {"batched_msgs": added, "batched_msgs_per_s": rate,
                           "rss_after_writes_mib": proc_status(pid, "VmRSS"),
                           "rss_peak_mib": proc_status(pid, "VmHWM")}
                    print(f"batched to {size:,}: {added:,} messages in {wall:.1f}s = {rate:,.0f} msg/s", flush=True)
                    # 2. searches
                    latencies, by_class, hits = [], {}, {}
                    for _ in range(args.warmup):
                        await s.call_tool("extract", {"query": searches[0]["keyword"], "limit": 10})
                    for q in searches:
                        t = time.perf_counter()
                        result = await s.call_tool("extract", {"query": q["keyword"], "limit": 10})
                        ms = (time.perf_counter() - t) * 1000
                        assert not result.is_error, result.content
                        latencies.append(ms)
                        by_class.setdefault(q["class"], []).append(ms)
                        hits.setdefault(q["class"], []).append(len(result.structured_content["hits"]))
                    row.update({
                        "extract_p50_ms": pct(latencies, 50), "extract_p95_ms": pct(latencies, 95),
                        "extract_max_ms": max(latencies),
                        "by_class": {c: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95),
                                         "hits_median": sorted(hits[c])[len(hits[c]) // 2]}
                                     for c, v in sorted(by_class.items())},
                        "rss_after_search_mib": proc_status(pid, "VmRSS"),
                        "rss_peak_after_search_mib": proc_status(pid, "VmHWM"),
                        "db_mib": sum(os.path.getsize(os.path.join(state, f)) for f in os.listdir(state)
                                      if f.startswith("registry.db")) / MiB,
                    })
                    out["sizes"][size] = row
                    print(f"extract at {size:,}: p50 {row['extract_p50_ms']:.2f} ms, p95 {row['extract_p95_ms']:.2f} ms, "
                          f"max {row['extract_max_ms']:.2f} ms; RSS {row['rss_after_search_mib']:.1f} MiB "
                          f"(peak {row['rss_peak_after_search_mib']:.1f}); db {row['db_mib']:.0f} MiB", flush=True)
                out["batched_msgs_per_s"] = batched_total / batched_wall if batched_wall else float("nan")
    finally:
        shutil.rmtree(state, ignore_errors=True)

    print(table(["messages", "batched msg/s", "extract p50 ms", "extract p95 ms", "max ms", "RSS after writes MiB",
                 "peak RSS MiB", "RSS after search MiB", "db MiB"],
                [[size, r["batched_msgs_per_s"], r["extract_p50_ms"], r["extract_p95_ms"], r["extract_max_ms"],
                  r["rss_after_writes_mib"], r["rss_peak_after_search_mib"], r["rss_after_search_mib"], r["db_mib"]]
                 for size, r in out["sizes"].items()],
                title=f"backoffice mcp, one message per call: {out['single_msgs_per_s']:,.0f} msg/s; "
                      f"idle RSS {out['rss_idle_mib']:.1f} MiB; ping p50 {out['ping_p50_ms']:.2f} ms "
                      f"(the client and protocol floor inside every figure)"))
    rows = []
    for size, r in out["sizes"].items():
        for c, v in r["by_class"].items():
            rows.append([size, c, v["n"], v["p50_ms"], v["p95_ms"], v["hits_median"]])
    print(table(["messages", "class", "n", "p50 ms", "p95 ms", "hits (median)"], rows, title="extract by keyword class"))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/backoffice")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--single", type=int, default=5000, help="messages logged one per call first")
    ap.add_argument("--batch", type=int, default=500, help="most messages per batched call")
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json-out")
    import anyio
    anyio.run(run, ap.parse_args())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drive an MCP server over stdio with the synthetic conversation workload (workload.py).

Copied from shared/bench/ for the side-by-side comparison; the one change: adapters with an
`observe(action, result)` method see each write's result (our adapter learns session ids).

Client: the official Python MCP SDK (`mcp` on PyPI), ClientSession + stdio_client,
one request at a time (no pipelining), exactly like an agent host would call tools.

Servers (see SERVERS below; paths overridable by env):
  memory        node $PEERS_NODE/node_modules/@modelcontextprotocol/server-memory/dist/index.js
                MEMORY_FILE_PATH=<tmpdir>/memory.jsonl
  basic-memory  $PEERS_VENV_BM/bin/basic-memory mcp   (keyword search: search_type="text")
                BASIC_MEMORY_HOME / BASIC_MEMORY_CONFIG_DIR under <tmpdir>, auto-update off
  custom        --cmd "<server command line>" --adapter <name from workload.py>
                (e.g. the team's context-registry server: --adapter context-registry)

Per run (fresh server, fresh temp storage under /tmp, deleted afterwards unless --keep):
  startup   spawn -> initialize() returned
  ping      50 x ping (transport + client floor)
  writes    E log_message actions -> adapter tool calls, sequential; items/s = E / wall time
  searches  S keyword searches; latency p50/p95 overall and per keyword class
  RSS       server process tree RSS after writes / after searches, and peak (VmHWM)
  storage   bytes on disk under the temp dir after the run

Examples:
  /tmp/peers-venv/bin/python mcp_bench.py --server memory --items 1000,10000 --repeats 3
  /tmp/peers-venv/bin/python mcp_bench.py --server memory --items 200 --quick
  /tmp/peers-venv/bin/python mcp_bench.py --server custom --adapter context-registry \
        --cmd "/path/to/context-registry --db {tmp}/ctx.sqlite" --items 1000
({tmp} in --cmd / --env values is replaced with the run's temp dir.)
Every run is bounded by --run-timeout (default 1800 s) and per-call --call-timeout (60 s);
the SDK stops the server (stdin close, SIGTERM, SIGKILL of its process group) on exit and
this script then checks its recorded server PIDs are gone (killing leftovers by PID).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MiB, machine_info, median, pct, spread, table  # noqa: E402
import workload  # noqa: E402

PEERS_NODE = os.environ.get("PEERS_NODE", "/tmp/peers-node")
PEERS_VENV_BM = os.environ.get("PEERS_VENV_BM", "/tmp/peers-venv-bm")


def _memory_server():
    js = f"{PEERS_NODE}/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
    return {"command": shutil.which("node") or "node", "args": [js],
            "env": {"MEMORY_FILE_PATH": "{tmp}/memory.jsonl"}, "adapter": "memory",
            "version_file": f"{PEERS_NODE}/node_modules/@modelcontextprotocol/server-memory/package.json"}


def _basic_memory_server():
    return {"command": f"{PEERS_VENV_BM}/bin/basic-memory", "args": ["mcp"], "adapter": "basic-memory",
            "env": {"BASIC_MEMORY_HOME": "{tmp}/notes", "BASIC_MEMORY_CONFIG_DIR": "{tmp}/config",
                    "BASIC_MEMORY_AUTO_UPDATE": "false", "BASIC_MEMORY_NO_PROMOS": "1",
                    "BASIC_MEMORY_DEFAULT_SEARCH_TYPE": "text", "BASIC_MEMORY_LOG_LEVEL": "WARNING",
                    "HF_HUB_OFFLINE": "1", "FASTEMBED_CACHE_PATH": "{tmp}/fastembed_cache",
                    "HOME": "{tmp}/home"},
            "version_pkg": (f"{PEERS_VENV_BM}/bin/python", "basic-memory")}


SERVERS = {"memory": _memory_server, "basic-memory": _basic_memory_server}


def _subst(s, tmp):
    return s.replace("{tmp}", tmp)


def server_version(spec):
    try:
        if "version_file" in spec:
            with open(spec["version_file"]) as f:
                return json.load(f)["version"]
        if "version_pkg" in spec:
            import subprocess
            py, pkg = spec["version_pkg"]
            return subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version('{pkg}'))"],
                                  capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"
    return "unknown"


def tree_rss(pids):
    import psutil
    total, hwm = 0, 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            total += p.memory_info().rss
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm += int(line.split()[1]) * 1024
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            pass
    return total, hwm


def tree_cpu(pids):
    import psutil
    t = 0.0
    for pid in pids:
        try:
            c = psutil.Process(pid).cpu_times()
            t += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return t


def server_pids():
    import psutil
    return [c.pid for c in psutil.Process(os.getpid()).children(recursive=True)]


def dir_bytes(path):
    n = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return n


def result_info(adapter_name, res, keyword):
    """(hits, bytes) from a CallToolResult; hits is server-specific, None where unknown."""
    text = "".join(getattr(c, "text", "") or "" for c in res.content)
    nbytes = len(text.encode())
    sc = res.structured_content
    hits = None
    if adapter_name == "memory" and isinstance(sc, dict):
        ents = sc.get("entities") or []
        # entities = conversations returned; also count matching messages (observations)
        kw = keyword.lower()
        hits = {"entities": len(ents),
                "messages": sum(1 for e in ents for o in e.get("observations", []) if kw in o.lower())}
    elif adapter_name == "basic-memory":
        try:
            obj = sc if isinstance(sc, dict) else None
            if obj and "results" in obj:
                hits = {"results": len(obj["results"]), "total": obj.get("total")}
            else:
                # default output_format="text": one "### <title>" block per hit (page_size caps it)
                import re
                hits = {"results": len(re.findall(r"^### ", text, flags=re.M)),
                        "more_available": int("more available" in text)}
        except Exception:  # noqa: BLE001
            hits = None
    return hits, nbytes


async def one_run(spec, items, searches, seed, args, run_idx):
    import anyio
    from mcp import ClientSession, StdioServerParameters, types
    from mcp.client.stdio import stdio_client

    adapter = workload.ADAPTERS[spec["adapter"]]()
    msgs, srch = workload.generate(items, searches, seed)
    tmp = tempfile.mkdtemp(prefix=f"peers-mcp-{spec['adapter']}-", dir="/tmp")
    env = {k: _subst(v, tmp) for k, v in spec.get("env", {}).items()}
    for d in ("home", "notes", "config"):
        if any(f"{tmp}/{d}" in v for v in env.values()):
            os.makedirs(f"{tmp}/{d}", exist_ok=True)
    params = StdioServerParameters(command=spec["command"], args=[_subst(a, tmp) for a in spec["args"]], env=env,
                                   cwd=tmp)
    out = {"items": items, "searches": searches, "seed": seed, "run": run_idx, "tmpdir": tmp,
           "adapter": spec["adapter"], "validate_output": not args.raw}
    errlog = open(os.path.join(tmp, "server-stderr.log"), "w")
    pids = []
    call_timeout = args.call_timeout

    async def call(session, tool, arguments):
        if args.raw:
            # bypass the SDK's client-side output-schema (jsonschema) validation
            return await session.send_request(
                types.CallToolRequest(params=types.CallToolRequestParams(name=tool, arguments=arguments)),
                types.CallToolResult, request_read_timeout_seconds=call_timeout)
        return await session.call_tool(tool, arguments, read_timeout_seconds=call_timeout)

    try:
        with anyio.fail_after(args.run_timeout):
            t0 = time.perf_counter()
            async with stdio_client(params, errlog=errlog) as (r, w):
                async with ClientSession(r, w) as session:
                    init = await session.initialize()
                    out["startup_s"] = time.perf_counter() - t0
                    out["server_info"] = {"name": init.server_info.name, "version": init.server_info.version,
                                          "protocol": init.protocol_version}
                    pids = server_pids()
                    out["server_pids"] = pids
                    tools = await session.list_tools()
                    used = set(adapter.write_tools + [adapter.search_tool])
                    out["tools_all"] = [t.name for t in tools.tools]
                    out["tool_schemas"] = {t.name: t.input_schema for t in tools.tools if t.name in used}
                    out["rss_idle_mib"] = tree_rss(pids)[0] / MiB
                    lat = []
                    for _ in range(50):
                        s = time.perf_counter()
                        await session.send_ping()
                        lat.append((time.perf_counter() - s) * 1000)
                    out["ping_p50_ms"] = pct(lat, 50)
                    # ---- writes
                    cpu0 = tree_cpu(pids)
                    wl, errors, first_err = [], 0, None
                    shapes = {}
                    tw = time.perf_counter()
                    for a in msgs:
                        tool, arguments = adapter.map(a)
                        shapes.setdefault(tool, arguments)
                        s = time.perf_counter()
                        res = await call(session, tool, arguments)
                        wl.append((time.perf_counter() - s) * 1000)
                        if hasattr(adapter, "observe"):
                            adapter.observe(a, res)
                        if res.is_error:
                            errors += 1
                            if first_err is None:
                                first_err = "".join(getattr(c, "text", "") for c in res.content)[:500]
                            if errors > max(10, items // 100):
                                raise RuntimeError(f"too many tool errors; first: {first_err}")
                    wall_w = time.perf_counter() - tw
                    out["write_cpu_server_s"] = tree_cpu(pids) - cpu0
                    out.update({"write_wall_s": wall_w, "write_items_per_s": items / wall_w,
                                "write_p50_ms": pct(wl, 50), "write_p95_ms": pct(wl, 95), "write_max_ms": max(wl),
                                "write_first10pct_p50_ms": pct(wl[: max(1, len(wl) // 10)], 50),
                                "write_last10pct_p50_ms": pct(wl[-max(1, len(wl) // 10):], 50),
                                "write_errors": errors, "write_first_error": first_err})
                    if args.settle:
                        await anyio.sleep(args.settle)
                    out["rss_after_writes_mib"] = tree_rss(pids)[0] / MiB
                    # ---- searches
                    cpu0 = tree_cpu(pids)
                    sl, per_class, hits_log = [], {}, []
                    for a in srch:
                        tool, arguments = adapter.map(a)
                        shapes.setdefault(tool, arguments)
                        s = time.perf_counter()
                        res = await call(session, tool, arguments)
                        ms = (time.perf_counter() - s) * 1000
                        sl.append(ms)
                        per_class.setdefault(a["class"], []).append(ms)
                        hits, nbytes = result_info(spec["adapter"], res, a["keyword"])
                        hits_log.append({"keyword": a["keyword"], "class": a["class"], "ms": ms, "hits": hits,
                                         "bytes": nbytes, "is_error": res.is_error})
                    out["search_cpu_server_s"] = tree_cpu(pids) - cpu0
                    out.update({"search_p50_ms": pct(sl, 50), "search_p95_ms": pct(sl, 95), "search_max_ms": max(sl),
                                "search_p50_by_class_ms": {k: pct(v, 50) for k, v in sorted(per_class.items())},
                                "search_errors": sum(1 for h in hits_log if h["is_error"]),
                                "search_resp_bytes_p50": pct([h["bytes"] for h in hits_log], 50),
                                "search_resp_bytes_max": max(h["bytes"] for h in hits_log),
                                "search_log": hits_log, "example_arguments": shapes})
                    rss, hwm = tree_rss(pids)
                    out["rss_after_search_mib"] = rss / MiB
                    out["rss_peak_hwm_mib"] = hwm / MiB
            out["total_wall_s"] = time.perf_counter() - t0
    finally:
        errlog.close()
        # The SDK has already stopped the server; make sure (by PID) nothing we started survives.
        import psutil
        leftovers = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    leftovers.append(pid)
                    p.kill()
            except psutil.NoSuchProcess:
                pass
        out["leftover_pids_killed"] = leftovers
        out["storage_bytes"] = dir_bytes(tmp)
        try:
            with open(os.path.join(tmp, "server-stderr.log")) as f:
                out["server_stderr_tail"] = f.read()[-1500:]
        except OSError:
            pass
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="memory", choices=sorted(SERVERS) + ["custom"])
    ap.add_argument("--cmd", help="custom server command line ({tmp} = run temp dir)")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server ({tmp} substituted)")
    ap.add_argument("--adapter", help="adapter name from workload.py (default: the server's)")
    ap.add_argument("--items", default="1000,10000", help="comma list of E")
    ap.add_argument("--searches", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeats", type=int, default=3, help="runs per E (E>=10000 uses --repeats-large)")
    ap.add_argument("--repeats-large", type=int, default=1)
    ap.add_argument("--raw", action="store_true", help="skip the SDK's client-side output-schema validation")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait after writes before RSS")
    ap.add_argument("--call-timeout", type=float, default=60.0)
    ap.add_argument("--run-timeout", type=float, default=1800.0)
    ap.add_argument("--keep", action="store_true", help="keep the temp storage dirs")
    ap.add_argument("--quick", action="store_true", help="1 run, E=200, 20 searches")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    if a.quick:
        a.items, a.repeats, a.repeats_large, a.searches = "200", 1, 1, 20
    if a.server == "custom":
        if not a.cmd or not a.adapter:
            ap.error("--server custom needs --cmd and --adapter")
        parts = shlex.split(a.cmd)
        spec = {"command": parts[0], "args": parts[1:], "adapter": a.adapter, "env": {}}
    else:
        spec = SERVERS[a.server]()
        if a.adapter:
            spec["adapter"] = a.adapter
    for kv in a.env:
        k, v = kv.split("=", 1)
        spec.setdefault("env", {})[k] = v
    import anyio
    import mcp
    from importlib.metadata import version
    sdk = version("mcp")
    sv = server_version(spec) if a.server != "custom" else "n/a"
    print(f"# server={a.server} ({sv}) adapter={spec['adapter']} client=mcp {sdk} (Python {sys.version.split()[0]}); "
          f"cmd: {spec['command']} {' '.join(spec['args'])}; raw={a.raw}; loadavg {os.getloadavg()[0]:.2f}", flush=True)
    raw = {"machine": machine_info(), "server": a.server, "server_version": sv, "mcp_sdk": sdk,
           "command": [spec["command"]] + spec["args"], "env": spec.get("env", {}), "runs": []}
    rows, by_e = [], {}
    for e in [int(x) for x in a.items.split(",")]:
        reps = a.repeats if e < 10000 else a.repeats_large
        for r in range(reps):
            res = anyio.run(one_run, spec, e, a.searches, a.seed, a, r + 1)
            raw["runs"].append(res)
            by_e.setdefault(e, []).append(res)
            print(f"  E={e} run {r + 1}: writes {res['write_items_per_s']:.1f} items/s "
                  f"(p50 {res['write_p50_ms']:.2f} ms, last10% p50 {res['write_last10pct_p50_ms']:.2f} ms, "
                  f"errors {res['write_errors']}), search p50 {res['search_p50_ms']:.2f} ms p95 "
                  f"{res['search_p95_ms']:.2f} ms, RSS {res['rss_after_search_mib']:.1f} MiB "
                  f"(peak {res['rss_peak_hwm_mib']:.1f}), storage {res['storage_bytes'] / MiB:.2f} MiB, "
                  f"startup {res['startup_s']:.2f} s", flush=True)
    for e, runs in by_e.items():
        g = lambda k: [x[k] for x in runs]  # noqa: E731
        rows.append([e, len(runs), median(g("write_items_per_s")), spread(g("write_items_per_s")),
                     median(g("write_p50_ms")), median(g("write_p95_ms")), median(g("write_last10pct_p50_ms")),
                     median(g("search_p50_ms")), spread(g("search_p50_ms")), median(g("search_p95_ms")),
                     median(g("rss_idle_mib")), median(g("rss_after_writes_mib")), median(g("rss_after_search_mib")),
                     median(g("rss_peak_hwm_mib")), median([x["storage_bytes"] / MiB for x in runs]),
                     median(g("startup_s")), median(g("ping_p50_ms"))])
    print(table(["E", "runs", "write items/s", "range", "write p50 ms", "write p95 ms", "write p50 last10% ms",
                 "search p50 ms", "range", "search p95 ms", "RSS idle MiB", "RSS after writes MiB",
                 "RSS after search MiB", "peak RSS MiB", "storage MiB", "startup s", "ping p50 ms"], rows,
                title=f"{a.server} {sv} over stdio, client mcp {sdk}, {a.searches} searches, seed {a.seed}"))
    # per-class search latency and hit counts (last run of each E)
    crow = []
    for e, runs in by_e.items():
        last = runs[-1]
        for cls, ms in last["search_p50_by_class_ms"].items():
            hs = [h for h in last["search_log"] if h["class"] == cls]
            hit_desc = "-"
            if hs and hs[0]["hits"] is not None:
                keys = list(hs[0]["hits"].keys())
                hit_desc = ", ".join(f"{k} med {median([h['hits'][k] or 0 for h in hs]):g}" for k in keys)
            crow.append([e, cls, len(hs), ms, hit_desc, median([h["bytes"] for h in hs])])
    print(table(["E", "keyword class", "n", "search p50 ms", "hits", "resp bytes med"], crow,
                title="search latency and hits by keyword class (last run)"))
    last = raw["runs"][-1]
    print("\n# tools used and example arguments:")
    for t, ex in last["example_arguments"].items():
        print(f"#   {t}: {json.dumps(ex, ensure_ascii=False)[:300]}")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(raw, f, indent=1, ensure_ascii=False)
        print(f"# raw results written to {a.json_out}")


if __name__ == "__main__":
    main()

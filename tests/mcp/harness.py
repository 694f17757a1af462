"""Shared helpers for the Context Registry's client tests.

They drive the real `backoffice mcp` binary (path in BACKOFFICE_BIN) two ways: through the
official MCP Python SDK, as Cursor or Claude Desktop would, and with raw JSON-RPC lines for
framing details the SDK hides. Each test file is a script: it runs its `test_*` functions and
prints "N passed, N failed"; the Rust integration tests (tests/registry.rs) run the scripts.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

BINARY = os.environ.get("BACKOFFICE_BIN", "target/debug/backoffice")


def server_env(state, channel=None, extra=None):
    """A clean environment for the server: no BACKOFFICE_* from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env["BACKOFFICE_STATE"] = state
    env["BACKOFFICE_LOG"] = "debug"
    if channel:
        env["BACKOFFICE_CHANNEL"] = channel
    env.update(extra or {})
    return env


class Raw:
    """`backoffice mcp` with pipes, speaking JSON-RPC lines by hand."""

    def __init__(self, state, channel=None):
        self.process = subprocess.Popen(
            [BINARY, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=server_env(state, channel), text=True, encoding="utf-8", bufsize=1)

    def send(self, message):
        line = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self, timeout=10.0):
        """The next stdout line, parsed; every line must be exactly one JSON-RPC object."""
        import select
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert ready, f"no reply within {timeout}s"
        line = self.process.stdout.readline()
        assert line.endswith("\n"), f"reply not newline-terminated: {line!r}"
        message = json.loads(line)
        assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line
        return message

    def request(self, id, method, params=None):
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        reply = self.receive()
        assert reply.get("id") == id, f"asked {id}, got {reply}"
        return reply

    def initialize(self, version="2025-11-25", client="cursor-vscode", id=0):
        reply = self.request(id, "initialize", {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": client, "version": "1.0.0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def silent_for(self, seconds):
        """Whether stdout stays quiet for `seconds`."""
        import select
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        return not ready

    def close(self, timeout=5.0):
        """Closes stdin and returns (exit code, stderr)."""
        self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        return code, self.process.stderr.read()


@contextlib.asynccontextmanager
async def session(state, channel=None, client="cursor-vscode", modern=False):
    """An SDK ClientSession to a fresh `backoffice mcp`; legacy initialize unless `modern`
    (then the 2026-07-28 `server/discover` lifecycle)."""
    from mcp import ClientSession, StdioServerParameters, types
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=BINARY, args=["mcp"], env=server_env(state, channel))
    errlog = open(os.path.join(state, f"stderr-{time.monotonic_ns()}.log"), "w")
    try:
        async with stdio_client(params, errlog=errlog) as (read, write):
            info = types.Implementation(name=client, version="1.0.0")
            async with ClientSession(read, write, client_info=info) as s:
                if modern:
                    await s.discover()
                else:
                    await s.initialize()
                yield s
    finally:
        errlog.close()


async def call(s, tool, arguments):
    """A tool call; returns (structured content or None, text, is_error)."""
    result = await s.call_tool(tool, arguments)
    text = "".join(getattr(c, "text", "") or "" for c in result.content)
    return result.structured_content, text, bool(result.is_error)


async def ok(s, tool, arguments):
    structured, text, is_error = await call(s, tool, arguments)
    assert not is_error, f"{tool} failed: {text}"
    assert isinstance(structured, dict), f"{tool}: no structured content"
    assert json.loads(text) == structured, "text block is not the structured content"
    return structured


async def tool_error(s, tool, arguments, *expected):
    structured, text, is_error = await call(s, tool, arguments)
    assert is_error, f"{tool}({arguments}) should fail, got {structured}"
    for part in expected:
        assert part in text, f"{tool}: {text!r} does not mention {part!r}"
    return text


def state_dir():
    return tempfile.mkdtemp(prefix="registry-test-")


def main(namespace):
    """Runs every `test_*` in `namespace` (sync or async), prints the tally, exits 1 on a failure."""
    import anyio
    import inspect
    only = sys.argv[1:]
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)
             and (not only or n in only)]
    passed = failed = 0
    for name, function in tests:
        start = time.monotonic()
        try:
            if inspect.iscoroutinefunction(function):
                anyio.run(function)
            else:
                function()
            passed += 1
            print(f"ok   {name} ({time.monotonic() - start:.2f}s)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure, run the rest
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not tests else 0)

"""Three `backoffice mcp` processes (Cursor, Claude Desktop, and Cursor's habitual second
launch) logging 2,000 messages each into one registry at the same time, while searches run:
nothing lost, nothing duplicated, no "database is locked" reaching a client."""
import glob
import os
import sqlite3

import anyio

from harness import call, main, ok, session, state_dir

PER_PROCESS = 2000
CLIENTS = [("cursor", "cursor-vscode"), ("claude-desktop", "claude-ai"), ("cursor", "cursor-vscode")]


async def test_three_processes_two_thousand_messages_each():
    state = state_dir()
    errors = []
    sessions = {}

    async def writer(index, channel, client):
        async with session(state, channel=channel, client=client) as s:
            sid = None
            for n in range(PER_PROCESS):
                args = {"messages": [{"role": "user" if n % 2 == 0 else "assistant",
                                      "content": f"writer {index} message {n}: 동시 기록 concurrency"}]}
                if sid:
                    args["session_id"] = sid
                structured, text, is_error = await call(s, "conversation_log", args)
                if is_error:
                    errors.append(text)
                    continue
                sid = structured["session_id"]
                if n % 250 == 0:
                    found, text, is_error = await call(s, "extract", {"query": "동시 concurrency", "limit": 5})
                    if is_error:
                        errors.append(text)
            sessions[index] = sid

    async with anyio.create_task_group() as group:
        for index, (channel, client) in enumerate(CLIENTS):
            group.start_soon(writer, index, channel, client)

    assert not errors, errors[:3]
    assert len(set(sessions.values())) == 3
    db = sqlite3.connect(os.path.join(state, "registry.db"))
    counts = dict(db.execute("SELECT session_id, count(*) FROM messages GROUP BY session_id"))
    assert sorted(counts.values()) == [PER_PROCESS] * 3, counts
    seqs = db.execute("SELECT count(DISTINCT session_id || ':' || seq) FROM messages").fetchone()[0]
    assert seqs == 3 * PER_PROCESS
    stored = dict(db.execute("SELECT id, message_count FROM sessions"))
    assert sorted(stored.values()) == [PER_PROCESS] * 3
    channels = dict(db.execute("SELECT channel, count(*) FROM sessions GROUP BY channel"))
    assert channels == {"cursor": 2, "claude-desktop": 1}, channels
    logs = "".join(open(p).read() for p in glob.glob(os.path.join(state, "stderr-*.log")))
    assert "locked" not in logs and "busy" not in logs.lower(), logs[-2000:]

    async with session(state) as s:
        result = await ok(s, "extract", {"query": "message 1999", "limit": 10})
        assert {h["session_id"] for h in result["hits"]} == set(sessions.values())


if __name__ == "__main__":
    main(globals())

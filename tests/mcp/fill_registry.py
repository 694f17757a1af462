"""Fills a registry the way three clients would, for the status site's registry page test
(tests/registry.rs): Cursor saves 60 conversations, Claude Code 2, and Claude Desktop saves
one, searches and reads three of Cursor's, as "continue in another client" does.

Usage: fill_registry.py STATE_DIR. Message bodies carry BODY_MARKER, titles do not: the page
must show titles and counts, never a message. Prints "N passed, M failed" like the others.
"""
import sys

from harness import main, ok, session

STATE = sys.argv.pop(1) if len(sys.argv) > 1 else None
BODY_MARKER = "MESSAGE-BODY-7f3a"


async def test_three_clients_fill_the_registry():
    assert STATE, "give the state folder"
    cursor_sessions = []
    async with session(STATE, channel="cursor") as s:
        for i in range(60):
            saved = await ok(s, "conversation_log", {
                "title": f"Cursor plan {i:02d}",
                "workspace": "/work/app",
                "messages": [
                    {"role": "user", "content": f"재시도 정책 {i} 어떻게 할까? {BODY_MARKER}"},
                    {"role": "assistant", "content": f"지수 백오프로 합시다 ({i}). {BODY_MARKER}"}]})
            cursor_sessions.append(saved["session_id"])
    async with session(STATE, channel="claude-code") as s:
        for i in range(2):
            await ok(s, "conversation_log", {
                "title": f"Claude Code session {i}",
                "messages": [{"role": "user", "content": f"fix the build {i} {BODY_MARKER}"}]})
    async with session(STATE, channel="claude-desktop") as s:
        await ok(s, "conversation_log", {
            "title": "Desktop follow-up",
            "messages": [{"role": "user", "content": f"지난번 재시도 정책 이어서 {BODY_MARKER}"}]})
        found = await ok(s, "extract", {"query": "재시도 정책", "channel": "cursor"})
        assert found["hits"], found
        for sid in cursor_sessions[:3]:
            await ok(s, "get_session", {"session_id": sid})
        # Reading its own conversations is not sharing.
        listed = await ok(s, "list_sessions", {"channel": "claude-desktop"})
        assert len(listed["sessions"]) == 1


main(globals())

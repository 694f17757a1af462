"""Every tool and every error path through the official Python SDK, and the journey the
registry exists for: decide something in Cursor, find it and continue from Claude Desktop."""
import re

from harness import call, main, ok, session, state_dir, tool_error

TOOLS = ["card_answer", "card_feedback", "cards_due", "conversation_log", "extract", "get_session", "list_sessions"]


async def test_tools_list_is_deterministic_with_object_schemas_and_annotations():
    async with session(state_dir()) as s:
        first = await s.list_tools()
        second = await s.list_tools()
        assert [t.name for t in first.tools] == TOOLS
        assert [t.name for t in second.tools] == TOOLS
        assert first.next_cursor is None
        for tool in first.tools:
            assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", tool.name)
            assert len("context-registry") + len(tool.name) <= 60
            assert tool.input_schema["type"] == "object"
            assert tool.output_schema["type"] == "object"
            assert tool.description and len(tool.description) > 40
        hints = {t.name: t.annotations for t in first.tools}
        for name in ["extract", "get_session", "list_sessions"]:
            assert hints[name].read_only_hint is True, name
        assert hints["conversation_log"].idempotent_hint is True
        assert hints["conversation_log"].read_only_hint is False


async def test_conversation_log_creates_appends_and_ignores_resends():
    async with session(state_dir(), channel="cursor") as s:
        messages = [{"role": "user", "content": "재시도 정책은 어떻게 할까?"},
                    {"role": "assistant", "content": "지수 백오프, 최대 1시간으로 합시다."}]
        first = await ok(s, "conversation_log", {"messages": messages, "workspace": "/work/app"})
        assert first["created"] and first["added"] == 2 and first["channel"] == "cursor"
        sid = first["session_id"]
        resent = await ok(s, "conversation_log", {"messages": messages, "workspace": "/work/app"})
        assert (resent["session_id"], resent["created"], resent["added"]) == (sid, False, 0), resent
        again = await ok(s, "conversation_log", {"session_id": sid, "messages": messages})
        assert (again["created"], again["added"], again["duplicates"], again["total_messages"]) == (False, 0, 2, 2)
        more = await ok(s, "conversation_log", {"session_id": sid, "messages": [
            {"role": "user", "content": "ok", "timestamp": "2026-11-25T10:00:00Z"},
            {"role": "user", "content": "ok", "timestamp": "2026-11-25T10:01:00+09:00"},
            {"role": "tool", "content": "same id twice", "id": "m-1"},
            {"role": "system", "content": "same id twice, other text", "id": "m-1"}]})
        assert (more["added"], more["duplicates"], more["total_messages"]) == (3, 1, 5)


async def test_conversation_log_errors_are_tool_errors():
    async with session(state_dir()) as s:
        one = [{"role": "user", "content": "hello"}]
        await tool_error(s, "conversation_log", {"messages": []}, "messages", "1 to 1000")
        await tool_error(s, "conversation_log", {"messages": [{"role": "user", "content": "  "}]}, "empty")
        await tool_error(s, "conversation_log", {"messages": [{"role": "robot", "content": "x"}]}, "robot")
        await tool_error(s, "conversation_log", {"messages": one, "session_id": "s_missing"}, "s_missing")
        await tool_error(s, "conversation_log", {"messages": [
            {"role": "user", "content": "x", "timestamp": "yesterday"}]}, "RFC 3339")
        await tool_error(s, "conversation_log", {"messages": one, "channel": "bad channel!"}, "channel")
        await tool_error(s, "conversation_log", {}, "messages")


async def test_channel_comes_from_argument_then_env_then_client_name():
    state = state_dir()
    one = [{"role": "user", "content": "channel test"}]
    async with session(state, client="claude-ai") as s:
        assert (await ok(s, "conversation_log", {"messages": one}))["channel"] == "claude-desktop"
        assert (await ok(s, "conversation_log", {"messages": one, "channel": "Claude-Code"}))["channel"] == "claude-code"
    async with session(state, channel="cursor", client="claude-ai") as s:
        assert (await ok(s, "conversation_log", {"messages": one}))["channel"] == "cursor"
    async with session(state, client="cursor-vscode") as s:
        assert (await ok(s, "conversation_log", {"messages": one}))["channel"] == "cursor"
    async with session(state, client="claude-code", modern=True) as s:
        assert (await ok(s, "conversation_log", {"messages": one}))["channel"] == "claude-code"


async def test_extract_filters_pages_and_validates():
    async with session(state_dir()) as s:
        for i in range(12):
            await ok(s, "conversation_log", {"channel": "cursor" if i % 2 else "claude-desktop",
                                             "workspace": f"/w/{i % 3}", "messages": [
                {"role": "user", "content": f"deploy pipeline note {i}",
                 "timestamp": f"2026-11-{10 + i:02d}T09:00:00Z"}]})
        page = await ok(s, "extract", {"query": "pipeline", "limit": 5})
        assert len(page["hits"]) == 5 and page["next_cursor"]
        rest = await ok(s, "extract", {"query": "pipeline", "limit": 50, "cursor": page["next_cursor"]})
        assert len(rest["hits"]) == 7 and rest["next_cursor"] is None
        seen = {h["snippet"] for h in page["hits"] + rest["hits"]}
        assert len(seen) == 12
        hit = page["hits"][0]
        assert set(hit) >= {"session_id", "channel", "seq", "role", "at", "snippet", "score"}
        assert "**pipeline**" in hit["snippet"]
        cursor_only = await ok(s, "extract", {"query": "pipeline", "channel": "cursor", "limit": 50})
        assert len(cursor_only["hits"]) == 6 and all(h["channel"] == "cursor" for h in cursor_only["hits"])
        ws = await ok(s, "extract", {"query": "pipeline", "workspace": "/w/0", "limit": 50})
        assert len(ws["hits"]) == 4
        window = await ok(s, "extract", {"query": "pipeline", "since": "2026-11-15", "until": "2026-11-18T00:00:00Z", "limit": 50})
        assert sorted(h["at"][:10] for h in window["hits"]) == ["2026-11-15", "2026-11-16", "2026-11-17"]
        one = await ok(s, "extract", {"query": "pipeline", "session_id": hit["session_id"]})
        assert [h["session_id"] for h in one["hits"]] == [hit["session_id"]]
        none = await ok(s, "extract", {"query": "kubernetes"})
        assert none["hits"] == [] and none["next_cursor"] is None
        await tool_error(s, "extract", {"query": ""}, "empty")
        await tool_error(s, "extract", {"query": "   "}, "empty")
        await tool_error(s, "extract", {"query": "?!"}, "no letters")
        await tool_error(s, "extract", {"query": "x", "limit": 0}, "limit", "1 to 50")
        await tool_error(s, "extract", {"query": "x", "limit": 51}, "limit")
        await tool_error(s, "extract", {"query": "x", "since": "last week"}, "since", "RFC 3339")
        await tool_error(s, "extract", {"query": "x", "since": "2026-11-20", "until": "2026-11-10"}, "empty")
        await tool_error(s, "extract", {"query": "x", "cursor": "abc"}, "cursor")
        await tool_error(s, "extract", {"limit": 3}, "query")


async def test_get_session_whole_or_tail_and_errors():
    async with session(state_dir()) as s:
        logged = await ok(s, "conversation_log", {"title": "Tail test", "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(7)]})
        sid = logged["session_id"]
        whole = await ok(s, "get_session", {"session_id": sid})
        assert whole["complete"] and [m["seq"] for m in whole["messages"]] == list(range(1, 8))
        assert whole["session"]["title"] == "Tail test" and whole["session"]["message_count"] == 7
        tail = await ok(s, "get_session", {"session_id": sid, "last": 2})
        assert [m["content"] for m in tail["messages"]] == ["turn 5", "turn 6"] and not tail["complete"]
        page = await ok(s, "get_session", {"session_id": sid, "after_seq": 5})
        assert [m["seq"] for m in page["messages"]] == [6, 7] and page["next_after_seq"] is None
        await tool_error(s, "get_session", {"session_id": sid, "last": 2, "after_seq": 1}, "not both")
        await tool_error(s, "get_session", {"session_id": "s_nope"}, "s_nope", "list_sessions")
        await tool_error(s, "get_session", {"session_id": sid, "last": 0}, "last")
        await tool_error(s, "get_session", {"session_id": sid, "last": 5000}, "last")
        await tool_error(s, "get_session", {}, "session_id")


async def test_a_long_conversation_is_read_in_pages_of_a_thousand():
    async with session(state_dir()) as s:
        logged = await ok(s, "conversation_log", {"messages": [
            {"role": "user", "content": f"long {i}"} for i in range(1000)]})
        sid = logged["session_id"]
        await ok(s, "conversation_log", {"session_id": sid, "messages": [
            {"role": "assistant", "content": f"long {i}"} for i in range(1000, 1500)]})
        first = await ok(s, "get_session", {"session_id": sid})
        assert len(first["messages"]) == 1000 and not first["complete"] and first["next_after_seq"] == 1000
        rest = await ok(s, "get_session", {"session_id": sid, "after_seq": first["next_after_seq"]})
        assert [m["seq"] for m in rest["messages"]] == list(range(1001, 1501))
        assert rest["next_after_seq"] is None and rest["messages"][-1]["content"] == "long 1499"


async def test_list_sessions_by_channel_with_pages():
    async with session(state_dir()) as s:
        for i in range(5):
            await ok(s, "conversation_log", {"channel": "cursor" if i < 3 else "claude-code", "messages": [
                {"role": "user", "content": f"session {i}", "timestamp": f"2026-11-2{i}T00:00:00Z"}]})
        listed = await ok(s, "list_sessions", {})
        assert [x["title"] for x in listed["sessions"]] == [f"session {i}" for i in range(4, -1, -1)]
        page = await ok(s, "list_sessions", {"channel": "cursor", "limit": 2})
        assert [x["title"] for x in page["sessions"]] == ["session 2", "session 1"] and page["next_cursor"]
        rest = await ok(s, "list_sessions", {"channel": "cursor", "limit": 2, "cursor": page["next_cursor"]})
        assert [x["title"] for x in rest["sessions"]] == ["session 0"] and rest["next_cursor"] is None
        assert rest["sessions"][0]["message_count"] == 1
        await tool_error(s, "list_sessions", {"limit": 101}, "limit")
        await tool_error(s, "list_sessions", {"cursor": "-1"}, "cursor")


async def test_decide_in_cursor_continue_in_claude_desktop():
    state = state_dir()
    async with session(state, channel="cursor", client="cursor-vscode") as cursor:
        logged = await ok(cursor, "conversation_log", {"workspace": "/work/backoffice", "messages": [
            {"role": "user", "content": "LLM 커넥터의 retry policy를 정하자. 429는 어떻게?"},
            {"role": "assistant", "content": "결정: 429와 5xx만 재시도, 지수 백오프에 jitter, Retry-After를 존중."}]})
    async with session(state, channel="claude-desktop", client="claude-ai") as desktop:
        found = await ok(desktop, "extract", {"query": "retry policy", "since": "1d"})
        assert found["hits"], found
        hit = found["hits"][0]
        assert hit["session_id"] == logged["session_id"] and hit["channel"] == "cursor"
        transcript = await ok(desktop, "get_session", {"session_id": hit["session_id"], "last": 10})
        assert "Retry-After" in transcript["messages"][-1]["content"]
        cont = await ok(desktop, "conversation_log", {"session_id": hit["session_id"], "messages": [
            {"role": "user", "content": "Desktop에서 이어서: 최대 재시도는 3회"}]})
        assert cont["total_messages"] == 3 and cont["channel"] == "cursor"


if __name__ == "__main__":
    main(globals())

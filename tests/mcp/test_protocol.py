"""Raw JSON-RPC over stdio: handshake per protocol version, framing, errors, shutdown."""
import json
import time

from harness import Raw, main, state_dir

LEGACY_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]


def test_initialize_echoes_each_supported_version_with_id_zero():
    for version in LEGACY_VERSIONS:
        server = Raw(state_dir())
        reply = server.initialize(version, id=0)
        assert reply["id"] == 0
        result = reply["result"]
        assert result["protocolVersion"] == version, (version, result["protocolVersion"])
        assert isinstance(result["capabilities"]["tools"], dict)
        assert result["serverInfo"]["name"] and result["serverInfo"]["version"]
        assert "conversation_log" in result["instructions"] and "extract" in result["instructions"]
        assert server.silent_for(0.3), "notifications/initialized must get no reply"
        code, _ = server.close()
        assert code == 0


def test_an_unknown_version_is_negotiated_not_refused():
    server = Raw(state_dir())
    reply = server.initialize("1900-01-01")
    assert reply["result"]["protocolVersion"] == "2025-11-25", reply
    server.close()


def test_every_stdout_line_is_one_json_rpc_message_and_logs_go_to_stderr():
    server = Raw(state_dir())
    server.initialize()
    server.request(1, "tools/list")
    server.request(2, "tools/call", {"name": "conversation_log", "arguments": {
        "messages": [{"role": "user", "content": "line one\nline two: 줄바꿈"}]}})
    server.request(3, "ping")
    code, stderr = server.close()
    assert code == 0
    assert stderr.strip(), "debug logs should appear on stderr"


def test_ping_before_and_after_initialize():
    server = Raw(state_dir())
    assert server.request(5, "ping")["result"] == {}
    server.initialize()
    assert server.request(6, "ping")["result"] == {}
    server.close()


def test_malformed_json_gets_parse_error_and_the_server_keeps_going():
    server = Raw(state_dir())
    server.initialize()
    server.send('{"jsonrpc": "2.0", "id": 9, "method": ')
    reply = server.receive()
    assert reply["error"]["code"] == -32700 and reply["id"] is None, reply
    server.send("[]")
    assert server.receive()["error"]["code"] == -32600
    server.send({"jsonrpc": "2.0", "id": 10})
    reply = server.receive()
    assert (reply["id"], reply["error"]["code"]) == (10, -32600), reply
    assert server.request(11, "ping")["result"] == {}
    server.close()


def test_unknown_method_and_unknown_tool_are_protocol_errors():
    server = Raw(state_dir())
    server.initialize()
    reply = server.request(1, "foo/bar")
    assert reply["error"]["code"] == -32601, reply
    reply = server.request(2, "tools/call", {"name": "no_such_tool", "arguments": {}})
    assert reply["error"]["code"] == -32602, reply
    # Arguments of the wrong type are the model's mistake: a tool error it can read.
    reply = server.request(3, "tools/call", {"name": "extract", "arguments": {"query": 5}})
    assert reply["result"]["isError"] is True, reply
    server.close()


def test_notifications_get_no_reply():
    server = Raw(state_dir())
    server.initialize()
    server.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}})
    server.send({"jsonrpc": "2.0", "method": "notifications/whatever"})
    assert server.silent_for(0.3)
    server.close()


def test_a_tool_call_before_initialize_is_answered_not_hung():
    # Pinned rmcp 3.11 behaviour: without initialize and without 2026-07-28 _meta, a request
    # gets -32602 naming the missing metadata; the connection stays usable.
    server = Raw(state_dir())
    reply = server.request(1, "tools/call", {"name": "extract", "arguments": {"query": "x"}})
    assert reply["error"]["code"] == -32602 and "_meta" in reply["error"]["message"], reply
    assert server.initialize()["result"]["protocolVersion"] == "2025-11-25"
    server.close()


def test_modern_stateless_requests_carry_their_version_in_meta():
    server = Raw(state_dir())
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "claude-code", "version": "2.1.0"}}
    discover = server.request(1, "server/discover", {"_meta": meta})
    assert "2026-07-28" in json.dumps(discover["result"]), discover
    reply = server.request(2, "tools/call", {"name": "conversation_log", "_meta": meta, "arguments": {
        "messages": [{"role": "user", "content": "modern client"}]}})
    result = reply["result"]
    assert result.get("resultType", "complete") == "complete"
    assert result["structuredContent"]["channel"] == "claude-code", result
    bad = dict(meta, **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
    reply = server.request(3, "tools/list", {"_meta": bad})
    assert reply["error"]["code"] == -32022 and reply["error"]["data"]["supported"], reply
    server.close()


def test_closing_stdin_exits_zero_quickly_and_data_survives():
    state = state_dir()
    server = Raw(state)
    server.initialize()
    reply = server.request(1, "tools/call", {"name": "conversation_log", "arguments": {
        "messages": [{"role": "user", "content": "남길 내용 survives restart"}]}})
    session_id = reply["result"]["structuredContent"]["session_id"]
    started = time.monotonic()
    code, _ = server.close()
    assert code == 0 and time.monotonic() - started < 2.0
    again = Raw(state)
    again.initialize()
    reply = again.request(1, "tools/call", {"name": "get_session", "arguments": {"session_id": session_id}})
    assert reply["result"]["structuredContent"]["messages"][0]["content"] == "남길 내용 survives restart"
    again.close()


if __name__ == "__main__":
    main(globals())

"""`serve --mcp-listen`: the same tools over Streamable HTTP, with Host/Origin checks (403)
and the bearer token (401). MCP_URL and MCP_TOKEN name the running daemon's endpoint."""
import http.client
import json
import os
from urllib.parse import urlsplit

from harness import main, ok

URL = os.environ.get("MCP_URL", "http://127.0.0.1:8765/mcp")
TOKEN = os.environ.get("MCP_TOKEN", "")
PARTS = urlsplit(URL)

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cursor-vscode", "version": "1"}}}


def post(body, headers=None, token=TOKEN, path=None):
    connection = http.client.HTTPConnection(PARTS.hostname, PARTS.port, timeout=10)
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    connection.request("POST", path or PARTS.path, body=json.dumps(body), headers=sent)
    response = connection.getresponse()
    data = response.read().decode()
    connection.close()
    return response.status, dict((k.lower(), v) for k, v in response.getheaders()), data


def json_of(data):
    """The JSON-RPC message in a JSON or SSE body."""
    if data.lstrip().startswith("{"):
        return json.loads(data)
    events = [line[5:].strip() for line in data.splitlines() if line.startswith("data:")]
    return json.loads([e for e in events if e][-1])


def test_a_local_initialize_works_and_opens_a_session():
    status, headers, data = post(INIT, {"Origin": f"http://localhost:{PARTS.port}"})
    assert status == 200, (status, data)
    assert json_of(data)["result"]["protocolVersion"] == "2025-11-25"
    session = headers["mcp-session-id"]
    status, _, data = post({"jsonrpc": "2.0", "method": "notifications/initialized"},
                           {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    assert status == 202 and data == "", (status, data)
    status, _, _ = post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 400, "a request without Mcp-Session-Id after initialize is refused"
    status, _, _ = post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        {"Mcp-Session-Id": "nope", "MCP-Protocol-Version": "2025-11-25"})
    assert status == 404, status
    status, _, _ = post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        {"Mcp-Session-Id": session, "MCP-Protocol-Version": "1999-01-01"})
    assert status == 400, status


def test_a_foreign_origin_or_host_is_forbidden():
    status, _, _ = post(INIT, {"Origin": "http://evil.example"})
    assert status == 403, status
    status, _, _ = post(INIT, {"Origin": "https://localhost.evil.example"})
    assert status == 403, status
    status, _, _ = post(INIT, {"Host": "evil.example"})
    assert status == 403, status


def test_a_missing_or_wrong_token_is_unauthorized():
    assert TOKEN, "the daemon must be started with BACKOFFICE_MCP_TOKEN for this test"
    status, headers, _ = post(INIT, token=None)
    assert status == 401 and headers.get("www-authenticate") == "Bearer", status
    status, _, _ = post(INIT, token="wrong-" + TOKEN)
    assert status == 401, status
    status, _, _ = post(INIT, path="/elsewhere")
    assert status == 404, status


def test_modern_stateless_requests_need_no_session():
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "claude-code", "version": "2.1.0"}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "list_sessions", "arguments": {"limit": 1}, "_meta": meta}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "list_sessions"}
    status, _, data = post(body, headers)
    assert status == 200, (status, data)
    result = json_of(data)["result"]
    assert result.get("resultType", "complete") == "complete" and "sessions" in result["structuredContent"], result
    status, _, data = post(body, dict(headers, **{"MCP-Protocol-Version": "2025-11-25"}))
    assert status == 400 and json_of(data)["error"]["code"] == -32020, (status, data)
    discover = {"jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": {"_meta": meta}}
    status, _, data = post(discover, {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"})
    assert status == 200 and "2026-07-28" in data, (status, data)


async def test_the_sdk_client_logs_and_finds_over_http():
    import httpx2
    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client

    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with client:
        async with streamable_http_client(URL, http_client=client) as streams:
            read, write = streams[0], streams[1]
            info = types.Implementation(name="claude-code", version="2.1.0")
            async with ClientSession(read, write, client_info=info) as s:
                await s.initialize()
                tools = await s.list_tools()
                assert [t.name for t in tools.tools] == ["card_answer", "card_feedback", "cards_due", "conversation_log", "extract", "get_session", "list_sessions"]
                logged = await ok(s, "conversation_log", {"messages": [
                    {"role": "user", "content": "HTTP로 기록한 배포 체크리스트"}]})
                assert logged["channel"] == "claude-code"
                found = await ok(s, "extract", {"query": "체크리스트"})
                assert found["hits"][0]["session_id"] == logged["session_id"]


if __name__ == "__main__":
    main(globals())

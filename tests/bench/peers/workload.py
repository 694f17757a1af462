#!/usr/bin/env python3
"""Deterministic synthetic workload: conversation messages (mixed Korean/English) + keyword searches.

The workload is a list of abstract actions:
  {"op": "log_message", "i": 0, "conversation_id": "conv-00001", "seq": 0, "role": "user",
   "agent": "agent-03", "ts": "2025-03-01T09:00:07+09:00", "text": "..."}
  {"op": "search", "i": 0, "keyword": "배포", "class": "common"}
All log_message actions come first, then all searches.

A small adapter per server maps an action to that server's MCP tool call
(tool name + arguments). Adapters:
  memory            @modelcontextprotocol/server-memory: conversation = entity, message = observation
                    (create_entities for a conversation's first message, add_observations after);
                    search -> search_nodes {"query"}
  basic-memory      basic-memory: one note per message via write_note; search -> search_notes
                    (search_type="text", i.e. SQLite FTS5 keyword search)
  context-registry  backoffice's Context Registry: conversation_log (a conversation is a session,
                    the returned session_id is passed on) / extract.

Usage:
  python workload.py --items 1000 --searches 100 --seed 42                  # abstract JSONL to stdout
  python workload.py --items 1000 --format mcp --adapter context-registry \
         --handshake --out /tmp/calls.jsonl       # JSON-RPC tools/call lines, pipeable into a stdio server
  python workload.py --items 1000 --stats                                   # summary + sha256 only

Determinism: only random.Random(seed) is used (no hash()/set ordering), so the
same (items, searches, seed, conversations) gives byte-identical output on any
CPython 3.x. The sha256 of the abstract JSONL is printed with --stats.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9))

# Vocabulary, roughly ordered by intended frequency (Zipf weights by rank).
KO_NOUNS = [
    "배포", "스케줄러", "작업", "에이전트", "로그", "데이터베이스", "서버", "설정", "오류", "요청",
    "응답", "대화", "검색", "저장소", "파이프라인", "테스트", "사용자", "결과", "실행", "모델",
    "크론", "타임존", "재시도", "알림", "보고서", "매일", "아침", "점검", "메모리", "캐시",
    "인덱스", "쿼리", "토큰", "컨텍스트", "레지스트리", "브랜치", "커밋", "리뷰", "문서", "권한",
    "인증", "네트워크", "지연", "처리량", "병목", "용량", "백업", "복구", "마이그레이션", "스키마",
    "트랜잭션", "잠금", "큐", "워커", "스레드", "프로세스", "환경변수", "비밀키", "감사", "정책",
    "요약", "번역", "분류", "추출", "임베딩", "프롬프트", "도구", "호출", "세션", "기록",
]
# particles as (after a final consonant, after a vowel); chosen to agree with the noun's last syllable
KO_PARTICLES = [("", ""), ("", ""), ("", ""), ("을", "를"), ("이", "가"), ("은", "는"), ("에서", "에서"),
                ("으로", "로"), ("의", "의"), ("도", "도"), ("만", "만"), ("과", "와")]
KO_VERBS = [
    "실패했습니다", "완료했습니다", "확인했어요", "필요합니다", "시작합니다", "중단됐어요", "수정했습니다",
    "추가해 주세요", "검토해 주세요", "늦어지고 있어요", "다시 실행할게요", "문제가 있어요", "괜찮아요",
    "정리했습니다", "공유드립니다", "업데이트했어요", "롤백했습니다", "모니터링 중입니다",
]
EN_WORDS = [
    "deploy", "scheduler", "job", "agent", "log", "database", "server", "config", "error", "request",
    "response", "conversation", "search", "repo", "pipeline", "test", "user", "result", "run", "model",
    "cron", "timezone", "retry", "alert", "report", "daily", "morning", "check", "memory", "cache",
    "index", "query", "token", "context", "registry", "branch", "commit", "review", "docs", "permission",
    "auth", "network", "latency", "throughput", "bottleneck", "capacity", "backup", "restore", "migration",
    "schema", "transaction", "lock", "queue", "worker", "thread", "process", "env", "secret", "audit",
    "policy", "summary", "translate", "classify", "extract", "embedding", "prompt", "tool", "call",
    "session", "sqlite", "gitops", "yaml", "manifest", "rollout", "webhook", "timeout", "backoff",
]
EN_FILLER = ["the", "a", "is", "was", "for", "to", "in", "on", "with", "and", "after", "before", "please",
             "failed", "succeeded", "again", "now", "today", "tomorrow", "at", "07:00", "KST", "UTC"]
MISS_WORDS = ["양자컴퓨터", "해바라기씨", "zeppelin", "marmalade", "크루아상", "xylophone", "보름달빵",
              "gazebo", "무지개송어", "quasar", "pterodactyl", "고구마라떼"]
ROLES = ["user", "assistant", "assistant", "tool"]


def _zipf(n, s=0.9):
    return [1.0 / (r + 1) ** s for r in range(n)]


def _has_batchim(word):
    c = ord(word[-1])
    return 0xAC00 <= c <= 0xD7A3 and (c - 0xAC00) % 28 != 0


def _ko_phrase(rng, w_ko):
    noun = rng.choices(KO_NOUNS, weights=w_ko)[0]
    with_final, without = rng.choice(KO_PARTICLES)
    if with_final == "으로" and (ord(noun[-1]) - 0xAC00) % 28 == 8:  # final ㄹ takes 로
        return noun + "로"
    return noun + (with_final if _has_batchim(noun) else without)


def _message_text(rng, w_ko, w_en, ids_pool, used_ids):
    mode = rng.random()
    ntok = rng.randint(5, 24)
    toks = []
    for _ in range(ntok):
        x = rng.random()
        if mode < 0.45:          # mostly Korean
            toks.append(_ko_phrase(rng, w_ko) if x < 0.75 else rng.choices(EN_WORDS, weights=w_en)[0])
        elif mode < 0.75:        # mostly English
            toks.append(rng.choices(EN_WORDS, weights=w_en)[0] if x < 0.6 else
                        (rng.choice(EN_FILLER) if x < 0.92 else _ko_phrase(rng, w_ko)))
        else:                    # code-switched
            toks.append(_ko_phrase(rng, w_ko) if x < 0.5 else rng.choices(EN_WORDS, weights=w_en)[0])
    if mode < 0.45 or mode >= 0.75:
        toks.append(rng.choice(KO_VERBS))
    # ~12 % of messages carry a rare identifier (job / ticket id) -> selective searches
    if rng.random() < 0.12:
        ident = f"{rng.choice(['JOB', 'TICKET', 'RUN'])}-{rng.randrange(ids_pool):05d}"
        used_ids.append(ident)
        toks.insert(rng.randrange(len(toks) + 1), ident)
    return " ".join(toks)


def generate(items=1000, searches=100, seed=42, conversations=None, active=8):
    """Return (messages, searches) lists of abstract actions. Deterministic for given args."""
    rng = random.Random(seed)
    conversations = conversations or max(1, items // 20)
    w_ko, w_en = _zipf(len(KO_NOUNS)), _zipf(len(EN_WORDS))
    ids_pool = max(100, items * 2)
    used_ids = []
    # conversation lengths: sum == items, each >= 1
    lengths = [1] * conversations
    for _ in range(items - conversations if items > conversations else 0):
        lengths[rng.randrange(conversations)] += 1
    if items < conversations:
        lengths = lengths[:items]
    pending = list(range(len(lengths)))  # conversations not started yet, in order
    live, seqs = [], {}
    t = datetime(2025, 3, 1, 9, 0, 0, tzinfo=KST)
    msgs = []
    while len(msgs) < items:
        while len(live) < active and pending:
            c = pending.pop(0)
            live.append(c)
            seqs[c] = 0
        c = rng.choice(live)
        t += timedelta(seconds=rng.randint(1, 90))
        seq = seqs[c]
        role = "user" if seq == 0 else rng.choice(ROLES)
        msgs.append({
            "op": "log_message", "i": len(msgs), "conversation_id": f"conv-{c + 1:05d}", "seq": seq,
            "role": role, "agent": f"agent-{c % 12 + 1:02d}", "ts": t.isoformat(),
            "text": _message_text(rng, w_ko, w_en, ids_pool, used_ids),
        })
        seqs[c] = seq + 1
        if seqs[c] >= lengths[c]:
            live.remove(c)
    # searches: 30 % common, 30 % mid-frequency, 25 % rare ids present in data, 15 % misses
    srng = random.Random(seed * 7919 + 1)
    out = []
    for k in range(searches):
        x = srng.random()
        if x < 0.30:
            kw, cls = (srng.choice(KO_NOUNS[:10]) if srng.random() < 0.5 else srng.choice(EN_WORDS[:10])), "common"
        elif x < 0.60:
            kw, cls = (srng.choice(KO_NOUNS[20:60]) if srng.random() < 0.5 else srng.choice(EN_WORDS[20:70])), "mid"
        elif x < 0.85 and used_ids:
            kw, cls = srng.choice(used_ids), "rare_id"
        else:
            kw, cls = srng.choice(MISS_WORDS), "miss"
        out.append({"op": "search", "i": k, "keyword": kw, "class": cls})
    return msgs, out


# ----------------------------------------------------------------------------- adapters

class MemoryAdapter:
    """@modelcontextprotocol/server-memory (knowledge graph in a JSONL file)."""
    name = "memory"
    write_tools = ["create_entities", "add_observations"]
    search_tool = "search_nodes"

    def __init__(self):
        self._seen = set()

    @staticmethod
    def observation(a):
        return f"[{a['ts']} {a['role']} #{a['seq']}] {a['text']}"

    def map(self, a):
        if a["op"] == "log_message":
            obs = self.observation(a)
            if a["conversation_id"] not in self._seen:
                self._seen.add(a["conversation_id"])
                return "create_entities", {"entities": [
                    {"name": a["conversation_id"], "entityType": "conversation", "observations": [obs]}]}
            return "add_observations", {"observations": [{"entityName": a["conversation_id"], "contents": [obs]}]}
        if a["op"] == "search":
            return "search_nodes", {"query": a["keyword"]}
        raise ValueError(a["op"])


class BasicMemoryAdapter:
    """basic-memory (markdown files + SQLite FTS5 index). One note per message."""
    name = "basic-memory"
    write_tools = ["write_note"]
    search_tool = "search_notes"

    def map(self, a):
        if a["op"] == "log_message":
            body = (f"# {a['conversation_id']} #{a['seq']}\n\n"
                    f"- role: {a['role']}\n- agent: {a['agent']}\n- ts: {a['ts']}\n\n{a['text']}\n")
            return "write_note", {"title": f"{a['conversation_id']} msg {a['seq']:04d}",
                                  "directory": f"conversations/{a['conversation_id']}",
                                  "content": body, "tags": f"{a['role']},{a['agent']}", "note_type": "message"}
        if a["op"] == "search":
            return "search_notes", {"query": a["keyword"], "search_type": "text", "page_size": 10}
        raise ValueError(a["op"])


class ContextRegistryAdapter:
    """backoffice's Context Registry: a conversation is a session. Its first message goes
    without a session_id (titled with the conversation id); `observe` learns the session_id
    the server returns, and later messages of that conversation pass it."""
    name = "context-registry"
    write_tools = ["conversation_log"]
    search_tool = "extract"

    def __init__(self):
        self._sessions = {}

    def map(self, a):
        if a["op"] == "log_message":
            arguments = {"messages": [{"role": a["role"], "content": a["text"], "timestamp": a["ts"]}]}
            session = self._sessions.get(a["conversation_id"])
            if session:
                arguments["session_id"] = session
            else:
                arguments["title"] = a["conversation_id"]
            return "conversation_log", arguments
        if a["op"] == "search":
            return "extract", {"query": a["keyword"], "limit": 10}
        raise ValueError(a["op"])

    def observe(self, a, result):
        """Remembers the session a conversation's first message created."""
        structured = getattr(result, "structured_content", None)
        if a["op"] == "log_message" and isinstance(structured, dict) and "session_id" in structured:
            self._sessions.setdefault(a["conversation_id"], structured["session_id"])


ADAPTERS = {c.name: c for c in (MemoryAdapter, BasicMemoryAdapter, ContextRegistryAdapter)}


def jsonrpc_lines(actions, adapter, handshake=False, protocol="2025-06-18"):
    """Yield JSON-RPC 2.0 lines (one dict per line) for a stdio MCP server."""
    rid = 0
    if handshake:
        rid += 1
        yield {"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": {
            "protocolVersion": protocol, "capabilities": {},
            "clientInfo": {"name": "peers-workload", "version": "1"}}}
        yield {"jsonrpc": "2.0", "method": "notifications/initialized"}
    for a in actions:
        rid += 1
        tool, args = adapter.map(a)
        yield {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": {"name": tool, "arguments": args}}


def _dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000, help="number of log_message actions")
    ap.add_argument("--searches", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--conversations", type=int, default=None, help="default items/20")
    ap.add_argument("--format", choices=["abstract", "mcp"], default="abstract")
    ap.add_argument("--adapter", choices=sorted(ADAPTERS), default="context-registry")
    ap.add_argument("--handshake", action="store_true", help="mcp format: prepend initialize + initialized")
    ap.add_argument("--only", choices=["writes", "searches"], help="emit only one phase")
    ap.add_argument("--out", help="output file (default stdout)")
    ap.add_argument("--stats", action="store_true", help="print a summary and sha256 instead of the workload")
    a = ap.parse_args()
    msgs, srch = generate(a.items, a.searches, a.seed, a.conversations)
    actions = (msgs if a.only != "searches" else []) + (srch if a.only != "writes" else [])
    if a.stats:
        h = hashlib.sha256()
        for x in msgs + srch:
            h.update((_dumps(x) + "\n").encode())
        nbytes = sum(len(m["text"].encode()) for m in msgs)
        classes = {}
        for s in srch:
            classes[s["class"]] = classes.get(s["class"], 0) + 1
        print(json.dumps({"items": len(msgs), "searches": len(srch), "seed": a.seed,
                          "conversations": len({m['conversation_id'] for m in msgs}),
                          "text_bytes_utf8": nbytes, "avg_text_bytes": nbytes / max(1, len(msgs)),
                          "search_classes": classes, "sha256_abstract_jsonl": h.hexdigest(),
                          "sample_message": msgs[0]["text"] if msgs else None,
                          "sample_keywords": [s["keyword"] for s in srch[:8]]}, ensure_ascii=False, indent=1))
        return
    out = open(a.out, "w", encoding="utf-8") if a.out else sys.stdout
    try:
        if a.format == "abstract":
            for x in actions:
                out.write(_dumps(x) + "\n")
        else:
            for line in jsonrpc_lines(actions, ADAPTERS[a.adapter](), a.handshake):
                out.write(_dumps(line) + "\n")
    finally:
        if a.out:
            out.close()


if __name__ == "__main__":
    main()

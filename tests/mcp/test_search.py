"""Search as our users write: Korean, English and both in one message. A table of messages
and queries with the hits each query must (and must not) return."""
from harness import main, ok, session, state_dir

MESSAGES = {
    "game": "어제 게임을 하다가 끝말잇기 규칙을 정했다",
    "cursor": "Cursor와 Claude Desktop을 같이 쓰는 설정",
    "retry": "The retry policy: exponential backoff with jitter, honour Retry-After",
    "mixed": "MCP서버의 retry 정책은 3회로 결정했다",
    "search": "검색을 빠르게 하려면 인덱스가 필요하다",
    "search2": "검색 결과가 비어 있다",
    "email": "e-mail 알림은 꺼 두자 (spam이 너무 많다)",
    "book": "책을 읽고 요약해 줘",
    "colon": "설정: 타임존은 Asia/Seoul, cron은 0 9 * * 1-5",
    "quote": 'He said "ship it" and we did',
    "rust": "rusqlite로 회의록을 SQLite에 저장",
    "job": "JOB-01234 실패 원인은 토큰 만료",
}

# query -> the messages it must find (exactly), or None for "anything, as long as no error"
TABLE = [
    ("게임", {"game"}),                       # 2-syllable noun, particle attached
    ("끝말잇기", {"game"}),                   # exact longer word
    ("Cursor", {"cursor"}),                  # English word with Korean right after it
    ("cursor", {"cursor"}),                  # case-insensitive
    ("검색", {"search", "search2"}),           # with and without particle
    ("retry", {"retry", "mixed"}),           # English inside Korean text and plain English
    ("retry 정책", {"mixed"}),                # mixed query: every word
    ("MCP", {"mixed"}),                      # Latin glued to Hangul
    ("서버", {"mixed"}),                      # Hangul glued to Latin
    ("회의록", {"rust"}),
    ("rusqlite", {"rust"}),
    ("JOB-01234", {"job"}),                  # rare id with a hyphen
    ("e-mail", {"email"}),                   # '-' is not NOT
    ("책", {"book", "mixed"}),                # single syllable: 책을, and inside 정책은
    ("설정:", {"colon", "cursor"}),           # ':' is not a column filter
    ('"ship it"', {"quote"}),                # quotes are text
    ('ship"', {"quote"}),                    # unbalanced quote
    ("변경?", set()),                         # '?' is text; nothing matches
    ("(spam", {"email"}),                    # parenthesis
    ("1-5*", {"colon"}),                     # star and hyphen
    ("Asia/Seoul", {"colon"}),
    ("kubernetes", set()),
    ("AND", {"quote"}),                      # FTS5 operators are plain words ("and we did")
    ("NEAR(retry", set()),                   # glued punctuation: one phrase "near retry", no error
    ("retry NOT", {"retry", "mixed"}),
]


async def test_korean_english_and_hostile_queries():
    async with session(state_dir()) as s:
        ids = {}
        for key, text in MESSAGES.items():
            logged = await ok(s, "conversation_log", {"title": key, "messages": [{"role": "user", "content": text}]})
            ids[logged["session_id"]] = key
        failures = []
        for query, expected in TABLE:
            result = await ok(s, "extract", {"query": query, "limit": 50})
            found = {ids[h["session_id"]] for h in result["hits"]}
            if found != expected:
                failures.append(f"{query!r}: expected {sorted(expected)}, found {sorted(found)}")
        assert not failures, "\n".join(failures)


async def test_more_matching_words_rank_first_and_recent_beats_old():
    async with session(state_dir()) as s:
        old = await ok(s, "conversation_log", {"messages": [
            {"role": "user", "content": "배포 일정 논의", "timestamp": "2025-01-01T00:00:00Z"}]})
        new = await ok(s, "conversation_log", {"messages": [{"role": "user", "content": "배포 일정 확정"}]})
        result = await ok(s, "extract", {"query": "배포 일정"})
        assert [h["session_id"] for h in result["hits"]] == [new["session_id"], old["session_id"]]
        assert result["hits"][0]["score"] > result["hits"][1]["score"]
        both = await ok(s, "conversation_log", {"messages": [
            {"role": "user", "content": "canary rollout and feature flags"}]})
        await ok(s, "conversation_log", {"messages": [{"role": "user", "content": "canary only"}]})
        any_word = await ok(s, "extract", {"query": "canary flags rollout zebra"})
        assert not any_word["matched_all_words"]
        assert any_word["hits"][0]["session_id"] == both["session_id"]


if __name__ == "__main__":
    main(globals())

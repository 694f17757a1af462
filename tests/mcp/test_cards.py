"""The Knowledge Cards tools (cards_due, card_answer, card_feedback) through the official Python
SDK, as Cursor or Claude Desktop would use them for "quiz me", against a state folder that
tests/cards.rs filled with cards (an offline knowledge-cards run over three clients'
conversations).

Usage: test_cards.py STATE_DIR [test names]. The reference answers are read from
STATE_DIR/registry.db (read-only) to check that no tool shows them before an answer. Each test
takes its own cards, so they run in any order. Prints "N passed, M failed" like the others.
"""
import datetime
import json
import os
import re
import sqlite3
import sys

from harness import call, main, ok, session, tool_error

STATE = sys.argv.pop(1) if len(sys.argv) > 1 else None
CARD_TOOLS = ["card_answer", "card_feedback", "cards_due"]
REGISTRY_TOOLS = ["conversation_log", "extract", "get_session", "list_sessions"]
DUE_KEYS = {"card_id", "question", "kind", "state", "tags", "session_id", "session_title", "channel", "due"}
ANSWER_KEYS = {"card_id", "question", "answer", "quote", "session_title", "channel", "grade", "next_due",
               "next_in", "state", "stability", "your_answer"}


def db():
    assert STATE, "give the state folder (tests/cards.rs prepares it)"
    path = os.path.join(STATE, "registry.db")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def cards_in_db():
    with db() as conn:
        return {row["id"]: dict(row) for row in conn.execute(
            "SELECT id, kind, state, front, back, quote, session_id, reason FROM cards ORDER BY id")}


def deletions(front):
    return [m.split("::")[0] for m in re.findall(r"\{\{c\d+::(.*?)\}\}", front)]


def filled(front):
    return re.sub(r"\{\{c\d+::(.*?)(::.*?)?\}\}", r"\1", front)


def reference(card):
    """What the card's answer is: a Basic card's back; a cloze's deleted words."""
    return deletions(card["front"]) if card["kind"] == "cloze" else [card["back"]]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text), f"not RFC 3339: {text!r}"
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


# Each test takes its own cards out of what the run made (sorted by id: stable within a run).
_CARDS = cards_in_db() if STATE else {}
_BASIC = [c for c in _CARDS.values() if c["kind"] == "basic" and c["state"] == "new"]
_CLOZE = [c for c in _CARDS.values() if c["kind"] == "cloze" and c["state"] == "new"]


def basic(n):
    assert len(_BASIC) > n, f"the run made {len(_BASIC)} new Basic cards; these tests need 5"
    return _BASIC[n]


def cloze():
    assert _CLOZE, "the run made no cloze card (from the `cargo test --release` sentence)"
    return _CLOZE[0]


async def due_ids(s):
    due = await ok(s, "cards_due", {"limit": 50})
    return {c["card_id"] for c in due["cards"]}, due


async def test_tools_list_has_the_card_tools_with_object_schemas():
    async with session(STATE, channel="claude-desktop", client="claude-ai") as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(CARD_TOOLS + REGISTRY_TOOLS) <= set(tools), sorted(tools)
        for name in CARD_TOOLS:
            tool = tools[name]
            assert tool.input_schema["type"] == "object", (name, tool.input_schema)
            assert tool.output_schema and tool.output_schema["type"] == "object", (name, tool.output_schema)
            assert tool.description and len(tool.description) > 40, name
            assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name)
        assert tools["cards_due"].annotations.read_only_hint is True
        assert tools["card_answer"].annotations.read_only_hint is False
        assert tools["card_feedback"].annotations.read_only_hint is False
        assert "limit" in tools["cards_due"].input_schema["properties"]
        answer = tools["card_answer"].input_schema
        assert set(answer.get("required", [])) >= {"card_id", "grade"}, answer
        assert {"again", "hard", "good", "easy"} <= set(re.findall(r"again|hard|good|easy", json.dumps(answer))), answer
        feedback = tools["card_feedback"].input_schema
        assert set(feedback.get("required", [])) >= {"card_id", "action"}, feedback
        assert {"reject", "edit", "suspend", "unsuspend"} <= set(
            re.findall(r"unsuspend|suspend|reject|edit", json.dumps(feedback))), feedback


async def test_cards_due_shows_questions_and_never_the_answers():
    cards = cards_in_db()
    async with session(STATE, channel="cursor", client="cursor-vscode") as s:
        due = await ok(s, "cards_due", {"limit": 50})
        live = [c for c in cards.values() if c["state"] in ("new", "learning", "review")]
        assert due["due_now"] >= 1 and len(due["cards"]) >= 1, due
        assert len(due["cards"]) == min(due["due_now"], 50), "every due card, up to the limit"
        assert {c["card_id"] for c in due["cards"]} <= {c["id"] for c in live}, "only live cards"
        for card in due["cards"]:
            assert set(card) >= DUE_KEYS, card
            assert not {"answer", "back", "quote", "reference"} & set(card), f"an answer field in {card}"
            stored = cards[card["card_id"]]
            shown = json.dumps(card, ensure_ascii=False)
            for answer in reference(stored):
                assert answer and answer not in shown, f"the answer {answer!r} is shown before answering: {shown}"
            if stored["kind"] == "cloze":
                assert "{{c" not in card["question"] and "[...]" in card["question"], card
            else:
                assert card["question"] == stored["front"], card
            assert card["session_id"] == stored["session_id"] and card["session_title"], card
            assert parse_time(card["due"]) <= now() + datetime.timedelta(seconds=5), card
        with db() as conn:
            sessions = {r[0]: r[1] for r in conn.execute("SELECT id, channel FROM sessions")}
        for card in due["cards"]:
            assert card["channel"] == sessions[card["session_id"]], card
        made_in = {sessions[c["session_id"]] for c in cards.values()}
        assert made_in >= {"cursor", "claude-desktop", "claude-code"}, made_in
        default = await ok(s, "cards_due", {})
        assert 1 <= len(default["cards"]) <= 5, default
        one = await ok(s, "cards_due", {"limit": 1})
        assert len(one["cards"]) == 1
        await tool_error(s, "cards_due", {"limit": 0}, "limit")
        await tool_error(s, "cards_due", {"limit": 51}, "limit")


async def test_easy_on_a_new_card_returns_the_reference_and_schedules_days_ahead():
    card = basic(0)
    async with session(STATE, channel="claude-desktop", client="claude-ai") as s:
        before = now()
        answered = await ok(s, "card_answer", {"card_id": card["id"], "grade": "easy",
                                               "answer": "내 답: something I remembered"})
        assert set(answered) >= ANSWER_KEYS, answered
        assert answered["card_id"] == card["id"]
        assert answered["question"] == card["front"]
        assert answered["answer"] == card["back"], answered
        assert answered["quote"] == card["quote"] and answered["quote"], answered
        assert answered["your_answer"] == "내 답: something I remembered"
        assert answered["grade"] == "easy" and answered["state"] == "review", answered
        assert answered["session_title"], answered
        due = parse_time(answered["next_due"])
        assert due >= before + datetime.timedelta(days=1), answered
        assert due <= before + datetime.timedelta(days=30), answered
        # FSRS-6's default first stability for Easy (w3 = 8.2956 days).
        assert abs(answered["stability"] - 8.2956) < 0.01, answered
        assert answered["next_in"] and "d" in answered["next_in"], answered
        ids, _ = await due_ids(s)
        assert card["id"] not in ids, "a card due in days is not due now"
    with db() as conn:
        reviews = conn.execute("SELECT grade FROM card_reviews WHERE card_id = ?", (card["id"],)).fetchall()
        state = conn.execute("SELECT state FROM cards WHERE id = ?", (card["id"],)).fetchone()[0]
    assert [r[0] for r in reviews] == [4], reviews
    assert state == "review"


async def test_good_on_a_new_cloze_comes_back_within_the_hour_with_its_words_filled_in():
    card = cloze()
    async with session(STATE, channel="cursor", client="cursor-vscode") as s:
        before = now()
        answered = await ok(s, "card_answer", {"card_id": card["id"], "grade": "good"})
        assert answered["state"] == "learning", answered
        due = parse_time(answered["next_due"])
        assert before + datetime.timedelta(minutes=5) <= due <= before + datetime.timedelta(hours=1), answered
        assert "[...]" in answered["question"] and "{{c" not in answered["question"], answered
        assert answered["answer"].startswith(filled(card["front"])), answered
        for word in deletions(card["front"]):
            assert word in answered["answer"], answered
        assert answered["your_answer"] is None, answered
        ids, _ = await due_ids(s)
        assert card["id"] not in ids, "due again in minutes, not now"


async def test_reject_with_a_reason_removes_a_card_for_good():
    card = basic(1)
    async with session(STATE, channel="claude-code", client="claude-code") as s:
        ids, due = await due_ids(s)
        assert card["id"] in ids, "a new card is due"
        rejected = await ok(s, "card_feedback", {"card_id": card["id"], "action": "reject", "reason": "trivia"})
        assert rejected == {"card_id": card["id"], "state": "rejected", "question": card["front"]}, rejected
        ids, after = await due_ids(s)
        assert card["id"] not in ids
        assert after["due_now"] == due["due_now"] - 1, (due["due_now"], after["due_now"])
        again = await ok(s, "card_feedback", {"card_id": card["id"], "action": "reject", "reason": "still trivia"})
        assert again["state"] == "rejected", again
        await tool_error(s, "card_answer", {"card_id": card["id"], "grade": "good"}, card["id"], "rejected")
        await tool_error(s, "card_feedback", {"card_id": card["id"], "action": "unsuspend"}, "rejected")
        ids, _ = await due_ids(s)
        assert card["id"] not in ids
    stored = cards_in_db()[card["id"]]
    assert stored["state"] == "rejected" and stored["reason"] == "trivia", stored


async def test_errors_are_tool_errors_with_a_sentence():
    card = basic(2)
    async with session(STATE, channel="cursor") as s:
        await tool_error(s, "card_feedback", {"card_id": card["id"], "action": "reject"}, "reason")
        await tool_error(s, "card_feedback", {"card_id": card["id"], "action": "reject", "reason": "  "}, "reason")
        assert cards_in_db()[card["id"]]["state"] == "new", "a reject without a reason changes nothing"
        await tool_error(s, "card_answer", {"card_id": "c_0000000000000000", "grade": "good"}, "c_0000000000000000")
        await tool_error(s, "card_feedback", {"card_id": "c_0000000000000000", "action": "suspend"}, "c_0000000000000000")
        await tool_error(s, "card_feedback", {"card_id": card["id"], "action": "edit"}, "front")
        # A grade outside the four is the tool's error (the model can correct itself), not a
        # protocol error.
        structured, text, is_error = await call(s, "card_answer", {"card_id": card["id"], "grade": "great"})
        assert is_error, f"grade `great` accepted: {structured}"
        assert "great" in text or "grade" in text, text
        assert cards_in_db()[card["id"]]["state"] == "new"
        with db() as conn:
            n = conn.execute("SELECT count(*) FROM card_reviews WHERE card_id = ?", (card["id"],)).fetchone()[0]
        assert n == 0, "no review recorded by a failed call"


async def test_suspend_hides_a_card_until_unsuspended():
    card = basic(3)
    async with session(STATE, channel="claude-desktop", client="claude-ai") as s:
        suspended = await ok(s, "card_feedback", {"card_id": card["id"], "action": "suspend"})
        assert suspended["state"] == "suspended", suspended
        ids, _ = await due_ids(s)
        assert card["id"] not in ids
        await tool_error(s, "card_answer", {"card_id": card["id"], "grade": "good"}, "suspended")
        back = await ok(s, "card_feedback", {"card_id": card["id"], "action": "unsuspend"})
        assert back["state"] == "new", back
        ids, _ = await due_ids(s)
        assert card["id"] in ids


async def test_an_edit_changes_the_answer_and_a_bad_edit_changes_nothing():
    card = basic(4)
    new_back = "the edited answer, checked in Anki later"
    async with session(STATE, channel="cursor") as s:
        edited = await ok(s, "card_feedback", {"card_id": card["id"], "action": "edit", "back": new_back})
        assert edited["card_id"] == card["id"] and edited["question"] == card["front"], edited
        # An edit is held to the same gates as a generated card: a five-item list is refused.
        await tool_error(s, "card_feedback", {"card_id": card["id"], "action": "edit",
                                              "back": "SQLite, Postgres, MySQL, Oracle and DuckDB"}, "enumeration")
        answered = await ok(s, "card_answer", {"card_id": card["id"], "grade": "hard"})
        assert answered["answer"] == new_back, answered
        assert answered["state"] == "learning", answered
    stored = cards_in_db()[card["id"]]
    assert stored["back"] == new_back and stored["front"] == card["front"], stored


if __name__ == "__main__":
    main(globals())

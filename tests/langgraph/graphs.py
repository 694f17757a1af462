"""Graphs for Backoffice's LangGraph tests: pure Python, no model, no network.

Every graph takes LangGraph's usual chat input, {"messages": [{"role": "user", "content": ...}]},
so Backoffice's default input works on each, and ends with an AI message where it succeeds.

  echo   replies "echo: <last user message>", with usage_metadata, and sets `notion_url`
  fail   raises ValueError("boom"); input {"error": "custom"} raises a non-standard exception
  slow   sleeps `seconds` (input key, else context key, else 30) so a run can be cancelled
  ask    stops at interrupt({"question": "Approve?"}); resumed with {"command": {"resume": x}}
  state  adds 1 to `counter` in the thread's state on every run ("count: N")
"""

import asyncio
from typing import Any, NotRequired

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict

NOTION_URL = "https://www.notion.so/backoffice/Daily-Briefing-0123456789abcdef0123456789abcdef"


class Context(TypedDict, total=False):
    seconds: float


def _last_user_text(state: MessagesState) -> str:
    for message in reversed(state["messages"]):
        if message.type == "human":
            return message.text if isinstance(message.content, list) else message.content
    return ""


def _single(name: str, node, state_schema=MessagesState, **kwargs):
    builder = StateGraph(state_schema, **kwargs)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile(name=name)


# echo ------------------------------------------------------------------------------------------
class EchoState(MessagesState):
    notion_url: NotRequired[str]


def _echo(state: EchoState) -> dict[str, Any]:
    text = _last_user_text(state)
    reply = AIMessage(
        content=f"echo: {text}",
        usage_metadata={
            "input_tokens": len(text.split()),
            "output_tokens": len(text.split()) + 1,
            "total_tokens": 2 * len(text.split()) + 1,
        },
    )
    return {"messages": [reply], "notion_url": NOTION_URL}


echo = _single("echo", _echo, EchoState)


# fail ------------------------------------------------------------------------------------------
class BriefingError(Exception):
    """Not derived from a standard exception: the server hides its message."""


class FailState(MessagesState):
    error: NotRequired[str]


def _fail(state: FailState) -> dict[str, Any]:
    if state.get("error") == "custom":
        raise BriefingError("custom boom")
    raise ValueError("boom")


fail = _single("fail", _fail, FailState)


# slow ------------------------------------------------------------------------------------------
class SlowState(MessagesState):
    seconds: NotRequired[float]


async def _slow(state: SlowState, runtime: Runtime[Context]) -> dict[str, Any]:
    seconds = state.get("seconds") or (runtime.context or {}).get("seconds") or 30
    await asyncio.sleep(float(seconds))  # async, so a cancel interrupts it at once
    return {"messages": [AIMessage(content=f"slept {seconds}s")]}


slow = _single("slow", _slow, SlowState, context_schema=Context)


# ask -------------------------------------------------------------------------------------------
def _ask(state: MessagesState) -> dict[str, Any]:
    answer = interrupt({"question": "Approve?"})
    return {"messages": [AIMessage(content=f"answer: {answer}")]}


ask = _single("ask", _ask)


# state -----------------------------------------------------------------------------------------
class CounterState(MessagesState):
    counter: NotRequired[int]


def _count(state: CounterState) -> dict[str, Any]:
    counter = state.get("counter", 0) + 1
    return {"counter": counter, "messages": [AIMessage(content=f"count: {counter}")]}


state = _single("state", _count, CounterState)

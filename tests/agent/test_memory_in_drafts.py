"""What private memory a run read reaches the policy gate, and what the message said does too."""

from __future__ import annotations

from ambient.agent.processor import AgentProcessor
from ambient.agent.reviser import FeedbackReviser
from ambient.memory.store import MemoryStore
from tests.agent.conftest import claim_one, meeting_email
from tests.agent.scripted import Script, call, respond

SECRET = "Door code for the Linden Street office: 4711, alarm PIN 0815; keep it to yourself."
FILLER = "\n".join(f"- budget line {number}: nothing to see here" for number in range(400))
FINANCE = f"# Finance\n\n## Budget\n{FILLER}\n\n## Office\n- {SECRET}\n"


def rules(warnings: list[str]) -> list[str]:
    return [warning.split(":", 1)[0] for warning in warnings]


def with_finance(memory: MemoryStore) -> None:
    """A memory file too long for the prompt: only its table of contents goes in."""
    (memory.folder / "finance.md").write_text(FINANCE, encoding="utf-8")


async def test_memory_read_with_a_tool_and_repeated_in_a_reply_is_flagged(
    make_agent, queue, ledger, memory: MemoryStore
) -> None:
    with_finance(memory)
    script = Script(
        respond(call("read_section", file="finance.md", heading="Office")),
        respond(call("reply_email", body=f"Hi Dana, sure: {SECRET}", rationale="she asked")),
    )
    claimed = claim_one(ledger, meeting_email(body="What is the office door code?"))
    await AgentProcessor(make_agent(script.model), queue).process(claimed)
    assert SECRET not in str(script.requests[0])  # not in the prompt: only the tool read it
    (row,) = queue.list(item_id=claimed.id)
    assert rules(row.warnings) == ["private_memory_in_draft"]
    assert '"Door code for the Linden Street office' in row.warnings[0]


async def test_memory_in_the_prompt_repeated_in_a_reply_is_flagged(
    make_agent, queue, ledger, memory: MemoryStore
) -> None:
    (memory.folder / "profile.md").write_text(f"# Profile\n- {SECRET}\n", encoding="utf-8")
    script = Script(respond(call("reply_email", body=f"Here: {SECRET}", rationale="asked")))
    claimed = claim_one(ledger, meeting_email(body="What is the office door code?"))
    await AgentProcessor(make_agent(script.model), queue).process(claimed)
    (row,) = queue.list(item_id=claimed.id)
    assert rules(row.warnings) == ["private_memory_in_draft"]


async def test_a_reply_in_its_own_words_is_not_flagged(
    make_agent, queue, ledger, memory: MemoryStore
) -> None:
    with_finance(memory)
    script = Script(
        respond(call("read_section", file="finance.md", heading="Office")),
        respond(call("reply_email", body="Hi Dana, I'll tell you in person.", rationale="asked")),
    )
    claimed = claim_one(ledger, meeting_email(body="What is the office door code?"))
    await AgentProcessor(make_agent(script.model), queue).process(claimed)
    (row,) = queue.list(item_id=claimed.id)
    assert row.warnings == []


async def test_a_revised_draft_is_checked_against_memory_the_first_run_read(
    make_agent, queue, ledger, clock, settings, memory: MemoryStore
) -> None:
    with_finance(memory)
    script = Script(
        respond(call("read_section", file="finance.md", heading="Office")),
        respond(call("reply_email", body="I'll tell you in person.", rationale="asked")),
        respond(call("reply_email", body=f"Fine: {SECRET}", rationale="as you said")),
    )
    claimed = claim_one(ledger, meeting_email(body="What is the office door code?"))
    await AgentProcessor(make_agent(script.model), queue).process(claimed)
    (first,) = queue.list(item_id=claimed.id)
    queue.feedback(first.id, shown_hash=first.shown_hash, message="just tell her", actor="me")
    reviser = FeedbackReviser(make_agent(script.model), queue, ledger, clock, settings.worker)
    assert await reviser.tick() == 1
    (revised,) = [row for row in queue.list(item_id=claimed.id) if row.parent_id == first.id]
    assert rules(revised.warnings) == ["private_memory_in_draft"]


async def test_a_reply_to_a_spoofed_reply_to_address_is_flagged(make_agent, queue, ledger) -> None:
    raw = meeting_email().replace(b"Subject:", b"Reply-To: dana@attacker.example\r\nSubject:", 1)
    script = Script(respond(call("reply_email", body="Friday at 10 works.", rationale="asked")))
    claimed = claim_one(ledger, raw)
    await AgentProcessor(make_agent(script.model), queue).process(claimed)
    (row,) = queue.list(item_id=claimed.id)
    assert row.args["to"] == ["dana@attacker.example"]  # a reply defaults to the Reply-To
    assert rules(row.warnings) == ["reply_to_mismatch"]

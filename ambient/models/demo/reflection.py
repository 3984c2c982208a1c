"""The demo model's reflection (``AMBIENT_MODEL=test``): one bullet recording the user's words.

Plain rules over the reflection prompts (``prompts``), answered through the reflection agent's
own tools and outputs: it reads the file with ``read_file``, then proposes a diff made with
``make_diff``, or says there is nothing to change.

- feedback on a draft: ``- From your feedback on a draft reply: "…".`` at the end of the
  "Tone" section of writing_style.md (or the first memory file);
- a rejection with a reason, of a reply: ``- ADDRESS: notify me, do not draft a reply ("…").``
  in contacts.md, under the sender's own line or in "Senders" (the demo triage then notifies
  instead of drafting for that sender); of another kind: a line in triage_rules.md;
- an answer to the agent's question: ``- Asked "…": "…".`` at the end of contacts.md (or the
  first memory file), so the agent need not ask again;
- a rejection without a reason, or an edit: nothing to change;
- feedback on its own proposal: the same place, with the user's words as the bullet ("no" or
  "don't" asks for no change); a change that no longer applies: its lines again, where they fit.

A bullet the file already has is not proposed again.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from email.utils import parseaddr

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponsePart,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo

from ambient.core.diffs import DiffError, apply_diff, make_diff, parse_diff

WORDS_MAX_CHARS = 200
_FILES = re.compile(r'<memory_file name="([^"]+)"')
_KIND = re.compile(r"The assistant drafted an? (\S+) action")
_FROM = re.compile(r"<untrusted_email_metadata>\nFrom: (.*)\nSubject: (.*)\n")
_FEEDBACK = re.compile(r"BACK WITH FEEDBACK:\n<human>(.*?)</human>", re.S)
_REJECTED = re.compile(r"REJECTED the draft\. Their reason:\n<human>(.*?)</human>", re.S)
_ANSWERED = re.compile(r"ANSWERED the question:\n<human>(.*?)</human>", re.S)
_QUESTION = re.compile(r"^question: (.*)$", re.M)
_REVISION = re.compile(r"^You proposed this change to (\S+) \(reason:")
_REPROPOSAL = re.compile(r"^A change to (\S+) was approved but no longer applies")
_HUMAN = re.compile(r"<human>(.*?)</human>", re.S)
_NO = re.compile(r"^\s*(no|nope|don'?t|do not|never ?mind|drop it|not needed)\b", re.I)


@dataclass(frozen=True)
class Plan:
    """Where a bullet goes: after the last line holding `anchor`, else at the end of the first
    section whose heading holds one of `sections`, else at the end of the file."""

    file: str
    bullet: str
    reason: str
    anchor: str = ""
    sections: tuple[str, ...] = ()
    diff: str = ""  # a proposal being revised or re-proposed: its lines show where


def _anchor(diff: str) -> str:
    """The context line just before a diff's first added line (where it went)."""
    before = ""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return before.strip()
        if line.startswith(" "):
            before = line[1:]
    return ""


def _words(text: str) -> str:
    text = " ".join(text.split()).strip()
    return text if len(text) <= WORDS_MAX_CHARS else text[: WORDS_MAX_CHARS - 1] + "…"


def _pick(files: list[str], *preferred: str) -> str | None:
    return next((name for name in preferred if name in files), files[0] if files else None)


def _prompt(messages: list[ModelMessage]) -> str:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


NO_FILES = "There are no memory files to record it in."


def _between(prompt: str, tag: str) -> str:
    return prompt.split(f"<{tag}>\n", 1)[-1].split(f"</{tag}>", 1)[0]


def _plan_revision(prompt: str, file: str) -> Plan | str:
    """Feedback on a proposal: the user's words as the bullet, where the proposal put its own."""
    said = _HUMAN.search(prompt)
    words = _words(said.group(1)) if said else ""
    if not words or _NO.search(words):
        return f'You asked for no change: "{words}".'
    bullet = f"- {words[0].upper()}{words[1:]}"
    reason = f'Revised as you asked: "{words}".'
    return Plan(file, bullet, reason, diff=_between(prompt, "proposed_diff"))


def _plan_reproposal(prompt: str, file: str) -> Plan | str:
    """An approved change met a hand edit: its added lines again, beside where they were."""
    approved = _between(prompt, "approved_diff")
    added = [line[1:] for line in approved.splitlines() if line.startswith("+")]
    added = [line for line in added if not line.startswith("++")]
    if not added:
        return "The approved change added nothing to carry over."
    reason = "The change you approved, again against the file as you edited it."
    return Plan(file, "\n".join(added), reason, _anchor(approved), diff=approved)


def _plan_rejection(files: list[str], kind: str, address: str, words: str) -> Plan | str:
    what = "reply" if kind == "reply_email" else kind
    if kind == "reply_email" and address:
        file = _pick(files, "contacts.md", "triage_rules.md")
        if file is None:
            return NO_FILES
        bullet = f'- {address}: notify me, do not draft a reply ("{words}").'
        reason = f"You rejected a reply to {address}: notify instead of drafting one."
        return Plan(file, bullet, reason, anchor=address, sections=("senders", "notify"))
    file = _pick(files, "triage_rules.md")
    if file is None:
        return NO_FILES
    source = f"mail from {address}" if address else "mail like this"
    bullet = f'- Do not draft a {what} for {source} ("{words}").'
    return Plan(file, bullet, f"You rejected a drafted {what}.", sections=("act",))


def _plan_answer(prompt: str, files: list[str], words: str) -> Plan | str:
    """An answer to the agent's question: the question and the answer, as a fact to keep."""
    file = _pick(files, "contacts.md", "profile.md")
    if file is None:
        return NO_FILES
    asked = _QUESTION.search(_between(prompt, "draft"))
    question = _words(asked.group(1)) if asked else "a question"
    bullet = f'- Asked "{question}": "{words}".'
    return Plan(file, bullet, f'You answered "{words}"; remembered, so I need not ask again.')


def _plan_decision(prompt: str) -> Plan | str:
    """A decision on a draft: feedback or a rejection with a reason teaches one bullet."""
    files = _FILES.findall(prompt)
    kind_match = _KIND.search(prompt)
    kind = kind_match.group(1) if kind_match else "draft"
    sender = _FROM.search(prompt)
    address = parseaddr(sender.group(1))[1].lower() if sender else ""
    feedback, rejected = _FEEDBACK.search(prompt), _REJECTED.search(prompt)
    answered = _ANSWERED.search(prompt)
    if answered is not None and _words(answered.group(1)):
        return _plan_answer(prompt, files, _words(answered.group(1)))
    if feedback is not None and _words(feedback.group(1)):
        file = _pick(files, "writing_style.md")
        if file is None:
            return NO_FILES
        words, what = _words(feedback.group(1)), "reply" if kind == "reply_email" else kind
        bullet = f'- From your feedback on a draft {what}: "{words}".'
        reason = f'You said "{words}" about a draft {what}; keep it in mind next time.'
        return Plan(file, bullet, reason, sections=("tone",))
    if rejected is not None:
        words = _words(rejected.group(1))
        if len(words.split()) > 1:
            return _plan_rejection(files, kind, address, words)
        return f'A one-word reason ("{words}") teaches nothing general.'
    if "REJECTED" in prompt:
        return "No reason given: nothing general to learn from one rejection."
    return "The demo model (AMBIENT_MODEL=test) learns from feedback, rejections and answers."


def plan(prompt: str) -> Plan | str:
    """What to change for this prompt, or why nothing."""
    revision, reproposal = _REVISION.search(prompt), _REPROPOSAL.search(prompt)
    if revision is not None:
        return _plan_revision(prompt, revision.group(1))
    if reproposal is not None:
        return _plan_reproposal(prompt, reproposal.group(1))
    return _plan_decision(prompt)


# ---- placing the bullet ------------------------------------------------------------------
def _end_of_section(lines: list[str], sections: tuple[str, ...]) -> int | None:
    for wanted in sections:
        for start, line in enumerate(lines):
            if line.startswith("#") and wanted in line.lower():
                end = next(
                    (i for i in range(start + 1, len(lines)) if lines[i].startswith("#")),
                    len(lines),
                )
                while end > start + 1 and not lines[end - 1].strip():
                    end -= 1
                return end
    return None


def _where_the_diff_was(lines: list[str], diff: str) -> tuple[int, int] | None:
    """The lines of the current text the proposal changed (an insertion: an empty range)."""
    try:
        changed = apply_diff("\n".join(lines) + "\n", parse_diff(diff)).split("\n")[:-1]
    except DiffError:
        return None
    matcher = difflib.SequenceMatcher(a=lines, b=changed, autojunk=False)
    for tag, start, end, _, _ in matcher.get_opcodes():
        if tag != "equal":
            return start, end
    return None


def _anchor_end(lines: list[str], anchor: str) -> int | None:
    """After the last line holding `anchor`, else after the line most like it (a line the
    user edited since), else None."""
    if not anchor:
        return None
    holding = [i for i, line in enumerate(lines) if anchor in line.lower()]
    if holding:
        return holding[-1] + 1
    folded = [line.lower() for line in lines]
    alike = difflib.get_close_matches(anchor, folded, n=1, cutoff=0.75)
    return folded.index(alike[0]) + 1 if alike else None


def place(text: str, step: Plan) -> str:
    """The file's text with the bullet in its place (see :class:`Plan`)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    span = _where_the_diff_was(lines, step.diff) if step.diff else None
    if span is None:
        at = _anchor_end(lines, step.anchor.lower())
        if at is None:
            at = _end_of_section(lines, step.sections)
        span = (len(lines), len(lines)) if at is None else (at, at)
    start, end = span
    return "\n".join([*lines[:start], *step.bullet.split("\n"), *lines[end:]]) + "\n"


# ---- the model's turns ----------------------------------------------------------------------
def _output(info: AgentInfo, name: str, args: dict[str, str]) -> ToolCallPart:
    tool = next(tool.name for tool in info.output_tools if name in tool.name)
    return ToolCallPart(tool, args)


def _nothing(info: AgentInfo, reason: str) -> list[ModelResponsePart]:
    return [_output(info, "NoMemoryChange", {"reason": reason[:500]})]


def reflection_parts(messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
    step = plan(_prompt(messages))
    if isinstance(step, str):
        return _nothing(info, step)
    last = messages[-1] if messages else None
    parts = list(last.parts) if isinstance(last, ModelRequest) else []
    retry = next((part for part in parts if isinstance(part, RetryPromptPart)), None)
    if retry is not None:
        return _nothing(info, f"The change did not check out: {retry.model_response()[:300]}")
    read = next(
        (p for p in parts if isinstance(p, ToolReturnPart) and p.tool_name == "read_file"), None
    )
    if read is None:
        return [ToolCallPart("read_file", {"file": step.file})]
    text = str(read.content)
    if all(line in text.split("\n") for line in step.bullet.split("\n")):
        return _nothing(info, "The memory already says this.")
    diff = make_diff(step.file, text, place(text, step))
    args = {"file": step.file, "diff": diff, "reason": step.reason[:500]}
    return [_output(info, "MemoryChangeProposal", args)]

"""What goes into a prompt is bounded: small files whole, large ones as a table of contents."""

from __future__ import annotations

import pytest

from ambient.core.errors import NotFoundError
from ambient.memory.context import CHARS_PER_TOKEN
from ambient.memory.store import MemoryStore

LONG_CONTACTS = (
    "# Contacts\n\n"
    + "\n".join(
        f"## Team {team}\n"
        + "\n".join(f"- Person {team}.{n} <p{team}.{n}@example.com>: colleague" for n in range(40))
        for team in range(5)
    )
    + "\n"
)


def test_small_files_go_in_whole(store: MemoryStore) -> None:
    context = store.prompt_context(4_000)

    for name in ("profile.md", "triage_rules.md", "writing_style.md", "contacts.md"):
        assert store.read(name).rstrip() in context
    assert context.index("profile.md") < context.index("contacts.md")


def test_a_large_file_goes_in_as_a_table_of_contents(store: MemoryStore) -> None:
    (store.folder / "contacts.md").write_text(LONG_CONTACTS, encoding="utf-8")

    context = store.prompt_context(2_000, inline_file_max_tokens=1_000)

    assert "Person 3.7" not in context
    assert 'shown="table of contents"' in context
    assert "- Team 3 (~" in context
    assert 'read_section("contacts.md", heading)' in context
    assert store.read("triage_rules.md").rstrip() in context  # small ones still whole
    assert "Person 3.7" in store.read_section("contacts.md", "team 3")


@pytest.mark.parametrize("budget", [60, 120, 300, 600, 1_000, 3_000])
def test_the_context_never_exceeds_its_budget(store: MemoryStore, budget: int) -> None:
    (store.folder / "contacts.md").write_text(LONG_CONTACTS, encoding="utf-8")
    for n in range(10):
        (store.folder / f"extra{n}.md").write_text(f"# Extra {n}\n" + "words " * 300, "utf-8")

    context = store.prompt_context(budget)

    assert len(context) <= budget * CHARS_PER_TOKEN
    assert context.startswith("# Memory")


def test_when_space_runs_out_files_are_named_or_counted(store: MemoryStore) -> None:
    for n in range(6):
        (store.folder / f"project{n}.md").write_text(f"# Project {n}\n" + "notes " * 200, "utf-8")

    context = store.prompt_context(700)

    assert store.read("profile.md").rstrip() in context
    assert "more memory files not shown" in context or 'shown="name only"' in context


def test_search_returns_lines_with_file_and_line_number(store: MemoryStore) -> None:
    hits = store.search("invoices NOTIFY")

    assert [(hit.file, hit.line) for hit in hits] == [("triage_rules.md", 13), ("contacts.md", 11)]
    assert str(hits[0]).startswith("triage_rules.md:13: - Invoices and payment reminders")
    assert store.search("zebra") == []
    assert {hit.file for hit in store.search("newsletter digest")} == {"contacts.md"}


def test_read_section_by_heading_and_clear_errors(store: MemoryStore) -> None:
    assert store.read_section("triage_rules.md", "Ignore").startswith("## Ignore\n- Newsletters")
    assert store.read_section("triage_rules.md", None) == store.read("triage_rules.md")
    with pytest.raises(NotFoundError, match="headings in this file: 'Triage rules', 'Ignore'"):
        store.read_section("triage_rules.md", "Holidays")


def test_headings_inside_code_fences_are_not_sections(store: MemoryStore) -> None:
    (store.folder / "notes.md").write_text(
        "# Notes\n```\n# not a heading\n```\n## Real\ntext\n", encoding="utf-8"
    )

    titles = [heading.title for heading in store.sections("notes.md")]

    assert titles == ["Notes", "Real"]


def test_a_huge_section_is_cut_with_a_marker(store: MemoryStore) -> None:
    (store.folder / "big.md").write_text("# Big\n" + "line of text\n" * 2_000, encoding="utf-8")

    text = store.read_section("big.md", "Big", max_chars=1_000)

    assert len(text) < 1_100 and "truncated at 1000 characters" in text

"""Unified diffs against one memory file: applied by content, small, never a rewrite."""

from __future__ import annotations

import re

import pytest

from ambient.core.diffs import (
    ChangeLimits,
    DiffConflict,
    DiffError,
    already_applied,
    apply_diff,
    check_change,
    make_diff,
    parse_diff,
)

RULES = "# Rules\n\n## Ignore\n- Newsletters.\n\n## Notify\n- Invoices.\n- My manager.\n"
ADD_RULE = """\
--- a/rules.md
+++ b/rules.md
@@ -6,3 +6,4 @@
 ## Notify
 - Invoices.
 - My manager.
+- Security alerts.
"""


def test_a_diff_applies_where_its_lines_are() -> None:
    assert apply_diff(RULES, ADD_RULE) == RULES + "- Security alerts.\n"


def test_a_diff_still_applies_after_edits_elsewhere_in_the_file() -> None:
    edited = "# Rules\nMy own intro line.\nAnother.\n" + RULES.removeprefix("# Rules\n")

    result = apply_diff(edited, ADD_RULE)

    assert result.startswith("# Rules\nMy own intro line.\nAnother.\n")
    assert result.endswith("- My manager.\n- Security alerts.\n")


def test_a_diff_whose_lines_were_edited_is_a_conflict() -> None:
    edited = RULES.replace("- My manager.", "- My manager, Alex.")

    with pytest.raises(DiffConflict, match="hunk 1 does not match"):
        apply_diff(edited, ADD_RULE)


def test_model_habits_are_forgiven_without_changing_meaning() -> None:
    fenced = "```diff\n" + ADD_RULE.replace("@@ -6,3 +6,4 @@", "@@ -1,99 +1,99 @@") + "```\n"
    headerless = ADD_RULE.split("\n", 2)[2].replace(" ## Notify", "## Notify".rjust(10))

    assert apply_diff(RULES, fenced) == RULES + "- Security alerts.\n"
    assert parse_diff(headerless).hunks  # no ---/+++ headers is fine
    blank_context = "@@ -4,3 +4,4 @@\n - Newsletters.\n\n+- Spam.\n ## Notify\n"
    assert "- Newsletters.\n\n- Spam.\n## Notify" in apply_diff(RULES, blank_context)


@pytest.mark.parametrize(
    ("diff", "message"),
    [
        ("just some text", "expected a '@@' hunk header"),
        ("@@ -1 +1 @@\n # Rules\n", "contains no change"),
        ("@@ -1 +1 @@\n*bad\n", "expected ' ', '+' or '-'"),
        (ADD_RULE + "--- a/other.md\n+++ b/other.md\n@@ -1 +1 @@\n-x\n+y\n", "more than one"),
    ],
)
def test_unreadable_diffs_say_what_is_wrong(diff: str, message: str) -> None:
    with pytest.raises(DiffError, match=re.escape(message)):
        parse_diff(diff)


def test_check_change_returns_a_canonical_diff_and_counts() -> None:
    checked = check_change("rules.md", RULES, ADD_RULE.replace("@@ -6,3 +6,4 @@", "@@ @@"))

    assert checked.added == 1 and checked.removed == 0
    assert checked.diff.startswith("--- a/rules.md\n+++ b/rules.md\n@@ -6,3 +6,4 @@")
    assert checked.new_text == apply_diff(RULES, checked.diff)


def test_a_large_change_is_refused_as_not_targeted() -> None:
    new = RULES + "".join(f"- rule {n}\n" for n in range(30))

    with pytest.raises(DiffError, match="at most 20"):
        check_change("rules.md", RULES, make_diff("rules.md", RULES, new))
    assert (
        check_change(
            "rules.md", RULES, make_diff("rules.md", RULES, new), ChangeLimits(max_changed_lines=40)
        ).added
        == 30
    )


def test_a_rewrite_of_most_of_the_file_is_refused() -> None:
    text = "".join(f"- fact {n}\n" for n in range(12))
    rewrite = "".join(f"- fact {n}\n" for n in range(4)) + "- new\n"

    with pytest.raises(DiffError, match="rewrite"):
        check_change("facts.md", text, make_diff("facts.md", text, rewrite))


def test_a_diff_for_another_file_is_refused() -> None:
    with pytest.raises(DiffError, match="names 'rules.md'"):
        check_change("contacts.md", RULES, ADD_RULE)


def test_line_endings_and_a_missing_final_newline_are_kept() -> None:
    crlf = RULES.replace("\n", "\r\n")
    assert apply_diff(crlf, ADD_RULE) == (RULES + "- Security alerts.\n").replace("\n", "\r\n")
    assert apply_diff(RULES.rstrip("\n"), ADD_RULE) == RULES + "- Security alerts."


def test_a_pure_insertion_into_an_empty_file() -> None:
    assert apply_diff("", "@@ -0,0 +1,2 @@\n+# New\n+- first\n") == "# New\n- first\n"


@pytest.mark.parametrize(
    "old, new",
    [
        (RULES, RULES + "- Security alerts.\n"),  # added after the last context line
        (RULES, RULES.replace("- Invoices.\n", "- Invoices.\n- Alerts.\n")),  # in the middle
        (RULES, RULES.replace("- Newsletters.\n", "")),  # a line removed
        (RULES, RULES.replace("- My manager.", "- Alex, my manager.")),  # a line changed
        ("", "# Notes\n"),  # a new file's first line
    ],
)
def test_a_change_the_text_already_has_is_recognised(old: str, new: str) -> None:
    diff = make_diff("rules.md", old, new)

    assert already_applied(new, diff)
    assert not already_applied(old, diff)
    edited = "My own intro.\n" + new
    assert already_applied(edited, diff)  # edits elsewhere do not hide it


def test_a_change_made_only_in_part_is_not_already_applied() -> None:
    both = RULES.replace("- Invoices.\n", "- Invoices.\n- Alerts.\n- Renewals.\n")
    diff = make_diff("rules.md", RULES, both)

    assert not already_applied(RULES.replace("- Invoices.\n", "- Invoices.\n- Alerts.\n"), diff)

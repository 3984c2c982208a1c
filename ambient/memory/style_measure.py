"""One sent message measured: greeting, sign-off, length, formality cues, language, phrases.

What the user wrote in it (its own text) is read line by line: the greeting is the first line
when it opens with a greeting word (a name in it becomes ``<name>``); the sign-off is a closing
phrase in the last two lines, perhaps followed by a name; length counts the words and sentences
(split at ``. ! ?`` and line ends) between them; phrases are the sequences of two to four words
within a clause, with names, numbers and addresses breaking them (what becomes of them, and
why no more than that is kept, is in ``ambient.memory.style``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

PHRASE_WORDS = range(2, 5)
NONE = ""  # the "greeting" / "sign-off" of a message without one

_GREETINGS = sorted(
    (
        "hi", "hello", "hey", "hiya", "dear", "morning", "good morning", "good afternoon",
        "good evening", "greetings", "hallo", "liebe", "lieber", "moin", "servus",
        "guten morgen", "guten tag", "sehr geehrte", "sehr geehrter", "bonjour", "salut",
        "coucou", "hola", "buenos días", "buenas tardes", "ciao", "buongiorno", "hoi",
        "beste", "goedemorgen",
    ),
    key=len, reverse=True,
)  # fmt: skip
_GROUPS = {"all", "everyone", "everybody", "team", "folks", "there", "guys", "both", "you",
           "zusammen", "alle", "tous", "todos", "allemaal"}  # fmt: skip
_SIGN_OFFS = sorted(
    (
        "best", "best wishes", "best regards", "kind regards", "warm regards", "regards",
        "all the best", "cheers", "thanks", "thanks again", "thank you", "many thanks", "thx",
        "warmly", "sincerely", "yours", "talk soon", "speak soon", "take care", "see you",
        "viele grüße", "liebe grüße", "beste grüße", "schöne grüße", "herzliche grüße",
        "grüße", "gruß", "lg", "vg", "mfg", "mit freundlichen grüßen", "cordialement",
        "bien à vous", "bises", "amitiés", "saludos", "un saludo", "un abrazo", "groeten",
        "met vriendelijke groet", "saluti", "cordiali saluti",
    ),
    key=len, reverse=True,
)  # fmt: skip
_LANGUAGES = {
    "English": "the and is are to you that it for of with have this be on can will i we not but "
    "my me your in at so if do or as was would",
    "German": "der die das und ist nicht ich du sie wir mit für auf ein eine zu es den dem auch "
    "sich bitte danke aber oder wie",
    "French": "le la les et est je vous nous pas pour avec une des du que qui merci sur dans ce",
    "Spanish": "el los las y es que en por para con una gracias pero muy lo se",
    "Dutch": "het een niet ik je jij wij van met voor op dat dank maar ook",
    "Italian": "il gli che di per non sono grazie ma anche mi ti",
}
_FUNCTION_WORDS = {language: set(words.split()) for language, words in _LANGUAGES.items()}
_STOPWORDS = set().union(*_FUNCTION_WORDS.values()) | {"a", "an", "am", "been", "has", "had"}
_I_FORMS = {"i", "i'm", "i'll", "i've", "i'd"}

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
_CONTRACTION = re.compile(
    r"\b\w+(?:n['’]t|['’](?:re|ve|ll|d|m))\b"
    r"|\b(?:it|that|what|there|here|let|he|she|who|where)['’]s\b",
    re.IGNORECASE,
)
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\U0001f000-\U0001f2ff\u2600-\u27bf]|(?<!\\w)[:;]-?[()DPp](?!\\w)"
)
_NAME_TOKEN = re.compile(r"^[^\W\d_][\w.'’-]*$")
_GREETING_REST = re.compile(r"([^,!:?]*)([,!:]?)(.*)", re.DOTALL)  # names, mark, the rest
_CLOSING_REST = re.compile(r"\s*([,.!]*)\s*(.*)", re.DOTALL)  # mark, a name
_OTHER_CLOSING = re.compile(r"[^\W\d_]+(?: [^\W\d_]+){0,2},")  # up to three words, a comma
_LETTERS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_EDGE_PUNCTUATION = "\"'()[]*_“”‘’.,;:!?"


@dataclass(frozen=True)
class MessageShape:
    """One message, measured."""

    greeting: str
    sign_off: str
    name_after: bool
    words: int
    sentences: int
    contraction: bool
    exclamation: bool
    emoji: bool
    language: str | None
    phrases: frozenset[str]


def _parts(pattern: re.Pattern[str], text: str) -> tuple[str, ...]:
    match = pattern.fullmatch(text)
    assert match is not None  # the patterns match any text
    return match.groups()


def _openings(line: str, words: Sequence[str]) -> Iterator[str]:
    """The entries of `words` (longest first) that `line` starts with, as whole words."""
    for word in words:
        head, after = line[: len(word)], line[len(word) : len(word) + 1]
        if head.lower() == word and not after.isalnum():
            yield head


def _is_name(text: str) -> bool:
    tokens = text.strip().lstrip("-–— ").split()
    return 0 < len(tokens) <= 3 and all(
        _NAME_TOKEN.match(token) and token[0].isupper() for token in tokens
    )


def _greeting(line: str) -> tuple[str, str] | None:
    """(the greeting as shown, the rest of the line) when `line` opens with one."""
    opening = next(_openings(line, _GREETINGS), None)
    if opening is None:
        return None
    names, mark, rest = _parts(_GREETING_REST, line[len(opening) :])
    written = " ".join(names.split())
    if len(written.split()) > 3 or (not mark and written and not _is_name(written)):
        return None  # "Morning meeting is moved" opens with a greeting word, but is none
    shown = written if written.casefold() in _GROUPS else "<name>" if written else ""
    return (f"{opening} {shown}" if shown else opening) + mark, rest.strip()


def _closing(line: str) -> tuple[str, bool] | None:
    """(the sign-off as shown, whether a name follows it on the line) for a closing line."""
    for phrase in _openings(line, _SIGN_OFFS):
        mark, name = _parts(_CLOSING_REST, line[len(phrase) :])
        if name and not _is_name(name):
            continue  # "Thanks for the update." is a sentence, not a sign-off
        return phrase + mark, bool(name)
    return None


def _sign_off(lines: list[str]) -> tuple[str, bool, int]:
    """(sign-off, name after it, lines it takes) at the end of a message's lines."""
    if lines and (closing := _closing(lines[-1])) is not None:
        return closing[0], closing[1], 1
    if len(lines) >= 2 and _is_name(lines[-1]):
        closing = _closing(lines[-2])
        if closing is not None and not closing[1]:
            return closing[0], True, 2
        if _OTHER_CLOSING.fullmatch(lines[-2]):  # "Onwards," and a name
            return lines[-2], True, 2
    return NONE, False, 0


def _phrases(body: str) -> frozenset[str]:
    """Sequences of 2–4 words within a clause; names, numbers and addresses break them."""
    found: set[str] = set()
    for sentence in _SENTENCE_END.split(body):
        run: list[str] = []
        runs = [run]
        for index, raw in enumerate(sentence.split()):
            bare = raw.strip(_EDGE_PUNCTUATION)
            word = bare.casefold().replace("’", "'")
            proper = index > 0 and bare[:1].isupper() and word not in _I_FORMS
            if proper or not _LETTERS.fullmatch(word):
                run = []
                runs.append(run)
                continue
            run.append(word)
            if raw.rstrip("\"')”’").endswith((",", ";", ":")):
                run = []
                runs.append(run)
        for words in runs:
            for size in PHRASE_WORDS:
                for start in range(len(words) - size + 1):
                    gram = words[start : start + size]
                    if any(word not in _STOPWORDS for word in gram):
                        found.add(" ".join(gram))
    return frozenset(found)


def _language(body: str) -> str | None:
    words = Counter(word.casefold() for word in _WORD.findall(body))
    hits = sorted(
        ((sum(words[w] for w in vocabulary), name) for name, vocabulary in _FUNCTION_WORDS.items()),
        reverse=True,
    )
    (best, name), (second, _) = hits[0], hits[1]
    return name if best >= 2 and best > second else None


def measure(text: str) -> MessageShape:
    """One message's own text, measured (see the module docstring)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    greeting = NONE
    if lines and (found := _greeting(lines[0])) is not None:
        greeting, rest = found
        lines = ([rest] if rest else []) + lines[1:]
    sign_off, name_after, taken = _sign_off(lines)
    body = "\n".join(lines[: len(lines) - taken])
    return MessageShape(
        greeting=greeting,
        sign_off=sign_off,
        name_after=name_after,
        words=len(_WORD.findall(body)),
        sentences=sum(1 for part in _SENTENCE_END.split(body) if _WORD.search(part)),
        contraction=_CONTRACTION.search(text) is not None,
        exclamation="!" in text,
        emoji=_EMOJI.search(text) is not None,
        language=_language(body),
        phrases=_phrases(body),
    )

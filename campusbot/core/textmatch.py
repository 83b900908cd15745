"""Tolerant reading of what learners type: case, umlauts or ae/oe/ue, small typos,
an option's number, letter or text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
_LETTERS = "abcdef"
MAX_INPUT_CHARS = 2000


def normalize(text: str) -> str:
    """Lower case, umlauts spelled out, accents and punctuation dropped, spaces collapsed."""
    text = text[:MAX_INPUT_CHARS].casefold().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_WORD.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Matched:
    index: int


@dataclass(frozen=True, slots=True)
class OutOfRange:
    number: int


@dataclass(frozen=True, slots=True)
class NoMatch:
    pass


MatchResult = Matched | OutOfRange | NoMatch


def match_option(text: str, labels: Sequence[str], *, loose: bool = True) -> MatchResult:
    """Find the option a learner meant by number ("2"), letter ("b") or text.

    ``loose`` also accepts the start of a label and small typos.
    """
    said = normalize(text)
    if not said:
        return NoMatch()
    if said.isdigit():
        number = int(said[:6])
        return Matched(number - 1) if 1 <= number <= len(labels) else OutOfRange(number)
    if len(said) == 1 and said in _LETTERS:
        position = _LETTERS.index(said)
        return Matched(position) if position < len(labels) else OutOfRange(position + 1)
    normalized = [normalize(label) for label in labels]
    if said in normalized:
        return Matched(normalized.index(said))
    if not loose:
        return NoMatch()
    # "OZG" for "Digitale Verwaltung und OZG", "KI" for "Künstliche Intelligenz".
    words = [label.split() for label in normalized]
    for candidates in (
        [i for i, ws in enumerate(words) if said in ws],
        [i for i, ws in enumerate(words) if len(ws) > 1 and said == "".join(w[0] for w in ws if len(w) > 3)],
    ):
        if len(said) >= 2 and len(candidates) == 1:
            return Matched(candidates[0])
    starts = [i for i, label in enumerate(normalized) if len(said) >= 3 and label.startswith(said)]
    if len(starts) == 1:
        return Matched(starts[0])
    if len(said) >= 3:
        best = process.extract(said, normalized, scorer=fuzz.ratio, limit=2, score_cutoff=80)
        # Two labels that both fit about as well are ambiguous: better to ask again.
        if best and (len(best) == 1 or best[0][1] - best[1][1] >= 5):
            return Matched(best[0][2])
    return NoMatch()


def match_many(text: str, labels: Sequence[str]) -> list[int] | OutOfRange | None:
    """Read several options at once: "1, 3", "1 und 3", "Sicherheit, KI"."""
    said = text[:MAX_INPUT_CHARS]
    parts = [p for p in re.split(r"[,;/+]|\s+und\s+|\s+and\s+|\s+", said) if normalize(p)]
    if len(parts) > 1 and not all(normalize(p).isdigit() or len(normalize(p)) == 1 for p in parts):
        # Text answers: split on separators only, keep multi-word labels together.
        parts = [p for p in re.split(r"[,;/+]|\s+und\s+|\s+and\s+", said) if normalize(p)]
    chosen: list[int] = []
    for part in parts:
        match part_result := match_option(part, labels):
            case Matched(index=index):
                if index not in chosen:
                    chosen.append(index)
            case OutOfRange():
                return part_result
            case NoMatch():
                return None
    return chosen or None


def matches_word(text: str, words: Sequence[str]) -> bool:
    """Is the whole text one of ``words`` (normalised), allowing a small typo in longer words?"""
    said = normalize(text)
    if not said:
        return False
    for word in words:
        if said == word:
            return True
        if len(word) >= 5 and abs(len(said) - len(word)) <= 1 and fuzz.ratio(said, word) >= 80:
            return True
    return False

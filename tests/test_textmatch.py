from __future__ import annotations

import pytest

from campusbot.core.textmatch import Matched, NoMatch, OutOfRange, match_many, match_option, matches_word, normalize

LABELS = ["Sachbearbeitung Bürgerservice", "Führungskraft", "IT-/Digitalisierungskoordination", "Beschäftigte allgemein"]


def test_normalize_spells_out_umlauts_and_drops_punctuation() -> None:
    assert normalize("  Führungs-Kraft!! ") == "fuehrungs kraft"
    assert normalize("Straße") == "strasse"
    assert normalize("Café") == "cafe"
    assert normalize("🙂") == ""


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("2", Matched(1)), ("2.", Matched(1)), ("b", Matched(1)), ("B)", Matched(1)),
        ("führungskraft", Matched(1)), ("FUEHRUNGSKRAFT", Matched(1)), ("Fuhrungskraft", Matched(1)),
        ("fuehrungskarft", Matched(1)), ("beschäftigte", Matched(3)), ("sachbearbeitung", Matched(0)),
        ("5", OutOfRange(5)), ("0", OutOfRange(0)), ("e", OutOfRange(5)),
        ("Bürgermeister", NoMatch()), ("", NoMatch()), ("xyz", NoMatch()),
    ],
)
def test_match_option(said: str, expected: object) -> None:
    assert match_option(said, LABELS) == expected


def test_abbreviations_and_single_words_find_their_option() -> None:
    topics = ["Digitale Verwaltung und OZG", "Informationssicherheit", "Künstliche Intelligenz", "Projekte und Prozesse"]
    assert match_option("KI", topics) == Matched(2)
    assert match_option("ozg", topics) == Matched(0)
    assert match_option("Prozesse", topics) == Matched(3)
    assert match_option("und", topics) == NoMatch()


def test_exact_matching_does_not_guess() -> None:
    assert match_option("fuehrung", LABELS, loose=False) == NoMatch()
    assert match_option("Führungskraft", LABELS, loose=False) == Matched(1)


def test_match_many_reads_lists_in_several_forms() -> None:
    assert match_many("1, 3", LABELS) == [0, 2]
    assert match_many("1 3", LABELS) == [0, 2]
    assert match_many("Führungskraft und Beschäftigte allgemein", LABELS) == [1, 3]
    assert match_many("1, 9", LABELS) == OutOfRange(9)
    assert match_many("1, Bürgermeister", LABELS) is None


def test_matches_word_allows_one_typo_in_longer_words() -> None:
    assert matches_word("Hilfee", ("hilfe",))
    assert matches_word("loeschen", ("loeschen",))
    assert not matches_word("plan b", ("plan",))
    assert not matches_word("hi", ("hilfe",))

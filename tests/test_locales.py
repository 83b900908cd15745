"""Every interface string the code uses has a German and an English translation."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import campusbot
from campusbot.content.models import LANGUAGES
from campusbot.i18n import GettextTexts

PACKAGE = Path(campusbot.__file__).parent
KEY = re.compile(r"^[a-z]+(\.[a-z_0-9]+)+$")
LOOKUPS = {"_say", "_t", "texts", "_texts"}


def keys_used_in_code() -> set[str]:
    keys: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name not in LOOKUPS:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and KEY.match(arg.value):
                    keys.add(arg.value)
                elif isinstance(arg, ast.JoinedStr):
                    # f"evaluation.rating.{n}": every catalogue key with that prefix counts as used
                    prefix = "".join(v.value for v in arg.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                    keys.add(prefix + "*")
    return keys


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_used_in_code_is_translated_in_every_language() -> None:
    texts = GettextTexts()
    used = keys_used_in_code()
    assert len(used) > 80
    for lang in LANGUAGES:
        available = texts.keys(lang)
        for key in used:
            if key.endswith("*"):
                assert any(k.startswith(key[:-1]) for k in available), f"no {lang} keys for {key}"
            else:
                assert key in available, f"{key!r} has no {lang} translation"
                assert texts(lang, key) if not placeholders(texts("de", key)) else True


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    texts = GettextTexts()
    assert texts.keys("de") == texts.keys("en")
    for key in texts.keys("de"):
        de = texts._catalogs["de"][key]
        en = texts._catalogs["en"][key]
        assert de.strip(), key
        assert en.strip(), key
        assert placeholders(de) == placeholders(en), key


def test_german_addresses_the_learner_formally() -> None:
    texts = GettextTexts()
    informal = re.compile(r"\b(du|dich|dir|dein\w*)\b", re.IGNORECASE)
    for key in texts.keys("de"):
        assert not informal.search(texts._catalogs["de"][key]), key


def test_no_catalogue_key_is_left_unused() -> None:
    used = keys_used_in_code()
    prefixes = tuple(k[:-1] for k in used if k.endswith("*"))
    unused = {k for k in GettextTexts().keys("de") if k not in used and not k.startswith(prefixes)}
    assert unused == set()

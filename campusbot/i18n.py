"""The bot's interface strings: gettext catalogues under ``locales/``, compiled at start.

Message ids are symbolic keys ("plan.title"); every language, German included,
translates them. A key missing from a catalogue is an error, not a silent
fallback to the key.
"""

from __future__ import annotations

import gettext
import io
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from campusbot.content.models import LANGUAGES
from campusbot.errors import ContentError

DOMAIN = "campusbot"


def default_locale_root() -> Path:
    """The shipped ``locales/``: next to the package in a checkout, else under ``<prefix>/share/campusbot``."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "locales", Path(sys.prefix) / "share" / "campusbot" / "locales"):
        if candidate.is_dir():
            return candidate
    return here.parent / "locales"


def compile_catalog(po_path: Path) -> gettext.GNUTranslations:
    """Compile a .po file into gettext translations in memory."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class GettextTexts:
    """Looks up interface strings by key and fills ``{name}`` placeholders."""

    def __init__(self, root: Path | None = None) -> None:
        root = root or default_locale_root()
        self._catalogs: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            po_path = root / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
            if not po_path.is_file():
                raise ContentError([f"{po_path}:1: missing message catalogue for {lang!r}"])
            translations = compile_catalog(po_path)
            # gettext keeps its messages in a plain dict; a copy makes lookups a dict access.
            messages: dict[str, str] = dict(getattr(translations, "_catalog"))  # noqa: B009
            self._catalogs[lang] = {k: v for k, v in messages.items() if isinstance(k, str) and k}

    def keys(self, lang: str) -> set[str]:
        return set(self._catalogs[lang])

    def __call__(self, lang: str, key: str, /, **values: object) -> str:
        catalog = self._catalogs.get(lang) or self._catalogs["de"]
        try:
            text = catalog[key]
        except KeyError:
            raise KeyError(f"interface string {key!r} has no {lang!r} translation") from None
        return text.format(**values) if values else text

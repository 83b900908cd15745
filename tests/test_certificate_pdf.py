"""The certificate PDF, read back with poppler's tools (poppler-utils) as a reader's viewer would."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import segno
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from campusbot.certificates import pdf
from campusbot.certificates.model import CertificateData, CertificateKind
from campusbot.certificates.pdf import render_pdf
from campusbot.i18n import GettextTexts

MM_PER_INCH = 25.4
URL = "https://campus.example.de/verify/0b7c3c1e-6a1f-4d38-9a55-0d6f0c1b2a3e"

COMPETENCES = {
    "de": (
        ("4.2", "Schutz personenbezogener Daten und der Privatsphäre"),
        ("2.6", "Umgang mit der digitalen Identität"),
    ),
    "en": (
        ("4.2", "Protecting personal data and privacy"),
        ("2.6", "Managing digital identity"),
    ),
}


TEXTS = GettextTexts()


def rendered(data: CertificateData) -> bytes:
    return render_pdf(data, TEXTS)


def certificate(kind: CertificateKind = "participation", lang: str = "de") -> CertificateData:
    return CertificateData(
        id="0b7c3c1e-6a1f-4d38-9a55-0d6f0c1b2a3e",
        kind=kind,
        lang=lang,
        learner_name="Dr. Erika Müller-Lüdenscheidt",
        module_id="datenschutz-basis",
        module_title="Datenschutz im Verwaltungsalltag – „Grundlagen“" if lang == "de" else "Data protection in everyday administration",
        module_summary="Sie verarbeiten personenbezogene Daten sicher und melden Datenpannen richtig."
        if lang == "de"
        else "You handle personal data safely and report data breaches correctly.",
        criteria="Alle Lerneinheiten bearbeitet." if lang == "de" else "All learning units completed.",
        issued_at=datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        hours=1.5,
        competences=COMPETENCES[lang],
        issuer_name="Kreisverwaltung Musterkreis",
        cooperative="Lerngenossenschaft Kommunal eG",
        next_due=date(2027, 11, 24) if kind == "mandatory" else None,
        verify_url=URL,
        short_code="K7QM-2XPA",
    )


# -- reading the PDF back ---------------------------------------------------------------------------


def poppler(tool: str, *args: str) -> str:
    assert shutil.which(tool), f"{tool} is missing: install poppler-utils"
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def write(tmp_path: Path, document: bytes) -> Path:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(document)
    return path


def text_of(path: Path) -> str:
    """The page's text with runs of white space (line breaks of wrapped text) made single spaces."""
    return " ".join(poppler("pdftotext", str(path), "-").split())


def page_count(path: Path) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", poppler("pdfinfo", str(path)), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


@dataclass(frozen=True, slots=True)
class Raster:
    """A greyscale rendering: ``pixels`` row by row, 0 black to 255 white."""

    width: int
    height: int
    dpi: int
    pixels: bytes

    def at(self, x: int, y: int) -> int:
        return self.pixels[y * self.width + x]

    def px(self, millimetres: float) -> int:
        return round(millimetres * self.dpi / MM_PER_INCH)

    def dark_share(self, left: int = 0, top: int = 0, right: int | None = None, bottom: int | None = None) -> float:
        right, bottom = right or self.width, bottom or self.height
        dark = total = 0
        for y in range(top, bottom):
            row = self.pixels[y * self.width + left : y * self.width + right]
            dark += sum(1 for value in row if value < 128)
            total += len(row)
        return dark / total


def rasterise(path: Path, dpi: int) -> Raster:
    # Greyscale PGM rather than PNG: its pixels can be read without an imaging library.
    poppler("pdftoppm", "-gray", "-r", str(dpi), "-singlefile", str(path), str(path.with_suffix("")))
    data = path.with_suffix(".pgm").read_bytes()
    # Header: "P5", width, height, maximum value, each followed by one white space character.
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P5"
    assert int(fields[3]) == 255
    width, height = int(fields[1]), int(fields[2])
    pixels = data[len(data) - width * height :]
    return Raster(width=width, height=height, dpi=dpi, pixels=pixels)


# -- tests --------------------------------------------------------------------------------------------

KINDS = [("participation", "de"), ("certificate", "de"), ("mandatory", "de"), ("mandatory", "en")]


@pytest.mark.parametrize(("kind", "lang"), KINDS)
def test_each_kind_renders_one_printed_a4_page(tmp_path: Path, kind: CertificateKind, lang: str) -> None:
    document = rendered(certificate(kind, lang))

    assert document.startswith(b"%PDF-")
    path = write(tmp_path, document)
    assert page_count(path) == 1
    assert "Page size:       595.276 x 841.89 pts (A4)" in poppler("pdfinfo", str(path))
    raster = rasterise(path, dpi=50)
    assert (raster.width, raster.height) == (414, 585)  # A4 at 50 dpi
    # Text, rules and the QR code: clearly something on the page, and a page that is mostly paper.
    assert 0.02 < raster.dark_share() < 0.25


def test_a_blank_page_would_fail_the_ink_check(tmp_path: Path) -> None:
    # The check above must be able to fail: a page with nothing on it has no dark pixels.
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.showPage()
    canvas.save()

    assert rasterise(write(tmp_path, buffer.getvalue()), dpi=50).dark_share() == 0


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("participation", "Teilnahmebestätigung"),
        ("certificate", "Zertifikat"),
        ("mandatory", "Bestätigung: Pflichtschulung abgeschlossen"),
    ],
)
def test_german_text_carries_every_fact_with_its_umlauts(tmp_path: Path, kind: CertificateKind, title: str) -> None:
    data = certificate(kind, "de")

    text = text_of(write(tmp_path, rendered(data)))

    for expected in (
        title,
        "Dr. Erika Müller-Lüdenscheidt",
        "Datenschutz im Verwaltungsalltag – „Grundlagen“",
        data.module_summary,
        "Datum: 24.11.2026",
        "1,5 Unterrichtseinheiten (UE)",
        "4.2 Schutz personenbezogener Daten und der Privatsphäre",
        "2.6 Umgang mit der digitalen Identität",
        "Prüfen Sie die Echtheit unter " + URL,
        "Prüfcode: K7QM-2XPA",
        "Kreisverwaltung Musterkreis",
        "Lerngenossenschaft Kommunal eG",
        "DigComp 2.2: Europäische Kommission, Gemeinsame Forschungsstelle (JRC), CC BY 4.0",
    ):
        assert expected in text
    assert ("Nächste Fälligkeit: 24.11.2027" in text) is (kind == "mandatory")


def test_english_text_uses_english_dates_numbers_and_labels(tmp_path: Path) -> None:
    text = text_of(write(tmp_path, rendered(certificate("mandatory", "en"))))

    for expected in (
        "Confirmation: mandatory training completed",
        "Dr. Erika Müller-Lüdenscheidt",
        "Data protection in everyday administration",
        "Date: 24 November 2026",
        "1.5 teaching units",
        "Next due: 24 November 2027",
        "4.2 Protecting personal data and privacy",
        "Verification code: K7QM-2XPA",
        URL,
        "DigComp 2.2: European Commission, Joint Research Centre (JRC), CC BY 4.0",
    ):
        assert expected in text
    assert "Unterrichtseinheiten" not in text


@pytest.mark.parametrize(("hours", "shown"), [(1, "1 Unterrichtseinheit (UE)"), (2, "2 Unterrichtseinheiten (UE)"), (2.25, "2,25 Unter")])
def test_hours_are_written_the_german_way(tmp_path: Path, hours: float, shown: str) -> None:
    text = text_of(write(tmp_path, rendered(replace(certificate(), hours=hours))))

    assert f"Umfang: {shown}" in text


def test_long_name_and_title_wrap_on_one_page_within_the_margins(tmp_path: Path) -> None:
    # 70 ß in a row are wider than the column: the name must break inside that "word" too.
    name = " ".join(["Maximiliane-Friederike Müller-Lüdenscheidt"] * 4)[:129] + " " + "ß" * 70
    title = "Datenschutz, Informationssicherheit und ordnungsgemäße Aktenführung im kommunalen Verwaltungsalltag " * 4
    assert len(name) == 200
    data = replace(
        certificate("mandatory"),
        learner_name=name,
        module_title=title.strip(),
        module_summary="Zusammenfassung. " * 40,
        criteria="Alle Lerneinheiten bearbeitet und die Abschlussprüfung bestanden. " * 4,
    )

    path = write(tmp_path, rendered(data))

    assert page_count(path) == 1
    squeezed = "".join(text_of(path).split())  # without the white space that wrapping adds or takes
    for expected in (name, title, data.criteria, "Prüfcode: K7QM-2XPA", URL, "Nächste Fälligkeit: 24.11.2027"):
        assert "".join(expected.split()) in squeezed
    raster = rasterise(path, dpi=50)
    # Nothing runs into the right margin (the content column ends 25 mm from the edge).
    assert raster.dark_share(left=raster.width - raster.px(22)) == 0


def test_every_font_is_embedded(tmp_path: Path) -> None:
    fonts = poppler("pdffonts", str(write(tmp_path, rendered(certificate("mandatory")))))

    rows = fonts.splitlines()[2:]
    assert rows, fonts
    # Columns: name, type, encoding, embedded, subset, unicode, object id, generation.
    assert all(row.split()[-5:-2] == ["yes", "yes", "yes"] for row in rows), fonts


def test_turkish_and_polish_names_render_in_the_shipped_font(tmp_path: Path) -> None:
    data = replace(certificate(), learner_name="Şahin Yılmaz-Łukasiewicz")

    path = write(tmp_path, rendered(data))

    assert "Şahin Yılmaz-Łukasiewicz" in text_of(path)
    assert "DejaVuSans" not in poppler("pdffonts", str(path))


def test_letters_beyond_the_shipped_font_render_with_dejavu_when_the_system_has_it(tmp_path: Path) -> None:
    # .ci/run installs fonts-dejavu-core; a machine without it fails here rather than skipping.
    assert pdf._dejavu() is not None, "DejaVu Sans is not installed (Debian: fonts-dejavu-core)"
    data = replace(certificate(), learner_name="Łukasz Wałęsa-Dvořák")

    path = write(tmp_path, rendered(data))

    assert "Łukasz Wałęsa-Dvořák" in text_of(path)
    assert "DejaVuSans" in poppler("pdffonts", str(path))


def test_letters_beyond_the_font_lose_their_accents_instead_of_vanishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "_dejavu", lambda: None)
    data = replace(certificate(), learner_name="Łukasz Wałęsa-Dvořák")

    text = text_of(write(tmp_path, rendered(data)))

    assert "Łukasz Wałesa-Dvorák" in text
    assert "Prüfen Sie die Echtheit" in text  # letters the font has stay as they are


def test_markup_in_content_is_drawn_as_text(tmp_path: Path) -> None:
    data = replace(certificate(), learner_name="Anna <b>Fett</b> & Co", module_title="A < B > C &amp; D")

    text = text_of(write(tmp_path, rendered(data)))

    assert "Anna <b>Fett</b> & Co" in text
    assert "A < B > C &amp; D" in text


def test_the_drawn_qr_code_has_exactly_the_modules_of_the_verify_url(tmp_path: Path) -> None:
    path = write(tmp_path, rendered(certificate()))
    raster = rasterise(path, dpi=200)

    # The QR code is the only ink in the left 40 mm of the content column between 25 mm and 75 mm
    # above the bottom edge; its finder patterns mark its corners.
    left, right = raster.px(20), raster.px(25 + 40)
    top, bottom = raster.height - raster.px(75), raster.height - raster.px(25)
    dark = [(x, y) for y in range(top, bottom) for x in range(left, right) if raster.at(x, y) < 128]
    assert dark, "no QR code drawn"
    x0, x1 = min(x for x, _ in dark), max(x for x, _ in dark) + 1
    y0, y1 = min(y for _, y in dark), max(y for _, y in dark) + 1
    assert abs((x1 - x0) - (y1 - y0)) <= 1
    assert x0 == pytest.approx(raster.px(25), abs=2)  # aligned with the text column

    expected = [list(row) for row in segno.make(URL, error="m", micro=False).matrix_iter(scale=1, border=0)]
    module = (x1 - x0) / len(expected)
    assert module > 4  # pixels per module: enough to sample the centres reliably
    drawn = [
        [raster.at(int(x0 + (i + 0.5) * module), int(y0 + (j + 0.5) * module)) < 128 for i in range(len(expected))]
        for j in range(len(expected))
    ]
    assert drawn == expected


def test_output_is_deterministic_and_dated_by_the_issue(tmp_path: Path) -> None:
    data = certificate("mandatory")

    first, second = rendered(data), rendered(data)

    assert first == second
    info = poppler("pdfinfo", "-isodates", str(write(tmp_path, first)))
    assert re.search(r"^CreationDate:\s+2026-11-24T10:30:00\+01(:00)?$", info, re.MULTILINE), info
    assert rendered(replace(data, learner_name="Max Mustermann")) != first


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="fr"):
        rendered(replace(certificate(), lang="fr"))

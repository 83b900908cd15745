"""A confirmation or certificate as a one-page A4 PDF, in the sober layout of a municipal document.

Every text is drawn as text in an embedded TrueType font. The font is Bitstream Vera, which ships
inside reportlab, so a machine needs no system fonts; its glyphs cover Latin-1, the German
typographic marks („ “ – …) and Turkish (Şahin Yılmaz), but not every Central European letter.
A name it cannot draw (Wałęsa, Dvořák) switches the whole document to DejaVu Sans, Vera's
extension with the same shapes, where the system has it; failing that, such letters lose their
accents rather than become empty boxes.

The output is deterministic: the PDF's dates come from ``issued_at``, its id from its content.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

import reportlab
import segno
from babel.dates import format_date
from babel.numbers import format_decimal
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame, KeepInFrame, Paragraph, Spacer, Table, TableStyle

from campusbot.certificates.model import CertificateData, CertificateKind
from campusbot.content.models import LANGUAGES
from campusbot.core.texts import Texts

__all__ = ["render_pdf"]

# -- texts ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Texts:
    titles: dict[CertificateKind, str]
    certify: str
    outcome: dict[CertificateKind, str]
    date: str
    scope: str
    unit: tuple[str, str]  # singular, plural
    criteria: str
    next_due: str
    competences: str
    issued_by: str
    verify: str
    code: str
    attribution: str
    date_pattern: str


KINDS: Final = ("participation", "certificate", "mandatory")


def _texts_for(texts: Texts, data: CertificateData) -> _Texts:
    """The page's texts in ``data.lang``, from the interface catalogue (locales/)."""
    lang = data.lang
    return _Texts(
        titles={kind: texts(lang, f"pdf.title.{kind}") for kind in KINDS},
        certify=texts(lang, "pdf.certify"),
        outcome={kind: texts(lang, f"pdf.outcome.{kind}") for kind in KINDS},
        date=texts(lang, "pdf.date"),
        scope=texts(lang, "pdf.scope"),
        unit=(texts(lang, "pdf.unit.one"), texts(lang, "pdf.unit.other")),
        criteria=texts(lang, "pdf.criteria"),
        next_due=texts(lang, "pdf.next_due"),
        competences=texts(lang, "pdf.competences"),
        issued_by=texts(lang, "pdf.issued_by", issuer=data.issuer_name, cooperative=data.cooperative),
        verify=texts(lang, "pdf.verify"),
        code=texts(lang, "pdf.code"),
        attribution=texts(lang, "pdf.attribution"),
        date_pattern=texts(lang, "pdf.date_pattern"),
    )


# -- fonts ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FontPair:
    regular: str
    bold: str
    covers: frozenset[int]  # the code points both faces can draw


_VERA_DIR: Final = Path(reportlab.__file__).parent / "fonts"
# Where distributions put DejaVu Sans (Debian's fonts-dejavu-core comes with fontconfig, so with poppler-utils).
_DEJAVU_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/dejavu"),
)
# Letters with a stroke have no Unicode decomposition; the rest lose their accents through NFKD.
_STROKED: Final = str.maketrans({"ı": "i", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "Ħ": "H", "ŀ": "l", "Ŀ": "L"})


def _register(name: str, regular: Path, bold: Path) -> _FontPair:
    faces = [TTFont(name, str(regular)), TTFont(f"{name}-Bold", str(bold))]
    for face in faces:
        pdfmetrics.registerFont(face)
    pdfmetrics.registerFontFamily(name, normal=name, bold=f"{name}-Bold", italic=name, boldItalic=f"{name}-Bold")
    covered = [frozenset(face.face.charToGlyph) for face in faces]
    return _FontPair(regular=name, bold=f"{name}-Bold", covers=covered[0] & covered[1])


@cache
def _vera() -> _FontPair:
    return _register("CampusbotVera", _VERA_DIR / "Vera.ttf", _VERA_DIR / "VeraBd.ttf")


@cache
def _dejavu() -> _FontPair | None:
    for folder in _DEJAVU_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return _register("CampusbotDejaVu", regular, bold)
    return None


def _uncovered(texts: Iterable[str], fonts: _FontPair) -> set[str]:
    return {c for text in texts for c in text if c.isprintable() and ord(c) not in fonts.covers}


def _choose_fonts(texts: list[str]) -> _FontPair:
    vera = _vera()
    if not _uncovered(texts, vera):
        return vera
    dejavu = _dejavu()
    if dejavu is not None and len(_uncovered(texts, dejavu)) < len(_uncovered(texts, vera)):
        return dejavu
    return vera


def _drawable(text: str, fonts: _FontPair) -> str:
    """``text`` with what the font cannot draw replaced by its base letter, or dropped."""
    if not _uncovered([text], fonts):
        return text
    out: list[str] = []
    for char in text:
        if ord(char) in fonts.covers or not char.isprintable():
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char.translate(_STROKED))
        out.append("".join(c for c in plain if ord(c) in fonts.covers and not unicodedata.combining(c)) or "?")
    return "".join(out)


# -- flowables and text ------------------------------------------------------------------------------


class _QrCode(Flowable):
    """The QR code of ``url`` as vector squares, ``size`` wide; the quiet zone is the caller's white space."""

    def __init__(self, url: str, size: float) -> None:
        super().__init__()
        self._qr = segno.make(url, error="m", micro=False)
        self._size = size

    def quiet_zone(self) -> float:
        """The four modules of white space that ISO/IEC 18004 asks for around the symbol."""
        return 4 * self._size / self._qr.symbol_size(scale=1, border=0)[0]

    def wrap(self, aW: float, aH: float) -> tuple[float, float]:
        return self._size, self._size

    def draw(self) -> None:
        rows = [list(row) for row in self._qr.matrix_iter(scale=1, border=0)]
        module = self._size / len(rows)
        path = self.canv.beginPath()
        for y, row in enumerate(rows):
            x = 0
            while x < len(row):
                if not row[x]:
                    x += 1
                    continue
                start = x
                while x < len(row) and row[x]:
                    x += 1
                # One rectangle per run of dark modules; one filled path leaves no seams between them.
                path.rect(start * module, self._size - (y + 1) * module, (x - start) * module, module)
        self.canv.setFillColor(colors.black)
        self.canv.drawPath(path, stroke=0, fill=1)


class _Text:
    """Escapes content for reportlab's paragraph markup and keeps it within the font's glyphs."""

    def __init__(self, fonts: _FontPair) -> None:
        self._fonts = fonts

    def __call__(self, content: str) -> str:
        return escape(_drawable(" ".join(content.split()), self._fonts))


# -- layout ---------------------------------------------------------------------------------------

_PAGE_WIDTH, _PAGE_HEIGHT = A4
_MARGIN_X: Final = 25 * mm
_MARGIN_TOP: Final = 22 * mm
_CONTENT_WIDTH: Final = _PAGE_WIDTH - 2 * _MARGIN_X
_HEADER_HEIGHT: Final = 14 * mm  # issuer and cooperative
_FOOTER_Y: Final = 14 * mm  # baseline of the attribution
_VERIFY_HEIGHT: Final = 38 * mm  # the QR code block above the footer
_VERIFY_Y: Final = _FOOTER_Y + 8 * mm
_QR_SIZE: Final = 34 * mm
_GREY: Final = colors.Color(0.35, 0.35, 0.35)
_RULE: Final = colors.Color(0.6, 0.6, 0.6)


@dataclass(frozen=True, slots=True)
class _Styles:
    letterhead: ParagraphStyle
    letterhead_small: ParagraphStyle
    title: ParagraphStyle
    body: ParagraphStyle
    name: ParagraphStyle
    module: ParagraphStyle
    label: ParagraphStyle
    heading: ParagraphStyle
    competence: ParagraphStyle
    small: ParagraphStyle


def _styles(fonts: _FontPair) -> _Styles:
    base = ParagraphStyle("base", fontName=fonts.regular, fontSize=10.5, leading=14.5, textColor=colors.black)

    def style(name: str, **overrides: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **overrides)

    return _Styles(
        letterhead=style("letterhead", fontName=fonts.bold, fontSize=12.5, leading=16),
        letterhead_small=style("letterhead_small", fontSize=9, leading=12, textColor=_GREY),
        title=style("title", fontName=fonts.bold, fontSize=21, leading=26, spaceAfter=9 * mm),
        body=style("body"),
        name=style("name", fontName=fonts.bold, fontSize=18, leading=23, spaceBefore=2.5 * mm, spaceAfter=2.5 * mm),
        module=style("module", fontName=fonts.bold, fontSize=13, leading=17, spaceBefore=3 * mm, spaceAfter=1.5 * mm),
        label=style("label", textColor=_GREY),
        heading=style("heading", fontName=fonts.bold, fontSize=10.5, spaceBefore=6 * mm, spaceAfter=1.5 * mm),
        competence=style("competence", leftIndent=12 * mm, bulletIndent=0, bulletFontName=fonts.regular, spaceAfter=1 * mm),
        small=style("small", fontSize=8.5, leading=11.5, textColor=_GREY),
    )


def _hours(hours: float, lang: str, texts: _Texts) -> str:
    amount = format_decimal(hours, format="#,##0.##", locale=lang)
    return f"{amount} {texts.unit[0] if hours == 1 else texts.unit[1]}"


def _day(day: date, texts: _Texts, lang: str) -> str:
    return format_date(day, texts.date_pattern, locale=lang)


def _pdf_date(moment: datetime) -> str:
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"D:{moment:%Y%m%d%H%M%S}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def _main_story(data: CertificateData, texts: _Texts, styles: _Styles, text: _Text) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph(text(texts.titles[data.kind]), styles.title),
        Paragraph(text(texts.certify), styles.body),
        Paragraph(text(data.learner_name), styles.name),
        Paragraph(text(texts.outcome[data.kind]), styles.body),
        Paragraph(text(data.module_title), styles.module),
    ]
    if data.module_summary.strip():
        story.append(Paragraph(text(data.module_summary), styles.body))

    rows: list[tuple[str, str]] = [(texts.date, _day(data.issued_at.date(), texts, data.lang))]
    if data.hours > 0:
        rows.append((texts.scope, _hours(data.hours, data.lang, texts)))
    if data.criteria.strip():
        rows.append((texts.criteria, data.criteria))
    if data.kind == "mandatory" and data.next_due is not None:
        rows.append((texts.next_due, _day(data.next_due, texts, data.lang)))
    label_width = 42 * mm
    details = Table(
        [[Paragraph(text(label), styles.label), Paragraph(text(value), styles.body)] for label, value in rows],
        colWidths=[label_width, _CONTENT_WIDTH - label_width],
        hAlign="LEFT",
    )
    details.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.body.fontName),  # else reportlab references Helvetica
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    story += [Spacer(0, 6 * mm), details]

    if data.competences:
        story.append(Paragraph(text(texts.competences), styles.heading))
        story += [Paragraph(text(title), styles.competence, bulletText=text(code)) for code, title in data.competences]

    story += [
        Spacer(0, 6 * mm),
        Paragraph(text(texts.issued_by), styles.body),
    ]
    return story


def _letterhead(data: CertificateData, styles: _Styles, text: _Text) -> list[Flowable]:
    return [Paragraph(text(data.issuer_name), styles.letterhead), Paragraph(text(data.cooperative), styles.letterhead_small)]


def _verify_block(data: CertificateData, texts: _Texts, styles: _Styles, text: _Text) -> Flowable:
    code_style = ParagraphStyle("code", parent=styles.small, fontName=styles.heading.fontName, textColor=colors.black)
    lines = [
        Paragraph(text(texts.verify), styles.small),
        Paragraph(text(data.verify_url), styles.small),
        Spacer(0, 2 * mm),
        Paragraph(f"{text(texts.code)} {text(data.short_code)}", code_style),
    ]
    qr = _QrCode(data.verify_url, _QR_SIZE)
    gap = max(6 * mm, qr.quiet_zone())
    block = Table([[qr, lines]], colWidths=[_QR_SIZE + gap, _CONTENT_WIDTH - _QR_SIZE - gap], hAlign="LEFT")
    block.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.body.fontName),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return block


def _place(canvas: Canvas, story: list[Flowable], bottom: float, height: float, valign: str) -> None:
    """Draws ``story`` into the content column between ``bottom`` and ``bottom + height``, shrunk to fit."""
    frame = Frame(_MARGIN_X, bottom, _CONTENT_WIDTH, height, 0, 0, 0, 0, showBoundary=0)
    frame.addFromList([KeepInFrame(frame.width, frame.height, story, mode="shrink", vAlign=valign)], canvas)


def _rule(canvas: Canvas, y: float) -> None:
    canvas.setStrokeColor(_RULE)
    canvas.setLineWidth(0.5)
    canvas.line(_MARGIN_X, y, _PAGE_WIDTH - _MARGIN_X, y)


def render_pdf(data: CertificateData, catalogue: Texts) -> bytes:
    """One A4 page confirming ``data``, in ``data.lang``.

    The date shown is ``issued_at``'s calendar day in its own time zone: pass it in the
    municipality's zone. Text that would not fit is set smaller, never on a second page.
    Rendering takes some milliseconds of CPU; call it from a worker thread in async code.
    """
    if data.lang not in LANGUAGES:
        raise ValueError(f"no certificate texts for language {data.lang!r}")
    texts = _texts_for(catalogue, data)
    all_text = [
        data.learner_name,
        data.module_title,
        data.module_summary,
        data.criteria,
        data.issuer_name,
        data.cooperative,
        data.verify_url,
        data.short_code,
        *(part for competence in data.competences for part in competence),
    ]
    fonts = _choose_fonts(all_text)
    styles = _styles(fonts)
    text = _Text(fonts)

    buffer = io.BytesIO()
    # Without an initial font the page would reference Helvetica, unembedded. (types-reportlab types it as float.)
    canvas = Canvas(buffer, pagesize=A4, invariant=True, lang=data.lang, initialFontName=fonts.regular)  # type: ignore[arg-type]
    created = _pdf_date(data.issued_at)
    canvas.setDateFormatter(lambda *_: created)
    canvas.setTitle(f"{texts.titles[data.kind]} – {data.learner_name} – {data.module_title}")
    canvas.setAuthor(data.issuer_name)
    canvas.setSubject(data.module_title)
    canvas.setCreator("campusbot")
    canvas.setProducer("campusbot")

    # Letterhead, verification block and attribution keep their places; the content between them
    # is set smaller when it does not fit its frame, rather than flowing onto a second page.
    header_bottom = _PAGE_HEIGHT - _MARGIN_TOP - _HEADER_HEIGHT
    _place(canvas, _letterhead(data, styles, text), header_bottom, _HEADER_HEIGHT, "TOP")
    _rule(canvas, header_bottom)
    body_bottom = _VERIFY_Y + _VERIFY_HEIGHT + 4 * mm
    body_top = header_bottom - 18 * mm
    _place(canvas, _main_story(data, texts, styles, text), body_bottom, body_top - body_bottom, "TOP")
    _place(canvas, [_verify_block(data, texts, styles, text)], _VERIFY_Y, _VERIFY_HEIGHT, "MIDDLE")

    _rule(canvas, _FOOTER_Y + 4 * mm)
    canvas.setFont(fonts.regular, 7.5)
    canvas.setFillColor(_GREY)
    canvas.drawString(_MARGIN_X, _FOOTER_Y, _drawable(texts.attribution, fonts))

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()

"""Drawing a privacy waybill as a PDF: a 100 x 150 mm thermal label (the common e-waybill size).

Every variable text on the label comes from a :class:`WaybillPayload` that passed
:func:`require_compliant` here, just before drawing; the only other text is the fixed captions
below. Chinese is set in ReportLab's built-in CID font STSong-Light (PDF viewers supply the
glyphs), so no font file ships or is downloaded; the QR code is ReportLab's own widget.

PNG is not offered: ReportLab's bitmap renderer needs extra native packages (rlPyCairo or
FreeType), and thermal printers and browsers take PDF.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from privguard.sharing.waybill_rules import WaybillPayload, require_compliant

PAGE_WIDTH = 100 * mm
PAGE_HEIGHT = 150 * mm
MARGIN = 4 * mm
QR_SIZE = 36 * mm
CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"

# The fixed captions; deliberately free of digits, so a test can tell that every digit on a
# label is the order id or the shown part of the phone number.
CAPTION_ORDER = "订单 Order"
CAPTION_RECIPIENT = "收件人 To"
CAPTION_SENDER = "寄件人 From"
CAPTION_RELAY = "（转接号码 relay number）"
CAPTION_SCAN = (
    "派件员请用派件 App 扫码查看完整地址。Courier: scan with the delivery app for the full address."
)
CAPTION_PRIVACY = (
    "依快递电子运单国家标准隐去部分收件信息。"
    "Recipient details partly hidden as the national express-waybill standard requires."
)


@cache
def _font() -> str:
    """Register the CID font once per process (registration is global in ReportLab)."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _style(size: float, *, leading: float | None = None) -> ParagraphStyle:
    return ParagraphStyle(
        f"waybill-{size}",
        fontName=_font(),
        fontSize=size,
        leading=leading or size * 1.25,
        wordWrap="CJK",  # break anywhere: Chinese has no spaces, masked names are one "word"
    )


class _Column:
    """Draws paragraphs top-down in one column and remembers where it got to."""

    def __init__(self, canvas: Canvas, x: float, top: float, width: float) -> None:
        self.canvas, self.x, self.y, self.width = canvas, x, top, width

    def text(self, value: str, size: float, *, gap: float = 1 * mm) -> None:
        para = Paragraph(escape(value), _style(size))
        _, height = para.wrap(self.width, self.y)
        para.drawOn(self.canvas, self.x, self.y - height)
        self.y -= height + gap

    def rule(self, gap: float = 2 * mm) -> None:
        self.canvas.setLineWidth(0.8)
        self.canvas.line(MARGIN, self.y, PAGE_WIDTH - MARGIN, self.y)
        self.y -= gap


def _qr(canvas: Canvas, token: str, x: float, y: float) -> None:
    widget = QrCodeWidget(token, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        QR_SIZE,
        QR_SIZE,
        transform=[QR_SIZE / (right - left), 0, 0, QR_SIZE / (top - bottom), 0, 0],
    )
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def render_pdf(payload: WaybillPayload) -> bytes:
    """The label as PDF bytes. Raises ``WaybillNonCompliant`` rather than draw a label that
    breaks GB/T 41833-2022."""
    require_compliant(payload)
    out = BytesIO()
    # invariant: no creation time or random document id, so one payload gives one file.
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), invariant=True)
    # Metadata names no person: a PDF's properties are easy to overlook and hard to redact.
    canvas.setTitle("Waybill")
    canvas.setAuthor("privguard")
    canvas.setCreator("privguard")
    canvas.setSubject("")

    col = _Column(canvas, MARGIN, PAGE_HEIGHT - MARGIN, PAGE_WIDTH - 2 * MARGIN)
    col.text(payload.carrier_name, 16, gap=1.5 * mm)
    col.text(CAPTION_ORDER, 7, gap=0.5 * mm)
    canvas.setFont(LATIN_FONT, 8)
    canvas.drawString(MARGIN, col.y - 8, str(payload.order_id))
    col.y -= 8 + 2 * mm
    col.rule()

    col.text(CAPTION_RECIPIENT, 8)
    col.text(payload.recipient_name, 15)
    col.text(payload.recipient_phone, 15, gap=0.5 * mm)
    if payload.phone_is_relay:
        col.text(CAPTION_RELAY, 8)
    col.text(payload.recipient_address, 12, gap=2 * mm)
    col.rule()

    col.text(CAPTION_SENDER, 8)
    col.text(payload.sender_name, 10)
    if payload.return_address:
        col.text(payload.return_address, 9)

    _qr(canvas, payload.qr_token, MARGIN, MARGIN)
    side = _Column(
        canvas, MARGIN + QR_SIZE + 3 * mm, MARGIN + QR_SIZE, PAGE_WIDTH - 2 * MARGIN - QR_SIZE
    )
    side.width -= 3 * mm
    side.text(CAPTION_SCAN, 8, gap=2 * mm)
    side.text(CAPTION_PRIVACY, 7)
    canvas.showPage()
    canvas.save()
    return out.getvalue()

"""A self-contained HTML report that opens from disk and mails as one file.

One HTML page, every image inlined as a data URI: it opens from disk, with no server and no
files beside it, and can be mailed or archived as one file.
"""

import base64
import html
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def spread(items: list[T], count: int) -> list[T]:
    """``count`` items evenly spaced through the list (the whole session, not its first minutes)."""
    if len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


@dataclass(frozen=True)
class Thumbnail:
    """One micrograph's picture on the page, with its caption."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class ReportPage:
    """What the report page shows: summary rows, figures and thumbnails."""

    title: str
    summary: list[tuple[str, str]]  # (label, value) rows
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG)
    thumbnails: list[Thumbnail] = field(default_factory=list)
    colorbar_png: bytes | None = None
    notes: list[str] = field(default_factory=list)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table.summary td { padding: 2px 14px 2px 0; } table.summary td:first-child { color: #555; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figures figure, .grid figure { margin: 0; background: white; border: 1px solid #ddd; padding: 6px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 10px; }
.grid img { width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; margin-top: 4px; word-break: break-all; }
.note { color: #555; font-size: 0.9em; }
"""

#: marks how many images decoded, so a headless browser (and a test) can tell the page rendered
_LOAD_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-total", String(images.length));
  document.body.setAttribute("data-images-decoded", String(decoded));
});
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def render(page: ReportPage) -> str:
    """The page as one HTML document, images inlined."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(page.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(page.title)}</h1>", '<table class="summary">',
    ]
    parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in page.summary]
    parts.append("</table>")
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in page.notes]
    if page.figures:
        parts.append('<h2>Scores and counts</h2><div class="figures">')
        parts += [f"<figure>{_img(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
                  for caption, png in page.figures]
        parts.append("</div>")
    if page.thumbnails:
        parts.append("<h2>Micrographs</h2>")
        if page.colorbar_png is not None:
            parts.append(_img(page.colorbar_png, "colour scale of pick scores"))
        parts.append('<div class="grid">')
        parts += [f'<figure id="mic-{html.escape(t.name)}">{_img(t.png, t.name)}'
                  f"<figcaption>{html.escape(t.caption)}</figcaption></figure>" for t in page.thumbnails]
        parts.append("</div>")
    parts.append(f"<script>{_LOAD_CHECK}</script></body></html>")
    return "\n".join(parts) + "\n"

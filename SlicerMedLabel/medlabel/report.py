"""A small self-contained HTML report (title, sections with text, tables and pictures)."""

from __future__ import annotations

import datetime as _dt
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .io import atomic_write


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, object]] = field(default_factory=list)  # (caption, DataFrame)
    images: list[tuple[str, Path]] = field(default_factory=list)  # (caption, path)


@dataclass
class Report:
    """Collect sections, then :meth:`write` one HTML file whose pictures are relative links."""

    title: str
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        s = Section(title)
        self.sections.append(s)
        return s

    def to_html(self, base: Path) -> str:
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
                 "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
                 "th{background:#eee}img{max-width:100%;border:1px solid #ddd}"
                 "figcaption,caption{font-size:12px;color:#555}</style></head><body>",
                 f"<h1>{html.escape(self.title)}</h1>",
                 f"<p>medlabel {__version__}, written {_dt.datetime.now().isoformat(timespec='seconds')}</p>"]
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s.title)}</h2>")
            parts += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
            for caption, df in s.tables:
                table = df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
                cut = table.index(">") + 1
                parts.append(f"{table[:cut]}<caption>{html.escape(caption)}</caption>{table[cut:]}")
            for caption, img in s.images:
                rel = os.path.relpath(img, base)
                parts.append(f"<figure><img src='{html.escape(rel)}'><figcaption>{html.escape(caption)}"
                             "</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, path: str | Path, force: bool = False) -> Path:
        path = Path(path)
        text = self.to_html(path.parent)
        with atomic_write(path, force) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

#!/usr/bin/env python3
"""Checks the links of the documentation: README.md, ARCHITECTURE.md and the
book's pages under docs/src/.

Fails (exit 1), naming the file, the line and the link, when
  - a relative link points to a file that does not exist, or to a `#anchor`
    that no heading of the target has (GitHub's slugs: lowercase,
    punctuation other than '-' and '_' dropped, spaces as '-');
  - a page under docs/src/ is not listed in docs/src/SUMMARY.md, or
    SUMMARY.md lists a page that does not exist.
Links to other sites (http:, https:, mailto:) are not fetched.

Usage: scripts/check-docs.py [REPOSITORY ROOT]   (default: this script's ..)
Python 3 standard library only.
"""

import re
import sys
from pathlib import Path

LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target><[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(?P<target>\S+)", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
HTML_ID = re.compile(r"<a\s+[^>]*(?:id|name)=\"(?P<id>[^\"]+)\"")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def blank_code(text):
    """The text with fenced code blocks and inline code spans blanked out
    (newlines kept, so line numbers stay right)."""
    out = []
    fenced = None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fenced:
            if m and m.group(1) == fenced:
                fenced = None
            out.append("")
            continue
        if m:
            fenced = m.group(1)
            out.append("")
            continue
        out.append(line)
    text = "\n".join(out)

    def blank(m):
        return "".join(c if c == "\n" else " " for c in m.group(0))

    # A code span may run over a line break, not over a blank line.
    return re.sub(r"(`+)(?:(?!\n\s*\n).)+?\1", blank, text, flags=re.DOTALL)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # punctuation but '-' and '_'
    return text.replace(" ", "-")


def anchors(path, cache={}):
    """Every anchor a Markdown file defines."""
    if path not in cache:
        seen = {}
        found = set()
        for line in blank_code(path.read_text(encoding="utf-8")).split("\n"):
            for m in HTML_ID.finditer(line):
                found.add(m.group("id"))
            m = HEADING.match(line)
            if not m:
                continue
            base = slug(m.group("text"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
        cache[path] = found
    return cache[path]


def links(path):
    """(line number, target) of every link in a Markdown file."""
    text = blank_code(path.read_text(encoding="utf-8"))
    for m in LINK.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group("target").strip("<>")
    for m in REFERENCE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group("target").strip("<>")


def check_link(root, page, line, target):
    """The problem with one link, or None."""
    if not target or EXTERNAL.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    path_part = path_part.split("?", 1)[0]
    if path_part:
        if path_part.startswith("/"):
            dest = root / path_part.lstrip("/")
        else:
            dest = page.parent / path_part
        dest = dest.resolve()
        if not dest.exists():
            return f"{target}: no such file ({dest.relative_to(root) if dest.is_relative_to(root) else dest})"
    else:
        dest = page
    if anchor and dest.is_file() and dest.suffix == ".md":
        if anchor not in anchors(dest):
            return f"{target}: no heading with anchor #{anchor} in {dest.relative_to(root)}"
    return None


def summary_pages(summary):
    """The pages SUMMARY.md lists, with their line numbers."""
    for line, target in links(summary):
        if target and not EXTERNAL.match(target):
            yield line, target.partition("#")[0]


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "..").resolve()
    src = root / "docs" / "src"
    summary = src / "SUMMARY.md"
    pages = [root / "README.md", root / "ARCHITECTURE.md"]
    pages += sorted(src.rglob("*.md"))
    problems = []

    for page in pages:
        if not page.exists():
            problems.append(f"{page.relative_to(root)}: missing")
            continue
        for line, target in links(page):
            problem = check_link(root, page, line, target)
            if problem:
                problems.append(f"{page.relative_to(root)}:{line}: {problem}")

    if not summary.exists():
        problems.append(f"{summary.relative_to(root)}: missing")
    else:
        listed = set()
        for line, target in summary_pages(summary):
            page = (src / target).resolve()
            listed.add(page)
            if not page.is_file():
                problems.append(f"{summary.relative_to(root)}:{line}: {target}: listed, but no such page")
        for page in sorted(src.rglob("*.md")):
            if page.resolve() != summary.resolve() and page.resolve() not in listed:
                problems.append(f"{page.relative_to(root)}: not listed in {summary.relative_to(root)}")

    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the documentation's links", file=sys.stderr)
        return 1
    print(f"docs: {len(pages)} pages, every link and SUMMARY.md entry checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())

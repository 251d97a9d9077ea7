#!/usr/bin/env python3
"""Counts the public items a crate's rustdoc shows.

Usage: scripts/public-items.py target/doc/tmpnet_fixture

Counts one per module, struct, enum, trait, function, macro, constant,
type alias and static page, and one per inherent method, enum variant and
public field on those pages (items a reader of the docs meets). Items
marked #[doc(hidden)] have no page, so they are not counted. Trait
implementations (Debug, Clone, ...) are not counted. Prints the total and
the count per kind.
"""

import collections
import pathlib
import re
import sys

PAGE = re.compile(r"^(struct|enum|trait|fn|macro|constant|type|static|union|derive|attr)\.")
MEMBER = re.compile(r'id="(method|tymethod|variant|structfield)\.[A-Za-z0-9_]+"')
# Where a page's trait implementations begin; members after it are not the
# item's own.
TRAIT_IMPLS = re.compile(r'id="(trait-implementations|synthetic-implementations|blanket-implementations)"')


def count(doc: pathlib.Path) -> collections.Counter:
    found = collections.Counter()
    for page in doc.rglob("*.html"):
        if page.name == "index.html":
            found["module"] += 1
            continue
        kind = PAGE.match(page.name)
        if not kind:
            continue
        found[kind.group(1)] += 1
        html = page.read_text(encoding="utf-8", errors="replace")
        cut = TRAIT_IMPLS.search(html)
        own = html[: cut.start()] if cut else html
        for member in MEMBER.finditer(own):
            found[member.group(1)] += 1
    return found


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: scripts/public-items.py <rustdoc output of one crate, e.g. target/doc/tmpnet_fixture>", file=sys.stderr)
        return 1
    doc = pathlib.Path(sys.argv[1])
    if not (doc / "index.html").is_file():
        print(f"error: {doc} holds no rustdoc output; run `cargo doc --no-deps -p <crate>` first", file=sys.stderr)
        return 1
    found = count(doc)
    print(f"total {sum(found.values())}")
    for kind, n in sorted(found.items(), key=lambda kv: -kv[1]):
        print(f"{kind} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

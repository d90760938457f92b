"""The README and docs/ link to each other, to figures and to files by relative paths, and to
sections by #anchors. A section that moves or a figure that is renamed breaks a link without
a sound; these tests find it: every relative link and image names an existing file, every
anchor a heading of the file it points into, and the README's index reaches every docs page.
"""

import re
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
PAGES = [CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target "title")
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def prose(page):
    """A page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def links(page):
    """The targets of a page's Markdown links and images, in order (in inline code: text)."""
    return [target for line in prose(page) for target in LINK.findall(re.sub(r"`[^`]*`", "", line))]


def slug(heading):
    """GitHub's anchor for a heading: lowercase, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    """Every anchor a page's headings give, repeated headings numbered as GitHub does."""
    seen = {}
    for line in prose(page):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            seen[base] = seen.get(base, -1) + 1
            yield base if seen[base] == 0 else f"{base}-{seen[base]}"


def broken_links(page):
    """'target: why' for every relative link of a page that leads nowhere."""
    broken = []
    for target in links(page):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in set(anchors(file)):
            broken.append(f"{target}: no heading in {file.name} has the anchor #{anchor}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(CHECKOUT).as_posix())
def test_every_relative_link_and_image_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Time to faces\n\n"
                                       "## FID, KID: the `default_1.pt` weights\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#time-to-faces) [ok](other.md#fid-kid-the-default_1pt-weights)\n"
                    "[gone](figures/gone.png) [wrong](other.md#time-to-face) "
                    "[self](#nowhere) `[code](not/a/link.png)`\n\n```\n[code](nor/this.png)\n```\n")
    assert broken_links(page) == [
        "figures/gone.png: no such file",
        "other.md#time-to-face: no heading in other.md has the anchor #time-to-face",
        "#nowhere: no heading in page.md has the anchor #nowhere"]


def test_the_readme_indexes_every_docs_page():
    indexed = {(CHECKOUT / target.partition("#")[0]).resolve()
               for target in links(CHECKOUT / "README.md") if target.startswith("docs/")}
    unlisted = [page.name for page in PAGES[1:] if page.resolve() not in indexed]
    assert unlisted == [], f"docs pages the README does not link to: {unlisted}"

"""Make every mention of an exercise notebook a download link.

The chapters name their graded notebooks in the text, for example
``exercises/04_lstm.ipynb``. This transform turns each such name (in inline
code or in plain text) into a Sphinx download reference, so the site ships
the student notebooks under ``_downloads/`` and a reader can fetch the one
a chapter talks about from the page itself. A name that does not exist in
``exercises/`` is left as it is and reported, so a renamed exercise shows up
as a build warning (the build runs with -W).
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

NAME = re.compile(r"exercises/\d\d_[a-z0-9_]+\.ipynb")
# Text inside these is left alone: code blocks, links, and earlier downloads.
SKIP = (nodes.literal_block, nodes.reference, addnodes.download_reference, nodes.raw,
        nodes.title)


def _download(name: str, docname: str, inline_code: bool) -> addnodes.download_reference:
    label = nodes.literal(name, name) if inline_code else nodes.Text(name)
    return addnodes.download_reference("", "", label, refdoc=docname, reftarget="/" + name,
                                       refexplicit=True, refdomain="", reftype="download")


class ExerciseLinks(SphinxTransform):
    # Before the environment collects the download references of the page.
    default_priority = 500

    def apply(self, **kwargs) -> None:
        exercises = Path(self.app.srcdir) / "exercises"
        docname = self.env.docname

        def known(name: str, node) -> bool:
            if (exercises.parent / name).is_file():
                return True
            logger.warning(f"{name} is named here but there is no such exercise notebook",
                           location=node)
            return False

        for literal in list(self.document.findall(nodes.literal)):
            text = literal.astext()
            if NAME.fullmatch(text) and not isinstance(literal.parent, SKIP) \
                    and known(text, literal):
                literal.replace_self(_download(text, docname, inline_code=True))

        for text in list(self.document.findall(nodes.Text)):
            parent = text.parent
            if parent is None or isinstance(parent, (nodes.literal, *SKIP)) or \
                    any(isinstance(a, SKIP) for a in _ancestors(parent)):
                continue
            value = str(text)
            pieces, start = [], 0
            for match in NAME.finditer(value):
                if not known(match.group(), parent):
                    continue
                pieces += [nodes.Text(value[start:match.start()]),
                           _download(match.group(), docname, inline_code=False)]
                start = match.end()
            if pieces:
                pieces.append(nodes.Text(value[start:]))
                index = parent.index(text)
                parent.remove(text)
                for offset, piece in enumerate(p for p in pieces if p.astext() or
                                               isinstance(p, addnodes.download_reference)):
                    parent.insert(index + offset, piece)


def _ancestors(node):
    while node is not None:
        yield node
        node = node.parent


def setup(app: Sphinx) -> dict:
    app.add_transform(ExerciseLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

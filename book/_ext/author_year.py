"""Author-year citations and bibliography, with a/b for same author and year.

sphinxcontrib-bibtex's `author_year` reference style cites by author and
year but numbers the bibliography, and two works by one author in one year
both cite as, say, "Karpathy, 2015". This extension registers

- a pybtex label style, `author_year`, that labels every entry
  "Surname, 2015", "Surname and Other, 2015" or "Surname et al., 2015",
  adding a, b, ... (in the bibliography's order) when two entries would
  share a label;
- a bibliography style, `author_year` (pybtex's `plain` with those labels,
  sorted by author, year and title), selected by `bibtex_default_style`;
- a reference style, `author_year_suffix`, selected by
  `bibtex_reference_style`, that cites exactly as `author_year` does but
  takes the year from the label, so the text says "Karpathy, 2015a" where
  the bibliography does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from string import ascii_lowercase

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import GroupReferenceStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle, BasicAuthorYearTextualReferenceStyle)
from sphinxcontrib.bibtex.style.referencing.extra_author import ExtraAuthorReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_empty import ExtraEmptyReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_label import ExtraLabelReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_year import ExtraYearReferenceStyle
from sphinxcontrib.bibtex.style.template import join, join2, post_text, pre_text, reference
from pybtex.style.template import node


def _surname(person) -> str:
    return str(Text.from_latex(" ".join(person.prelast_names + person.last_names)))


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people]
    if not names:
        return str(Text.from_latex(entry.fields.get("title", entry.key)))
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Surname, 2015", with a, b, ... where two entries would agree."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        plain = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        repeated = {label for label, n in Counter(plain).items() if n > 1}
        seen: Counter = Counter()
        for label in plain:
            if label in repeated:
                yield label + ascii_lowercase[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(PlainStyle):
    """pybtex's plain bibliography style with author-year labels."""

    default_label_style = "author_year"
    default_sorting_style = "author_year_title"


@node
def label_year(children, data):
    """The year of the entry's label, with its a/b suffix."""
    assert not children
    return Text(data["formatted_entry"].label.rsplit(", ", 1)[-1])


class _Parenthetical(BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[join(sep=self.author_year_sep)[
                self.person.author_or_editor_or_title(full="s" in role_name), label_year]],
            post_text,
        ]


class _Textual(BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[self.bracket.left,
                 join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
                     pre_text, reference[label_year], post_text],
                 self.bracket.right],
        ]


class _Year(ExtraYearReferenceStyle):
    def inner(self, role_name):
        return reference[label_year]


@dataclass
class AuthorYearSuffixReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author_year citations, years taken from the labels."""

    def __post_init__(self):
        self.styles.extend([
            _Parenthetical(bracket=self.bracket_parenthetical, person=self.person,
                           author_year_sep=self.author_year_sep,
                           pre_text_sep=self.pre_text_sep, post_text_sep=self.post_text_sep),
            _Textual(bracket=self.bracket_textual, person=self.person,
                     text_reference_sep=self.text_reference_sep,
                     pre_text_sep=self.pre_text_sep, post_text_sep=self.post_text_sep),
            ExtraAuthorReferenceStyle(bracket=self.bracket_author, person=self.person),
            ExtraLabelReferenceStyle(bracket=self.bracket_label),
            _Year(bracket=self.bracket_year),
            ExtraEmptyReferenceStyle(),
        ])
        GroupReferenceStyle.__post_init__(self)


register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
register_bibtex_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_suffix",
                       AuthorYearSuffixReferenceStyle)


def setup(app: Sphinx) -> dict:
    return {"parallel_read_safe": True, "parallel_write_safe": True}

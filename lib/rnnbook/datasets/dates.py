"""Human-written dates and their ISO form: the toy translation task of the
sequence-to-sequence chapters, with the vocabularies that cover it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable

import numpy as np

from rnnbook.checks import check_int, check_rng
from rnnbook.datasets.vocab import SeqVocab

__all__ = ['DATE_FORMATS', 'format_date', 'dates_dataset', 'date_vocabs']


# -- dates: a toy translation task -------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Dates are drawn from this range. Two-digit years are then unambiguous:
# 50..99 mean 1950..1999 and 00..49 mean 2000..2049.
_FIRST_DAY = _dt.date(1950, 1, 1)
_LAST_DAY = _dt.date(2049, 12, 31)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _parts(d: _dt.date) -> dict:
    month = _MONTHS[d.month - 1]
    weekday = _WEEKDAYS[d.weekday()]
    return dict(d=d.day, dd=f"{d.day:02d}", mm=f"{d.month:02d}", yyyy=f"{d.year:04d}",
                yy=f"{d.year % 100:02d}", month=month, mon=month[:3], weekday=weekday,
                wkd=weekday[:3], th=_ordinal(d.day))


# Each format is written with its own English names, not with strftime, so
# the output does not depend on the machine's locale.
DATE_FORMATS: dict[str, str] = {
    "d month yyyy":           "{d} {month} {yyyy}",                 # 3 May 1998
    "d mon yy":               "{d} {mon_l} {yy}",                   # 3 may 98
    "month d, yyyy":          "{month} {d}, {yyyy}",                # May 3, 1998
    "month dth, yyyy":        "{month} {th}, {yyyy}",               # May 3rd, 1998
    "weekday, month d, yyyy": "{weekday}, {month} {d}, {yyyy}",     # Sunday, May 3, 1998
    "weekday d month yyyy":   "{weekday_l} {d} {month_l} {yyyy}",   # sunday 3 may 1998
    "wkd d mon yyyy":         "{wkd} {d} {mon} {yyyy}",             # Sun 3 May 1998
    "d MONTH yyyy":           "{d} {month_u} {yyyy}",               # 3 MAY 1998
    "dth of month yyyy":      "{th} of {month} {yyyy}",             # 3rd of May 1998
    "dd-mon-yyyy":            "{dd}-{mon}-{yyyy}",                   # 03-May-1998
    "yyyy.mm.dd":             "{yyyy}.{mm}.{dd}",                   # 1998.05.03
}
"""The human-written formats of :func:`dates_dataset`: name -> template.

Every format names the month with letters or puts the four-digit year
first, so no string can be read as two different dates (there is no
"03/05/98"). Placeholders: ``d`` day without padding, ``dd`` day with two
digits, ``th`` day as an ordinal (1st, 2nd, 3rd, 4th, ...), ``mm`` month
number, ``month``/``mon`` full/three-letter month name, ``weekday``/``wkd``
full/three-letter weekday name, ``yyyy``/``yy`` four/two-digit year; a
suffix ``_l`` means lower case and ``_u`` upper case.
"""


def format_date(date: _dt.date, fmt: str) -> str:
    """Write ``date`` in one of the :data:`DATE_FORMATS` (given by name).

    Taught in: Part III, Sequence to sequence.
    """
    if fmt not in DATE_FORMATS:
        raise ValueError(f"unknown date format {fmt!r}; available: {list(DATE_FORMATS)}")
    p = _parts(date)
    fields = dict(p)
    for key in ("month", "mon", "weekday", "wkd"):
        fields[key + "_l"] = p[key].lower()
        fields[key + "_u"] = p[key].upper()
    return DATE_FORMATS[fmt].format(**fields)


def dates_dataset(n: int, rng, formats: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Generate (human-written date, ISO date) pairs.

    Each date is drawn uniformly from 1 January 1950 to 31 December 2049
    and written in a format drawn uniformly from ``formats``; the target is
    its ISO 8601 form ``YYYY-MM-DD``. Weekday names are the true weekday of
    the date. Two-digit years (format ``"d mon yy"``) are unambiguous within
    the range: 50-99 stand for 1950-1999, 00-49 for 2000-2049.

    Args:
        n: number of pairs, >= 1.
        rng: numpy Generator.
        formats: names from :data:`DATE_FORMATS` to draw from; ``None`` means
            all of them.

    Returns:
        pairs: list of n tuples ``(source, target)``, e.g.
            ``("Sunday, May 3, 1998", "1998-05-03")``.

    Taught in: Part III, Sequence to sequence.
    """
    n = check_int("n", n, 1)
    rng = check_rng(rng)
    names = list(DATE_FORMATS) if formats is None else list(formats)
    if not names:
        raise ValueError("formats is empty; give at least one name from DATE_FORMATS")
    for name in names:
        if name not in DATE_FORMATS:
            raise ValueError(f"unknown date format {name!r}; available: {list(DATE_FORMATS)}")
    first, last = _FIRST_DAY.toordinal(), _LAST_DAY.toordinal()
    days = rng.integers(first, last + 1, size=n)
    which = rng.integers(0, len(names), size=n)
    pairs = []
    for day, k in zip(days.tolist(), which.tolist()):
        date = _dt.date.fromordinal(day)
        pairs.append((format_date(date, names[k]), date.isoformat()))
    return pairs




def date_vocabs() -> tuple[SeqVocab, SeqVocab]:
    """Source and target vocabularies that cover every string :func:`dates_dataset` can make.

    Built from all formats applied to every day of a leap year (which shows
    every month and weekday name) plus all digits, so an unseen test date
    never meets an unknown character.

    Returns:
        src_vocab: SeqVocab over letters, digits, space, comma, dot and hyphen.
        tgt_vocab: SeqVocab over the digits and ``-`` of ISO dates.

    Taught in: Part III, Sequence to sequence.
    """
    start = _dt.date(2000, 1, 1).toordinal()
    texts = ["0123456789"]
    for day in range(start, start + 366):
        date = _dt.date.fromordinal(day)
        texts.extend(format_date(date, fmt) for fmt in DATE_FORMATS)
    return SeqVocab(texts), SeqVocab(["0123456789-"])

"""Numbers written in a locale: decimal comma, thousands separators.

A text column whose every sampled value reads as a number under one
consistent convention (decimal separator, thousands separator) becomes a
number; the decision is reported per column. A column that reads as numbers
under two conventions that disagree ("1,234": 1.234 or 1234?) is resolved by
the other columns of the file, then by the delimiter (a ``;`` file is the
decimal-comma convention of spreadsheet exports), else left as text with a
warning that names the options to set. Explicit ``decimal``/``thousands``
options replace the detection and apply to explicit ``column_types`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPACES = ("\u00a0", "\u202f")  # no-break and narrow no-break space: written as thousands separators


@dataclass(frozen=True)
class NumberLocale:
    decimal: str
    thousands: str  # "" for none

    def describe(self) -> str:
        t = {"": "none", " ": "space", "'": "apostrophe"}.get(self.thousands, repr(self.thousands))
        return f"decimal {self.decimal!r}, thousands {t}"

    def as_dict(self) -> dict[str, str]:
        return {"decimal": self.decimal, "thousands": self.thousands}


# the conventions considered, most common first
LOCALES = [
    NumberLocale(".", ","),
    NumberLocale(",", "."),
    NumberLocale(",", " "),
    NumberLocale(".", " "),
    NumberLocale(",", "'"),
    NumberLocale(".", "'"),
    NumberLocale(",", ""),
    NumberLocale(".", ""),
]
DEFAULT = NumberLocale(".", "")


def _separators(loc: NumberLocale) -> list[str]:
    """The thousands separator and, for a space, the no-break spaces written in its place."""
    if not loc.thousands:
        return []
    return sorted({loc.thousands, *(SPACES if loc.thousands == " " else ())})


def _one_of(chars) -> str:
    return "[" + "".join("\\" + ch if ch in "\\]^-[" else ch for ch in chars) + "]"


def number_regex(loc: NumberLocale) -> str:
    """A number written in ``loc``, as a regular expression both Python's ``re`` and DuckDB's (RE2) read.
    A grouped number leads with 1 to 3 digits that do not start with 0: 0.787 is no thousands grouping."""
    d = _one_of(loc.decimal)
    if loc.thousands:
        integer = rf"(?:[1-9][0-9]{{0,2}}(?:{_one_of(_separators(loc))}[0-9]{{3}})+|[0-9]+)"
    else:
        integer = "[0-9]+"
    return rf"[+-]?(?:{integer}(?:{d}[0-9]+)?|{d}[0-9]+)"


def _pattern(loc: NumberLocale) -> re.Pattern:
    return re.compile(f"^{number_regex(loc)}$")


_PATTERNS = {loc: _pattern(loc) for loc in LOCALES}
# a value with a mark that only a locale explains: a comma, an apostrophe, a space between digits, two dots
_MARKS = re.compile(r"[,'\u00a0\u202f]|\d \d|\..*\.")
_NUMBERISH = re.compile(r"^[+-]?[\d.,' \u00a0\u202f]*\d$")
# one dot followed by exactly three digits: 1.000 is one under a decimal point, a thousand under '.' thousands
_DOT_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}\.\d{3}$")


def normalise(value: str) -> str:
    value = value.strip()
    for s in SPACES:
        value = value.replace(s, " ")
    return value


def parse(value: str, loc: NumberLocale) -> float | None:
    v = normalise(value)
    if not _PATTERNS[loc].match(v):
        return None
    if loc.thousands:
        v = v.replace(loc.thousands, "")
    return float(v.replace(loc.decimal, "."))


def is_integral(values: list[str], loc: NumberLocale) -> bool:
    return not any(loc.decimal in normalise(v) for v in values)


@dataclass
class ColumnGuess:
    locale: NumberLocale | None  # None: not numbers (or ambiguous)
    ambiguous: list[NumberLocale]  # conventions that disagree, when undecided
    integral: bool = False


def guess_column(values: list[str], *, forced: NumberLocale | None = None) -> ColumnGuess:
    """The convention under which every value is a number, if there is one.

    ``values`` are the column's non-empty sampled values. A column that plain number parsing already
    reads (digits and a "." decimal point only) is not a locale column: the caller's reader types it."""
    values = [v for v in values[:2000] if v and v.strip()]
    if not values:
        return ColumnGuess(None, [])
    # cheap rejections first: most columns are text, or plain numbers the reader types itself
    if not _MARKS.search(values[0]) and forced is None:
        dot_groups = all(_DOT_THOUSANDS.match(v.strip()) for v in values[:50])
        if not dot_groups and (
            not any(_MARKS.search(v) for v in values[:50]) or not _NUMBERISH.match(values[0].strip())
        ):
            return ColumnGuess(None, [])
    if not all(_NUMBERISH.match(v.strip()) for v in values):
        return ColumnGuess(None, [])
    if forced is not None:
        ok = all(parse(v, forced) is not None for v in values)
        return ColumnGuess(forced if ok else None, [], integral=ok and is_integral(values, forced))
    fits = [loc for loc in LOCALES if all(_PATTERNS[loc].match(normalise(v)) for v in values)]
    if not fits:
        return ColumnGuess(None, [])
    if DEFAULT in fits:
        # a plain reading exists; the column is still ambiguous when another convention reads it otherwise
        # (every value like 1.000 or 15.250): the file's other columns or its delimiter decide (`resolve`)
        plain = tuple(parse(v, DEFAULT) for v in values[:1000])
        others = [loc for loc in fits if loc != DEFAULT and tuple(parse(v, loc) for v in values[:1000]) != plain]
        return ColumnGuess(None, [DEFAULT, others[0]] if others else [])
    readings = {}
    for loc in fits:
        key = tuple(parse(v, loc) for v in values[:1000])
        readings.setdefault(key, loc)  # the first (most common) convention of each distinct reading
    distinct = list(readings.values())
    if len(distinct) == 1:
        loc = distinct[0]
        return ColumnGuess(loc, [], integral=is_integral(values, loc))
    return ColumnGuess(None, distinct)


def resolve(
    guesses: dict[str, ColumnGuess], delimiter: str | None
) -> tuple[dict[str, NumberLocale], list[str], list[str]]:
    """Decide the ambiguous columns from the decided ones (one convention per file), then from the
    delimiter; returns ({column: locale}, [ambiguous columns left as text], [columns read with a plain
    decimal point by assumption: 1.000 as one, for want of any evidence of '.' thousands])."""
    decided = {c: g.locale for c, g in guesses.items() if g.locale is not None}
    decimals = {loc.decimal for loc in decided.values()}
    left, assumed = [], []
    for c, g in guesses.items():
        if g.locale is not None or not g.ambiguous:
            continue
        pick = None
        if len(decimals) == 1:
            same = [loc for loc in g.ambiguous if loc.decimal in decimals]
            pick = same[0] if len(same) == 1 else None
        if pick is None and delimiter == ";":
            comma = [loc for loc in g.ambiguous if loc.decimal == ","]
            pick = comma[0] if len(comma) == 1 else None
        if pick is None and DEFAULT in g.ambiguous:
            decided[c] = DEFAULT
            assumed.append(c)
        elif pick is None:
            left.append(c)
        else:
            decided[c] = pick
    return decided, left, assumed


def sql_expression(column_sql: str, loc: NumberLocale) -> str:
    """DuckDB expression: the text ``column_sql`` with the locale's separators removed/replaced. With a
    thousands separator, a value whose groups are not those of the convention (0.787 or 1234.567 under '.'
    thousands) gives the text 'not grouped', which no number cast takes: the read then stops and the
    column is checked whole (instead of 787 and 1234567 in the table)."""
    expr = f"trim({column_sql})"
    for t in _separators(loc):
        expr = f"replace({expr}, {_sql_text(t)}, '')"
    if loc.decimal != ".":
        expr = f"replace({expr}, {_sql_text(loc.decimal)}, '.')"
    if loc.thousands:
        check = f"regexp_full_match(trim({column_sql}), {_sql_text(number_regex(loc))}) IS NOT FALSE"  # NULL stays
        expr = f"CASE WHEN {check} THEN {expr} ELSE 'not grouped' END"
    return expr


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"

"""botocore's patterns in the dialect AWS matches them with: Java's ``java.util.regex``, whole value.

Python's ``re`` reads most of them the same, with four differences that change what a value may hold:

- Java's ``.`` matches no line terminator (``\\n``, ``\\r``, U+0085, U+2028, U+2029), so a ``.*`` member such as
  EnableExplanations or ContentTemplate refuses a value with a line break;
- ``\\d``, ``\\w`` and ``\\s`` are ASCII in Java, so ``\\d{12}`` in a role ARN takes no Arabic-Indic digits;
- Java knows Unicode categories, ``\\p{L}`` (letters) and the like, and POSIX classes such as ``\\p{ASCII}``, which
  ``re`` cannot compile: tag keys and values, and the runtime's headers, use them. They are spelled out here as
  ranges of code points;
- Java's ``\\z`` (the end of the value) is Python's ``\\Z``.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_LINE_TERMINATORS = "\n\r\u0085\u2028\u2029"
_ANY_BUT_LINE_TERMINATOR = "[^" + "".join(f"\\u{ord(c):04x}" for c in _LINE_TERMINATORS) + "]"
# Java's POSIX classes are ASCII (the runtime's ContentType is \p{ASCII}*, its InferenceId \A\S[\p{Print}]*\z).
_POSIX = {
    "Alnum": "a-zA-Z0-9",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Upper": "A-Z",
    "Lower": "a-z",
    "ASCII": "\\x00-\\x7f",
    "Graph": "\\x21-\\x7e",
    "Print": "\\x20-\\x7e",
    "Punct": "!-/:-@\\[-`{-~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_CATEGORY = re.compile(r"\\p\{(\w+)\}")


def compile_java(pattern: str) -> re.Pattern[str]:
    """``pattern`` as Java reads it, compiled for ``fullmatch``. ``re.error`` for a construct ``re`` lacks."""
    return re.compile(_translate(pattern), re.ASCII)


def _translate(pattern: str) -> str:
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            category = _CATEGORY.match(pattern, i)
            if category is not None:
                ranges = _category_ranges(category.group(1))
                out.append(ranges if in_class else f"[{ranges}]")
                i = category.end()
                continue
            # Java's \z is the very end of the value, which Python spells \Z.
            out.append("\\Z" if pattern[i + 1] == "z" else pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            out.append(_ANY_BUT_LINE_TERMINATOR)
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _category_ranges(name: str) -> str:
    """The body of a character class holding Java's ``\\p{name}``: a POSIX class, or a Unicode category (one letter
    for a major one such as L, two for a minor one such as Lu)."""
    if name in _POSIX:
        return _POSIX[name]
    ranges = _unicode_ranges().get(name)
    if ranges is None:
        raise re.error(f"unknown character category \\p{{{name}}}")
    return ranges


@functools.cache
def _unicode_ranges() -> dict[str, str]:
    """Every Unicode category, major and minor, as character-class ranges: built once per process, from one pass
    over the code points (about 0.2 s; ``ShapeValidator.warm`` does it off the event loop when the server starts)."""
    categories = [unicodedata.category(chr(code)) for code in range(sys.maxunicode + 1)]
    spans: dict[str, list[tuple[int, int]]] = {}
    start = 0
    for code in range(1, len(categories) + 1):
        if code < len(categories) and categories[code] == categories[start]:
            continue
        minor = categories[start]
        for key in (minor, minor[0]):
            runs = spans.setdefault(key, [])
            if runs and runs[-1][1] == start - 1:  # a major category continues across minor ones
                runs[-1] = (runs[-1][0], code - 1)
            else:
                runs.append((start, code - 1))
        start = code
    return {key: "".join(_span(low, high) for low, high in runs) for key, runs in spans.items()}


def _span(low: int, high: int) -> str:
    return _escape(low) if low == high else f"{_escape(low)}-{_escape(high)}"


def _escape(code: int) -> str:
    return f"\\U{code:08x}"

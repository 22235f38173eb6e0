"""Text features (``TextConfig``): split a text column into units, and mask units with the baseline value.

Spec §1.1 (the 60-code ``ClarifyTextLanguage`` enum), §4.3 (d)/(e), §5.4. Units are what Kernel SHAP explains: one
player per unit, ``n_features = non-text features + text units`` (documented).

Granularities
    ``token`` and ``sentence``: spaCy *blank* pipelines (``spacy.blank(code)``, plus the rule-based
    ``sentencizer`` for sentences). Nothing is downloaded at run time: blank pipelines are rules shipped inside the
    spaCy package. ``paragraph``: maximal runs of non-blank lines (paragraphs are separated by one or more blank
    lines). Each unit is ``partial_text`` with its ``start_idx``, the character offset of its first character in
    the original string; whitespace between units belongs to no unit (spec §4.3 d: sentence 2 starts at 74 after
    73 characters and one space). Line ends are Python's (``str.splitlines``), and U+2029 PARAGRAPH SEPARATOR ends
    a paragraph by itself.

Grapheme clusters
    A unit never ends inside a user-perceived character: spaCy's rules split a combining mark, a zero-width joiner,
    an emoji modifier or the second flag letter off the character it belongs to (``👨‍👩‍👧`` gave five tokens, two
    of them a lone U+200D), and masking such a piece leaves a dangling mark on the baseline text. Adjacent tokens
    are joined where UAX #29 puts no grapheme boundary (the ``regex`` package's ``\\X``).

Languages (every code of the enum; see docs/text.md for the table)
    - Every Clarify code is also a spaCy language code, so the mapping is the identity.
    - ``zh``: word segmentation with jieba through spaCy's Chinese tokenizer when jieba is installed (it is part
      of the ``text`` extra); otherwise the ``xx`` rule below (one unit per Han character). spaCy's own default
      for blank Chinese, one unit per *character* including Latin letters, is not used: it turns "delivery" into
      eight units.
    - ``xx`` (a mix of languages): spaCy's multi-language rules, then every run of Han, Hiragana or Katakana
      characters, which such text writes without spaces, is split into one unit per character. So Japanese or
      Chinese text sent as ``xx`` still gives units a reader can point at.
    - Every other code: ``spacy.blank(code)``'s tokenizer and sentencizer; for hy, gu and ml the sentence-final stop
      is added as a tokenizer suffix, since their blank rules keep it on the word before.

Masking (spec §5.4, where Clarify's rule is [UNK])
    A masked unit's span is replaced by the column's baseline value. **Adjacent masked units collapse**: a run of
    consecutive masked units, together with the whitespace between them, becomes one copy of the baseline value.
    Text outside units (the whitespace before the first and after the last unit) is kept. The reason: a text with
    every unit masked is then exactly the baseline value (for text without leading or trailing whitespace), so
    the expected value is f(baseline), the same number a client gets by invoking the baseline as the AWS
    notebooks do, and attributions add up to f(x) − f(baseline).

spaCy is imported lazily, on the first tokenizer built, so the core imports without it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openclarify.clarify.records import Record, finite_float, is_number_text
from openclarify.errors import ValidationError, ValidationException

# The ClarifyTextLanguage enum, in service-model order (spec §1.1).
LANGUAGES: tuple[str, ...] = (
    "af", "sq", "ar", "hy", "eu", "bn", "bg", "ca", "zh", "hr", "cs", "da", "nl", "en", "et", "fi", "fr", "de",
    "el", "gu", "he", "hi", "hu", "is", "id", "ga", "it", "kn", "ky", "lv", "lt", "lb", "mk", "ml", "mr", "ne",
    "nb", "fa", "pl", "pt", "ro", "ru", "sa", "sr", "tn", "si", "sk", "sl", "es", "sv", "tl", "ta", "tt", "te",
    "tr", "uk", "ur", "yo", "lij", "xx",
)  # fmt: skip
GRANULARITIES: tuple[str, ...] = ("token", "sentence", "paragraph")
TEXT = "text"

# Clarify code -> spaCy code. Identical for all 60: the enum is spaCy's list of languages (spec §1.1 [INF]).
SPACY_CODES: dict[str, str] = {code: code for code in LANGUAGES}

# Scripts written without spaces between words, each character its own unit under ``xx``: CJK symbols and
# punctuation (so "。" ends a sentence), Hiragana, Katakana (with its extensions and half-width forms), Han (the CJK
# ideographs, their extensions and compatibility forms), and full-width punctuation.
UNSPACED_CHARACTERS = (
    "[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\uff01-\uff9f\U00020000-\U0003134f]"
)

INSTALL_HINT = "install the text extra: pip install 'openclarify[text]'"


@dataclass(frozen=True)
class TextUnit:
    """One unit of a text feature: ``text == original[start:start + len(text)]``, no surrounding whitespace."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


# --------------------------------------------------------------------------------------------------------------
# Tokenizers


@dataclass(frozen=True)
class Tokenizer:
    """A blank spaCy pipeline (tokenizer + sentencizer) for one language, and how its tokens are post-split."""

    language: str
    name: str
    """What segments the text, as docs/text.md lists it (e.g. ``spacy:en``, ``spacy:zh+jieba``)."""
    nlp: Any
    lock: threading.Lock

    def doc(self, text: str) -> Any:
        # spaCy's tokenizer keeps a cache that is not documented as thread-safe; tokenising one record is cheap.
        with self.lock:
            return self.nlp(text)


_tokenizers: dict[str, Tokenizer] = {}
_tokenizers_lock = threading.Lock()


def spacy_available() -> bool:
    return importlib.util.find_spec("spacy") is not None


def jieba_available() -> bool:
    return importlib.util.find_spec("jieba") is not None


def tokenizer(language: str) -> Tokenizer:
    """The (cached) tokenizer of a Clarify language code. Loading one takes 0.01-3 s (French is the slowest)."""
    cached = _tokenizers.get(language)
    if cached is not None:
        return cached
    with _tokenizers_lock:
        cached = _tokenizers.get(language)
        if cached is None:
            cached = _tokenizers[language] = _build(language)
        return cached


def _build(language: str) -> Tokenizer:
    if language not in SPACY_CODES:
        raise ValidationError(
            f"TextConfig.Language {language!r} is not one of the {len(LANGUAGES)} ClarifyTextLanguage codes."
        )
    try:
        import spacy
    except ImportError as exc:
        raise ValidationError(
            f"Text features need spaCy, which is not installed on this server; {INSTALL_HINT}."
        ) from exc
    code = SPACY_CODES[language]
    if code == "zh" and jieba_available():
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it announces its dictionary build on stderr otherwise
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        name = "spacy:zh+jieba"
    elif code in ("zh", "xx"):
        from spacy.util import compile_infix_regex

        nlp = spacy.blank("xx")
        # An infix matching every such character splits it off wherever it stands in a token.
        infixes = [*nlp.Defaults.infixes, UNSPACED_CHARACTERS]
        nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        name = "spacy:xx+cjk-characters"
    elif code in SENTENCE_END_SUFFIXES:
        from spacy.util import compile_suffix_regex

        nlp = spacy.blank(code)
        # These blank tokenizers keep a sentence-final stop on the word before it, so the sentencizer would never
        # see it: split it off as a suffix.
        suffixes = [*nlp.Defaults.suffixes, SENTENCE_END_SUFFIXES[code]]
        nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search
        name = f"spacy:{code}+sentence-stop"
    else:
        nlp = spacy.blank(code)
        name = f"spacy:{code}"
    nlp.add_pipe("sentencizer")
    return Tokenizer(language=language, name=name, nlp=nlp, lock=threading.Lock())


# --------------------------------------------------------------------------------------------------------------
# Splitting


# Sentence-final stops that spaCy's blank tokenizer for these languages leaves attached to the previous word.
SENTENCE_END_SUFFIXES = {"gu": r"\.", "ml": r"\.", "hy": "։"}


def split_units(text: str, language: str, granularity: str) -> tuple[TextUnit, ...]:
    """The units of ``text`` in order, non-overlapping, none empty or with surrounding whitespace."""
    if granularity == "paragraph":
        return paragraphs(text)
    if granularity not in GRANULARITIES:
        raise ValidationError(f"TextConfig.Granularity {granularity!r} is not one of {', '.join(GRANULARITIES)}.")
    if not text.strip():
        return ()
    tok = tokenizer(language)
    if len(text) > tok.nlp.max_length:
        # spaCy's own refusal is a ValueError the explainer would report as the model's failure (ModelError).
        raise ValidationError(
            f"a text of {len(text)} characters is longer than the {tok.nlp.max_length} that {granularity} "
            "granularity splits; send shorter text, or use paragraph granularity."
        )
    doc = tok.doc(text)
    if granularity == "sentence":
        return tuple(unit for sent in doc.sents if (unit := _trimmed(text, sent.start_char, sent.end_char)))
    return _whole_clusters(text, [TextUnit(token.text, token.idx) for token in doc if token.text.strip()])


def _whole_clusters(text: str, tokens: Sequence[TextUnit]) -> tuple[TextUnit, ...]:
    """``tokens`` with each run of adjacent tokens that splits a grapheme cluster joined into one unit."""
    if text.isascii():  # no ASCII character extends another (CR LF is one cluster, but whitespace is in no unit)
        return tuple(tokens)
    import regex  # the text extra installs it with spaCy; its \X is UAX #29's extended grapheme cluster

    starts = {match.start() for match in regex.finditer(r"\X", text)}
    units: list[TextUnit] = []
    for token in tokens:
        last = units[-1] if units else None
        if last is not None and last.end == token.start and token.start not in starts:
            units[-1] = TextUnit(text[last.start : token.end], last.start)
        else:
            units.append(token)
    return tuple(units)


def _trimmed(text: str, start: int, end: int) -> TextUnit | None:
    piece = text[start:end]
    stripped = piece.lstrip()
    if not stripped.strip():
        return None
    start += len(piece) - len(stripped)
    return TextUnit(stripped.rstrip(), start)


PARAGRAPH_SEPARATOR = "\u2029"


def paragraphs(text: str) -> tuple[TextUnit, ...]:
    """Maximal runs of non-blank lines (a blank line holds only whitespace). A line ends where ``str.splitlines``
    ends one (``\\n``, ``\\r\\n``, ``\\r``, U+2028, ...); a U+2029 PARAGRAPH SEPARATOR also ends the paragraph."""
    units: list[TextUnit] = []
    first: int | None = None
    last_end = 0
    position = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            if first is None:
                first = position
            last_end = position + len(line)
        position += len(line)
        if first is not None and (not line.strip() or line.endswith(PARAGRAPH_SEPARATOR)):
            units.append(_paragraph(text, first, last_end))
            first = None
    if first is not None:
        units.append(_paragraph(text, first, last_end))
    return tuple(units)


def _paragraph(text: str, start: int, end: int) -> TextUnit:
    unit = _trimmed(text, start, end)
    assert unit is not None
    return unit


# --------------------------------------------------------------------------------------------------------------
# Masking


def mask_text(text: str, units: Sequence[TextUnit], keep: Sequence[bool] | np.ndarray, replacement: str) -> str:
    """``text`` with every masked unit (``keep[i]`` false) replaced by ``replacement``; a run of adjacent masked
    units and the whitespace between them becomes one ``replacement``. Text outside units is kept."""
    return mask_texts(text, units, np.asarray(keep, dtype=bool).reshape(1, -1), replacement)[0]


def mask_texts(text: str, units: Sequence[TextUnit], keeps: np.ndarray, replacement: str) -> list[str]:
    """``mask_text`` for every row of ``keeps`` (coalitions × units, bool) at once.

    Each unit contributes one of three pieces: kept, the text since the previous unit's end and the unit itself;
    the first of a run of masked units, that text and one ``replacement``; a masked unit after a masked one, nothing
    (the run's whitespace and units collapse). The pieces are chosen for every coalition in one array operation and
    joined: at 50 tokens and 2 148 coalitions 1.7 ms, where building each text unit by unit in Python took 17.
    """
    keeps = np.asarray(keeps, dtype=bool)
    n = len(units)
    if n == 0:
        return [text] * keeps.shape[0]
    ends = [unit.end for unit in units]
    gaps = [text[previous : unit.start] for previous, unit in zip([0, *ends[:-1]], units, strict=True)]
    pieces = np.empty((n, 3), dtype=object)
    pieces[:, 0] = [gap + unit.text for gap, unit in zip(gaps, units, strict=True)]
    pieces[:, 1] = [gap + replacement for gap in gaps]
    pieces[:, 2] = ""
    after_kept = np.ones(keeps.shape, dtype=bool)  # the unit before was kept (or there is none)
    after_kept[:, 1:] = keeps[:, :-1]
    choice = np.where(keeps, 0, np.where(after_kept, 1, 2))
    tail = text[ends[-1] :]
    # One flat list, joined a coalition's slice at a time: a list per coalition (tolist of the 2-D array) keeps
    # thousands of lists alive at once, enough to set off the garbage collector's full collections now and then.
    flat = pieces[np.arange(n), choice].ravel().tolist()
    return ["".join(flat[start : start + n]) + tail for start in range(0, len(flat), n)]


# --------------------------------------------------------------------------------------------------------------
# Feature types


def resolve_feature_types(
    feature_types: Sequence[str] | None, has_text_config: bool, baseline_rows: Sequence[Record]
) -> tuple[str, ...] | None:
    """Each column's type, or None for a tabular explainer (no TextConfig).

    ``FeatureTypes`` wins when given. Without it [INF, spec §1.2]: a column whose baseline value is a string that
    does not spell a number, in any baseline row, is ``text``; every other column is ``numerical``.
    """
    if not has_text_config:
        return None
    if feature_types is not None:
        types = tuple(feature_types)
    else:
        width = len(baseline_rows[0])
        types = tuple(
            TEXT
            if any(isinstance(row[j], str) and not is_number_text(row[j]) for row in baseline_rows)
            else "numerical"
            for j in range(width)
        )
    if TEXT not in types:
        raise ValidationException(
            "TextConfig is set but no feature is text: no SHAP baseline column holds text. Set "
            "InferenceConfig.FeatureTypes (for example ['text']) to say which columns are text."
        )
    return types


def text_of(value: Any, where: str, j: int) -> str:
    """The text of cell ``j`` of a text column: a string as is, a number (``5`` in JSON Lines) as ``str`` writes it.
    JSON null, true/false, a list or an object is no text: a ValidationError naming ``where`` ("Record 2"), since
    ``str`` would hand the model Python's spelling of it (``None``, ``True``, ``['a']``) as if the client wrote it."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(
        f"{where}, column {j + 1} is a text feature but holds {json.dumps(value)}, not a string or a number."
    )


def model_table(rows: Sequence[Record], feature_types: Sequence[str]) -> np.ndarray:
    """Records as the ``(n, width)`` object array an in-process model takes (docs/runtimes.md): text columns as
    ``str`` (``text_of``), numerical columns as ``float``, categorical columns as given (``str`` stays ``str``)."""
    table = np.empty((len(rows), len(feature_types)), dtype=object)
    for i, row in enumerate(rows):
        for j, kind in enumerate(feature_types):
            value = row[j]
            if kind == TEXT:
                table[i, j] = text_of(value, f"Row {i + 1}", j)
            elif kind == "numerical":
                table[i, j] = _number(value, i, j)
            else:
                table[i, j] = value
    return table


def _number(value: Any, i: int, j: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        ok = False
    else:
        ok = not isinstance(value, str) or is_number_text(value)
    if not ok:
        raise ValidationError(f"Row {i + 1}, column {j + 1}: {value!r} is not a number, but the column is numerical.")
    return finite_float(value, "Row", i, j)

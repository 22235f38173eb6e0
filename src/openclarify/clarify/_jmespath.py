"""Compiling the config's JMESPath expressions with one-line error descriptions people can act on."""

from __future__ import annotations

from typing import Any

import jmespath
import jmespath.exceptions


class InvalidExpression(ValueError):
    """A JMESPath expression failed to compile; ``str()`` is a one-line reason."""


def compile_expression(expression: str) -> Any:
    """``jmespath.compile`` with a one-line reason on failure (jmespath's own messages span lines with a caret)."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise InvalidExpression(describe_error(exc)) from exc


def describe_error(exc: Exception) -> str:
    if isinstance(exc, jmespath.exceptions.ParseError):
        return f"{exc.msg} at column {exc.lex_position}"
    if isinstance(exc, jmespath.exceptions.LexerError):
        return f"{exc.message} at column {exc.lexer_position}"
    if isinstance(exc, jmespath.exceptions.JMESPathError):
        return str(exc).splitlines()[0]
    return str(exc)

"""A step's ``when:`` condition: a CEL expression over what was found, checked before it is ever run.

The expression is tenant text (a namespaced Runbook's step), so it is held
to bounds the API server cannot check in a string field and the model checks
instead (``paramedic lint``, and the operator's runbook watch, which marks a
runbook whose ``when`` does not compile as not Ready, reason Invalid):

- at most ``MAX_LENGTH`` characters (also the schema's ``maxLength``);
- it compiles with the same maintained CEL implementation that evaluates the
  CRDs' own rules offline (``common-expression-language``, see celrules);
- at most ``MAX_MACROS`` comprehension macros (``all``, ``exists``,
  ``exists_one``, ``map``, ``filter``): CEL has no other loop, and the data a
  condition reads holds no lists (every evidence value is a number, a string
  or a bool), so the cost of an evaluation is bounded by the expression's
  length and that count;
- it names only the variables of the activation (``VARIABLES``).

Compiled programs are cached per text (a runbook's few conditions are
compiled once per process, not per pass), in a cache of ``CACHED`` entries:
the texts are tenants', and every edit of a runbook brings new ones, so an
unbounded cache would grow with them for the life of the process.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import cel

#: The variables a condition may read: see ``paramedic.engine.when`` for what each holds.
VARIABLES = ("evidence", "metrics", "target", "trigger")
#: Characters of one condition (the schema's maxLength).
MAX_LENGTH = 1024
#: Comprehension macros one condition may use (each may loop over a literal list, nesting multiplies).
MAX_MACROS = 2
#: Compiled conditions kept (least recently used dropped first): far more than the runbooks in use hold.
CACHED = 1024

_MACRO = re.compile(r"\.\s*(?:all|exists_one|exists|map|filter)\s*\(")
_STRINGS = re.compile(r"\b[rRbB]{0,2}(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# A name at the start of a member chain: not after a dot, not a function call, not a keyword or literal.
_ROOT = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\b(?!\s*\()")
_LITERALS = frozenset(
    {"true", "false", "null", "in", "int", "uint", "double", "string", "bool", "bytes", "list", "map", "type", "dyn"}
)


@functools.lru_cache(maxsize=CACHED)
def program(expression: str) -> Any:
    """The compiled condition (ValueError when it does not parse)."""
    try:
        return cel.compile(expression)
    except Exception as exc:  # the library raises its own parse errors; their text says where
        raise ValueError(f"does not parse as CEL: {str(exc)[:300]}") from None


def problem(expression: str) -> str | None:
    """Why ``expression`` cannot be a step's condition, or None when it can."""
    if len(expression) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    try:
        program(expression)
    except ValueError as exc:
        return str(exc)
    code = re.sub(r"\s*\.\s*", ".", _STRINGS.sub("''", expression))
    if len(_MACRO.findall(code)) > MAX_MACROS:
        return f"uses more than {MAX_MACROS} comprehension macros (all, exists, exists_one, map, filter)"
    bound = set(re.findall(r"\(\s*([A-Za-z_]\w*)\s*,", code))  # a macro's loop variable: x in l.all(x, ...)
    for name in _ROOT.findall(code):
        if name not in VARIABLES and name not in _LITERALS and name not in bound:
            return f"names {name!r}: a condition reads only {', '.join(VARIABLES)}"
    return None

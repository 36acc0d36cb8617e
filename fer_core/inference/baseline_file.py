"""Reading a saved neutral-baseline file: the one validator that the CLI and the app both use.

A baseline file is untrusted input (an upload, a path on the command line), so it is read
defensively, and every refusal is one :class:`~fer_core.inference.neutral_baseline.BaselineError`
line that starts with the file's name:

- at most :data:`MAX_BYTES` (a real file is a few hundred bytes); the whole file up to that limit
  is read, so a file over it is called too large, never "not valid JSON";
- at most :data:`MAX_DEPTH` levels of brackets, checked before parsing, so that 200,000 nested
  brackets are refused and never reach the recursive JSON parser;
- integers of at most :data:`MAX_DIGITS` digits (Python's own limit is 4300, with a message that
  names no file), finite numbers only (no ``NaN``, ``Infinity`` or ``1e999``);
- exact types: a count is an integer and never a boolean, a number is an int or a float, text is text;
- the values a model can produce: each log-probability is at least ln of the probability floor
  (:data:`~fer_core.inference.neutral_baseline.EPSILON`), the rest as the baseline itself requires.
"""
from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

from fer_core.inference.neutral_baseline import FORMAT, OLD_FORMATS, VERSION, BaselineError, NeutralBaseline

if TYPE_CHECKING:
    from fer_core.inference.classifier import Classifier

#: a real baseline file is a few hundred bytes; anything over 64 KB is not one
MAX_BYTES = 64 * 1024
#: the document is an object holding lists (depth 2); deeper nesting is not a baseline file
MAX_DEPTH = 8
#: integers longer than this are no count or value a baseline holds
MAX_DIGITS = 18
#: a model's or a label's name is at most this long
MAX_NAME = 200
#: a model has at most this many labels
MAX_LABELS = 64
#: the formats read: this studio's, and the name older versions wrote
FORMATS = (FORMAT, *OLD_FORMATS)
#: the keys a baseline file must have
REQUIRED = ("model", "labels", "log_probabilities", "frames", "margin")


def read_baseline_file(path: str | os.PathLike, classifier: Classifier | None = None) -> NeutralBaseline:
    """The baseline saved in the file at ``path``, checked against ``classifier`` when given.

    Raises:
        BaselineError: unreadable, too large, malformed, or made with another model (the path named).
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BaselineError(f"{name}: cannot read this baseline file ({exc.strerror or exc})") from None
    return parse_baseline(data, name, classifier)


def parse_baseline(data: bytes | str, name: str, classifier: Classifier | None = None) -> NeutralBaseline:
    """The baseline in a file's content (``name`` says which file in errors), checked against ``classifier``.

    Raises:
        BaselineError: too large, not JSON, too deep, a bad value, or another model's baseline.
    """
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_BYTES:
        raise BaselineError(f"{name}: too large for a neutral-baseline file (over {MAX_BYTES // 1024} KB; "
                            "a saved baseline is a few hundred bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BaselineError(f"{name}: not a baseline file: not UTF-8 text") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise BaselineError(f"{name}: not a baseline file: brackets nested deeper than {MAX_DEPTH} levels")
    try:
        document = json.loads(text, parse_int=lambda s: _integer(s, name), parse_float=lambda s: _real(s, name),
                              parse_constant=lambda s: _constant(s, name))
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{name}: not a baseline file: not valid JSON ({exc})") from None
    baseline = baseline_from_dict(document, name)
    if classifier is not None:
        try:
            baseline.check_classifier(classifier)
        except BaselineError as exc:
            raise BaselineError(f"{name}: {exc}") from None
    return baseline


def baseline_from_dict(document: Any, name: str = "baseline") -> NeutralBaseline:
    """The baseline a :meth:`NeutralBaseline.to_dict` document describes, every value of its exact type.

    Raises:
        BaselineError: not such a document, or a missing, mistyped or impossible value (``name`` first).
    """
    if not isinstance(document, dict) or document.get("format") not in FORMATS:
        raise BaselineError(f"{name}: not a baseline file (expected a JSON object with "
                            f'"format": "{FORMAT}", as "Download neutral baseline" or --save-baseline write)')
    version = document.get("version")
    if not _is_int(version) or version != VERSION:
        raise BaselineError(f"{name}: baseline version {version!r}; this studio reads version {VERSION}")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        raise BaselineError(f"{name}: the baseline lacks {', '.join(missing)}")
    model, labels, values = document["model"], document["labels"], document["log_probabilities"]
    frames, margin, spread = document["frames"], document["margin"], document.get("spread")
    if not _is_name(model):
        raise BaselineError(f"{name}: \"model\" must be a model's name (one line of text), not {_kind(model)}")
    if not isinstance(labels, list) or not 0 < len(labels) <= MAX_LABELS or not all(map(_is_name, labels)):
        raise BaselineError(f"{name}: \"labels\" must be a list of up to {MAX_LABELS} label names "
                            "(each one line of text)")
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise BaselineError(f"{name}: \"log_probabilities\" must be a list of numbers")
    if not _is_int(frames):
        raise BaselineError(f"{name}: \"frames\" must be a whole number of frames, not {_kind(frames)}")
    if not _is_number(margin):
        raise BaselineError(f"{name}: \"margin\" must be a number, not {_kind(margin)}")
    if spread is not None and not _is_number(spread):
        raise BaselineError(f"{name}: \"spread\" must be a number or null, not {_kind(spread)}")
    try:
        return NeutralBaseline(model, tuple(labels), tuple(float(v) for v in values), frames, float(margin),
                               None if spread is None else float(spread))
    except BaselineError as exc:
        raise BaselineError(f"{name}: {exc}") from None


def nesting_depth(text: str, stop: int = MAX_DEPTH) -> int:
    """The deepest bracket nesting of a JSON text, outside strings (counting stops past ``stop``)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _integer(text: str, name: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise BaselineError(f"{name}: a number with {digits} digits; a baseline file holds none longer "
                            f"than {MAX_DIGITS}")
    return int(text)


def _real(text: str, name: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BaselineError(f"{name}: the number {text[:20]}{'…' if len(text) > 20 else ''} is out of range")
    return value


def _constant(text: str, name: str) -> float:
    raise BaselineError(f"{name}: {text} is not a number a baseline file holds")


def _is_name(value: Any) -> bool:
    """A model's or a label's name: short, printable text (a message that quotes it stays one line)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    """How a wrong value is named in a message: its JSON kind and (short) value."""
    kinds = {bool: "a boolean", str: "text", list: "a list", dict: "an object", type(None): "null",
             float: "a fractional number", int: "a number"}
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    if len(shown) > 40:
        shown = shown[:40] + "…"
    return f"{kinds.get(type(value), type(value).__name__)} {shown}".rstrip()

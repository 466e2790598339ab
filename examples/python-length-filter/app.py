"""python-length-filter: the Python twin of `plugins/length-filter`.

Keeps records whose length lies within bounds. Config (every bound optional):
`min_chars`, `max_chars`, `min_words`, `max_words`; unknown keys and a minimum
above its maximum are refused. Characters are Unicode scalar values (Rust's
`str::chars`); words are runs of non-whitespace (Rust's `str::split_whitespace`).
Drop reasons: `length:too-few-chars`, `length:too-many-chars`,
`length:too-few-words`, `length:too-many-words`.

componentize-py generates the `wit_world` package from `wit/kiln.wit` when it
builds the component (see build.sh); this module implements the exports of the
`filter-plugin` world: the classes `Plugin` and `Filter`.
"""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import (
    PluginInfo,
    PluginKind,
    RecordBatch,
    RecordParts,
    VerdictBatch,
)

NAME = "python-length-filter"
VERSION = "0.1.0"
DESCRIPTION = "keeps records whose length in characters and words lies within bounds"

LICENSE = "Apache-2.0"

FIELDS = ("min_chars", "max_chars", "min_words", "max_words")

# The JSON Schema of the config (`plugin-info.config-schema`): the host checks
# each stage's `config` against it before `configure`, and `kiln plugin
# inspect` prints it. Written by hand here, the same as the one the Rust SDK
# derives for `length-filter`, so that both refuse a config with the same message.
CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Config",
    "description": "Bounds on a record's length; a missing bound is not checked.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "min_chars": {"description": "Fewest characters kept."},
        "max_chars": {"description": "Most characters kept."},
        "min_words": {"description": "Fewest words kept."},
        "max_words": {"description": "Most words kept."},
    },
}
for _property in CONFIG_SCHEMA["properties"].values():
    _property.update({"type": ["integer", "null"], "format": "uint", "minimum": 0})

# The Rust plugin's bounds are `usize`, which is 32 bits in a wasm32 guest.
USIZE_MAX = 2**32 - 1

# The configured bounds, by field; None means "not checked". A component
# instance is single-threaded and `configure` runs once before `filter`, so
# module state is enough (and both export classes can see it).
_bounds: dict[str, int | None] | None = None


def unpack(column: str, ends: list[int]) -> list[str]:
    """Cuts a `record-batch` column into one string per record.

    The `*-ends` offsets are UTF-8 *byte* offsets into the column, but Python
    strings index by code point: `column[start:end]` would cut in the wrong
    place as soon as an earlier record holds a non-ASCII character. So encode
    the column once, slice the bytes, and decode each part.
    """
    data = column.encode("utf-8")
    parts = []
    start = 0
    for end in ends:
        # The host cuts on character boundaries, so each slice decodes. An end
        # before its start gives an empty part, as in the Rust SDK.
        parts.append(data[start:end].decode("utf-8"))
        start = max(start, end)
    return parts


# Rust's `char::is_whitespace` is Unicode's White_Space property. Python's
# `str.split()` also splits on U+001C..U+001F (information separators), which
# are not White_Space: a text holding one needs the exact pattern below.
_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WORD = re.compile(f"[^{_RUST_WHITESPACE}]+")
_NOT_RUST_WHITESPACE = ("\x1c", "\x1d", "\x1e", "\x1f")


def count_words(text: str) -> int:
    """The number of words as Rust's `text.split_whitespace().count()`."""
    if any(c in text for c in _NOT_RUST_WHITESPACE):
        return sum(1 for _ in _WORD.finditer(text))
    return len(text.split())


def verdict(bounds: dict[str, int | None], text: str) -> str | None:
    """The drop reason for `text`, or None to keep it (the Rust plugin's order)."""
    min_chars, max_chars = bounds["min_chars"], bounds["max_chars"]
    if min_chars is not None or max_chars is not None:
        # A str decoded from UTF-8 holds Unicode scalar values: len() counts
        # what Rust's `chars().count()` counts.
        chars = len(text)
        if min_chars is not None and chars < min_chars:
            return "length:too-few-chars"
        if max_chars is not None and chars > max_chars:
            return "length:too-many-chars"
    min_words, max_words = bounds["min_words"], bounds["max_words"]
    if min_words is not None or max_words is not None:
        words = count_words(text)
        if min_words is not None and words < min_words:
            return "length:too-few-words"
        if max_words is not None and words > max_words:
            return "length:too-many-words"
    return None


class _Object(list):
    """A JSON object as its (key, value) pairs, so that duplicate keys can be
    refused, as serde does."""


def _kind(value: object) -> str:
    """How serde names an unexpected JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list) and not isinstance(value, _Object):
        return "sequence"
    return "map"


class ConfigError(Exception):
    pass


def _bound(path: str, value: object) -> int | None:
    """One bound, checked as serde checks an `Option<usize>`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"invalid config at `{path}`: invalid type: {_kind(value)}, expected usize")
    if not 0 <= value <= USIZE_MAX:
        raise ConfigError(f"invalid config at `{path}`: invalid value: integer `{value}`, expected usize")
    return value


def parse_config(config: str) -> dict[str, int | None]:
    """The bounds in `config`, with the Rust plugin's error messages."""
    if not config.strip():
        config = "{}"
    try:
        value = json.loads(config, object_pairs_hook=_Object)
    except json.JSONDecodeError as e:
        raise ConfigError(f"invalid config: {e.msg}") from None
    bounds: dict[str, int | None] = dict.fromkeys(FIELDS)
    if isinstance(value, _Object):
        seen = set()
        for key, v in value:
            if key not in FIELDS:
                expected = ", ".join(f"`{f}`" for f in FIELDS)
                raise ConfigError(f"invalid config at `{key}`: unknown field `{key}`, expected one of {expected}")
            if key in seen:
                raise ConfigError(f"invalid config: duplicate field `{key}`")
            seen.add(key)
            bounds[key] = _bound(key, v)
    elif isinstance(value, list):
        # serde also reads a struct from an array of its fields, in order.
        for i, (key, v) in enumerate(zip(FIELDS, value)):
            bounds[key] = _bound(f"[{i}]", v)
        if len(value) < len(FIELDS):
            raise ConfigError(f"invalid config: invalid length {len(value)}, expected struct Config with 4 elements")
        if len(value) > len(FIELDS):
            raise ConfigError("invalid config: trailing characters")
    else:
        raise ConfigError(f"invalid config: invalid type: {_kind(value)}, expected struct Config")
    for what in ("chars", "words"):
        lo, hi = bounds[f"min_{what}"], bounds[f"max_{what}"]
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"min_{what} ({lo}) is greater than max_{what} ({hi})")
    return bounds


class Plugin(exports.Plugin):
    def info(self) -> PluginInfo:
        return PluginInfo(
            name=NAME,
            version=VERSION,
            kind=PluginKind.FILTER,
            description=DESCRIPTION,
            # Texts only: the host leaves the other columns empty.
            reads=RecordParts(0),
            license=LICENSE,
            config_schema=json.dumps(CONFIG_SCHEMA),
        )

    def configure(self, config: str) -> None:
        global _bounds
        try:
            _bounds = parse_config(config)
        except ConfigError as e:
            raise Err(str(e)) from None
        set_bounds = {k: v for k, v in _bounds.items() if v is not None}
        log.log(log.Level.DEBUG, f"configured with {set_bounds}")


class Filter(exports.Filter):
    def filter(self, records: RecordBatch) -> VerdictBatch:
        if _bounds is None:
            raise RuntimeError("kiln plugin called before `configure`: the host must configure it first")
        reasons: list[str] = []
        numbers: dict[str, int] = {}  # reason -> its 1-based number in `reasons`
        verdicts: list[int] = []
        for text in unpack(records.texts, records.text_ends):
            reason = verdict(_bounds, text)
            if reason is None:
                verdicts.append(0)
                continue
            number = numbers.get(reason)
            if number is None:
                reasons.append(reason)
                number = numbers[reason] = len(reasons)
            verdicts.append(number)
        return VerdictBatch(reasons=reasons, verdicts=verdicts)

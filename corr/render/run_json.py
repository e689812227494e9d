"""``corr run --format json``: the RunResult as stable JSON (``format_version``).

Intervals are written one at a time, as ``RuleResult.iter_intervals()``
gives them: a rule can have hundreds of thousands over its threshold, and
the document (hundreds of MB with breakdowns and critical paths) never
sits in memory whole.

Serialised with orjson.  Measured on the run JSON of kernel-1000000 with
rules/offcpu.yaml (63,989 slow intervals with their breakdowns and critical
paths, 246 MB): the stdlib's ``json.dumps`` 2.55 s, msgspec 0.58 s, orjson
0.43 s (0.56 s for the whole list at once).  orjson is the fastest of the
three on these dicts of ints, short strings and lists, and it appends the
newline of a JSON Lines record itself.  Neither it nor msgspec encodes a
lone surrogate (a string that was not UTF-8, kept as surrogate escapes)
nor an integer past 64 bits: such an object is encoded by the stdlib
instead, its undecoded bytes as ``\\xff`` text (the reader decodes a trace's
strings so already), so that the document is UTF-8 any JSON parser reads.

Format version 2 (orjson) has the keys, values and layout of version 1
(the document indented by two, each interval one line) with orjson's
separators: intervals are compact (``{"start_ns":1,...}``), non-ASCII
characters are written as UTF-8 rather than ``\\u`` escapes, and a float
that is not finite (a trace's NaN) is ``null`` (version 1 wrote ``NaN``,
which is not JSON).
"""

from __future__ import annotations

from ..encoded import EncodedJSON
from .escape import undecoded

NAME = "json"
DESCRIPTION = "JSON"
NEEDS_BLAME = False
FILE_ONLY = False

BATCH = 256            # intervals encoded between two writes


def dumps(obj, indent: bool = False) -> bytes:
    """``obj`` as JSON bytes (indented by two, or compact)."""
    import orjson
    try:
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    except orjson.JSONEncodeError:
        return _stdlib(obj, indent)


def _stdlib(obj, indent: bool) -> bytes:
    """What orjson refuses (lone surrogates, integers past 64 bits), as the stdlib
    writes it; floats that are not finite become null, as orjson makes them, and
    bytes that were not UTF-8 (surrogate escapes) ``\\xff`` text."""
    import json
    return json.dumps(_finite(obj), indent=2 if indent else None,
                      separators=(",", ": ") if indent else (",", ":")).encode("ascii")


def _finite(obj):
    if isinstance(obj, EncodedJSON):
        import json
        return _finite(json.loads(obj.data))
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, str):
        return undecoded(obj)
    if isinstance(obj, dict):
        return {_finite(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def encoder(newline: bool = False):
    """``encode(obj) -> bytes``, compact (and ending with a newline, ``newline``):
    orjson, else the stdlib for what it refuses; values already JSON
    (:class:`EncodedJSON`, ``iter_intervals(encoded=True)``) written as they are."""
    import orjson
    fast, fragment = orjson.dumps, orjson.Fragment
    option = orjson.OPT_APPEND_NEWLINE if newline else 0
    refused = orjson.JSONEncodeError
    end = b"\n" if newline else b""

    def as_is(value):
        if type(value) is EncodedJSON:
            return fragment(value.data)
        raise TypeError(f"{type(value).__name__} is not JSON")

    def encode(obj) -> bytes:
        try:
            return fast(obj, default=as_is, option=option)
        except refused:
            return _stdlib(obj, False) + end
    return encode


def write(result, destination, options) -> None:
    """The JSON document, written to ``destination`` as it is made."""
    out = destination.binary
    all_intervals = options.all_intervals
    doc = result.to_dict(all_intervals, with_intervals=False)
    rules = doc.pop("rules")
    head = dumps(doc, indent=True)
    out.write(head[:-2] + b',\n  "rules": [')
    encode = encoder()
    for n, (rule_doc, rule) in enumerate(zip(rules, result.rules)):
        body = dumps(rule_doc, indent=True).replace(b"\n", b"\n    ")
        out.write((b"," if n else b"") + b"\n    " + body[:-6] + b',\n      "intervals": [')
        # Separators and intervals as items of one list, joined once a batch: no
        # interval's bytes are copied but into the stream's buffer.
        batch = []
        separator = b"\n        "
        for interval in rule.iter_intervals(all_intervals, encoded=True):
            batch.append(separator)
            batch.append(encode(interval))
            separator = b",\n        "
            if len(batch) >= 2 * BATCH:
                out.write(b"".join(batch))
                batch.clear()
        batch.append(b"\n      ]\n    }")
        out.write(b"".join(batch))
    out.write(b"\n  ]\n}\n")


def render(result, all_intervals: bool = False) -> str:
    """The whole document as a string (for tests and small results)."""
    import io

    from .output import Destination, Options
    buffer = io.BytesIO()
    write(result, Destination(buffer), Options(all_intervals=all_intervals))
    return buffer.getvalue().decode("utf-8")

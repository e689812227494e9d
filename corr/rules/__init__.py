"""Rule files: load, check and tune the declarative entry/exit pairing rules.

:func:`load_rules` turns a YAML file (see docs/rules.md) into a checked
:class:`~corr.rules.model.RuleSet`, or raises one ``RuleError`` located at
file:line:col.  Names resolve on first use, so importing ``corr.rules`` (or
the model) does not import ruamel.yaml, jsonschema and lark.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "load_rules": "corr.rules.loader",
    "parse_rules": "corr.rules.loader",
    "apply_overrides": "corr.rules.loader",
    "parse_expression": "corr.rules.expr",
    "parse_duration": "corr.rules.units",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Checked rule files, pickled: a repeat load needs no jsonschema, lark or ruamel.yaml.

Checking a rule file (importing jsonschema and lark, building the expression
grammar, validating against the schema) takes longer than decoding a small
trace.  Once a file has passed, its model is pickled under
``$XDG_CACHE_HOME/corr/rules/`` (``~/.cache/corr/rules/`` by default), named
after a hash of everything the model depends on: the path as given (it is
in every error location), the file's text, ``schema.json`` and the source of
``corr.rules``, corr's and Python's versions.  A changed file or a changed
corr therefore never meets a stale model.

- A file with a mistake raises before anything is written: errors are
  reported exactly as without the cache, every time.
- An entry is sealed with the cache's key (``rules.key`` in its folder,
  :mod:`corr.cache.keys`) and never unpickled unless its seal verifies: an
  entry that cannot be read, does not verify or does not unpickle to a
  rule set (truncated, corrupt, written by something else) is ignored, and
  replaced by a fresh one.  Only regular files are read there: a FIFO or
  a symlink in place of an entry is never waited on nor followed.
- Entries are written to a temporary file and renamed into place, so a
  reader never sees half of one; writing a path's entry removes its
  entries for older texts.
- No writable cache directory: the file is loaded as without a cache.
- ``CORR_NO_RULE_CACHE=1`` (or ``load_rules(path, cache=False)``) turns it off.

Expressions are pickled as their lark-free parse trees and compiled again on
loading (:func:`corr.rules.expr.compile_tree`); the YAML document is parsed
again from the text only if asked for (``RuleSet.document``).
"""

from __future__ import annotations

import os
import pickle
import sys

try:                  # what hashlib.blake2b is, without hashlib's 3 ms of OpenSSL set-up
    from _blake2 import blake2b
except ImportError:   # another Python than CPython
    from hashlib import blake2b

from .. import __version__
from .model import RuleSet

FORMAT = b"corr rule cache 2\n"          # then the seal, then the pickle
DISABLE = "CORR_NO_RULE_CACHE"
KEY = "rules.key"
MAX_ENTRY = 64 << 20


def load(path: str, text: str, build) -> RuleSet:
    """The checked rule set of ``text``: from the cache, else ``build()`` and cache it."""
    directory = cache_directory()
    key = _key(path, text) if directory is not None else None
    if key is None:
        return build()
    entry = os.path.join(directory, f"{_name_hash(path)}-{key}.pickle")
    ruleset = _read(entry, key)
    if ruleset is None:
        ruleset = build()                      # a RuleError leaves the cache untouched
        _write(directory, entry, key, ruleset)
    ruleset.text = text
    return ruleset


def cache_directory() -> str | None:
    """Where entries go, or None when the cache is off or there is no home for it."""
    if os.environ.get(DISABLE, "") not in ("", "0"):
        return None
    from ..cache.settings import xdg_cache_home
    base = xdg_cache_home()
    return None if base is None else os.path.join(base, "corr", "rules")


def _key(path: str, text: str) -> str | None:
    digest = blake2b(FORMAT, digest_size=32)
    for part in (__version__, sys.implementation.cache_tag or "", path, text):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    try:
        digest.update(_code_fingerprint())
    except OSError:                            # no readable source (a zip import...)
        return None
    return digest.hexdigest()


_fingerprint: bytes | None = None


def _code_fingerprint() -> bytes:
    """A hash of ``corr/rules``'s source and schema: what the model is built by."""
    global _fingerprint
    if _fingerprint is None:
        here = os.path.dirname(os.path.abspath(__file__))
        digest = blake2b(digest_size=32)
        for name in sorted(os.listdir(here)):
            if name.endswith(".py") or name == "schema.json":
                with open(os.path.join(here, name), "rb") as f:
                    digest.update(name.encode() + b"\0" + f.read() + b"\0")
        _fingerprint = digest.digest()
    return _fingerprint


def _name_hash(path: str) -> str:
    """The part of an entry's name shared by every text of one path."""
    return blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _read(entry: str, key: str) -> RuleSet | None:
    from ..cache import keys
    try:
        data = keys.read_regular(entry, MAX_ENTRY)
    except OSError:                            # absent, unreadable, not a file: rebuild it
        return None
    start = len(FORMAT) + keys.SEAL_SIZE
    if not data.startswith(FORMAT) or len(data) > MAX_ENTRY or not keys.verifies(
            data[start:], keys.read_key(os.path.join(os.path.dirname(entry), KEY)),
            data[len(FORMAT):start].decode("ascii", "replace")):
        return None                            # not sealed by this cache: never unpickled
    try:
        stored_key, ruleset = pickle.loads(data[start:])
    except Exception:                          # corrupt: rebuild it
        return None
    if stored_key != key or not isinstance(ruleset, RuleSet):
        return None
    return ruleset


def _write(directory: str, entry: str, key: str, ruleset: RuleSet) -> None:
    """Write ``entry`` atomically; remove the same path's older entries.  Never fails."""
    import dataclasses
    import tempfile

    tmp = None
    try:
        # Neither the text (the key stands for it) nor the YAML document (ruamel's).
        bare = dataclasses.replace(ruleset, text=None)
        from ..cache import keys
        data = pickle.dumps((key, bare), protocol=pickle.HIGHEST_PROTOCOL)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        sealing = keys.make_key(os.path.join(directory, KEY))
        if sealing is None:
            return
        data = FORMAT + keys.seal(data, sealing).encode() + data
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pickle", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if os.path.isdir(entry) and not os.path.islink(entry):
            keys.remove_any(entry)             # a folder in its place
        os.replace(tmp, entry)
        tmp = None
        prefix, mine = os.path.basename(entry).split("-", 1)[0] + "-", os.path.basename(entry)
        for name in os.listdir(directory):
            if name.startswith(prefix) and name != mine:
                os.unlink(os.path.join(directory, name))
    except Exception:                          # read-only, full, gone: run without it
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass

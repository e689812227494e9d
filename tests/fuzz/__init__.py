"""corr's fuzz harness: seeded recipes that damage inputs, and the oracle that judges corr on them.

Kept beside the tests (``tests/fuzz/``) so that ``tests/test_fuzz.py`` (the short,
deterministic run inside ``make test``) and ``scripts/fuzz.py`` (the long
campaign) share one implementation; the script puts ``tests/`` on ``sys.path``.
Nothing here imports corr: it runs the installed ``corr`` command as a user
would, so a crash of corr cannot take the harness down.

- :mod:`.recipes` -- a case is a small recipe (kind, mutator, params, seed,
  base); :func:`.recipes.materialise` regenerates its input in a tmp folder.
- :mod:`.trace_mutators`, :mod:`.rule_mutators`, :mod:`.hostile` -- the mutators.
- :mod:`.oracle` -- runs corr (in-process and served) and babeltrace2 on a case
  and lists the problems found.
- :mod:`.campaign` -- generates cases from a seed, runs them on a process
  pool and prints the table of docs/reliability.md.
"""

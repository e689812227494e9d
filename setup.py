"""Build corr's optional C parts.

Everything else is declared in pyproject.toml.  All are optional:

- if the reader's extension cannot be built (no libbabeltrace2-dev), corr
  falls back to its pure-Python native reader; without the engine's core,
  to the Python matcher; without the scheduling core, to the Python model;
  without the perf.data reader, code stacks ask perf script for the maps;
- the ``corr`` command is the native client (scripts/corr_native.c) when it
  compiles, else the Python launcher (scripts/corr).  The native one starts
  a served command in under a millisecond instead of Python's ~15 ms, and
  runs this interpreter when no server answers (docs/server.md).
"""

import json
import os
import sys

from setuptools import Extension, setup
from distutils.command.build_scripts import build_scripts  # setuptools' own copy

FLAGS = ["-O2", "-Wall", "-Wno-missing-field-initializers"]


class BuildScripts(build_scripts):
    """The Python launcher, then the native client over it when a compiler is there."""

    def run(self):
        super().run()
        from distutils.ccompiler import new_compiler
        from distutils.errors import CCompilerError, DistutilsExecError
        from distutils.sysconfig import customize_compiler

        compiler = new_compiler()
        customize_compiler(compiler)
        temp = os.path.join(self.get_finalized_command("build").build_temp, "corr-native")
        try:
            objects = compiler.compile(["scripts/corr_native.c"], output_dir=temp,
                                       macros=[("CORR_PYTHON", json.dumps(sys.executable))],
                                       extra_postargs=FLAGS)
            compiler.link_executable(objects, "corr", output_dir=temp)
        except (CCompilerError, DistutilsExecError) as exc:
            print(f"corr: the native client was not built ({exc}); "
                  "the Python launcher is the corr command", file=sys.stderr)
            return
        os.replace(os.path.join(temp, "corr"), os.path.join(self.build_dir, "corr"))


setup(cmdclass={"build_scripts": BuildScripts}, ext_modules=[
    Extension("corr.reading._fastsink", ["corr/reading/_fastsink.c"],
              libraries=["babeltrace2"], optional=True, extra_compile_args=FLAGS),
    Extension("corr.engine._core", ["corr/engine/_core.c"],
              optional=True, extra_compile_args=FLAGS),
    Extension("corr.sched._native", ["corr/sched/_native.c"],
              optional=True, extra_compile_args=FLAGS),
    Extension("corr.analyses._perfdata", ["corr/analyses/_perfdata.c"],
              optional=True, extra_compile_args=FLAGS),
])

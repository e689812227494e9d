"""Build corr's optional C accelerators.

Everything else is declared in pyproject.toml.  Both extensions are
optional: if the reader's cannot be built (no libbabeltrace2-dev), corr
falls back to its pure-Python native reader; without the engine's core,
to the Python matcher.
"""

from setuptools import Extension, setup

FLAGS = ["-O2", "-Wall", "-Wno-missing-field-initializers"]

setup(ext_modules=[
    Extension("corr.reading._fastsink", ["corr/reading/_fastsink.c"],
              libraries=["babeltrace2"], optional=True, extra_compile_args=FLAGS),
    Extension("corr.engine._core", ["corr/engine/_core.c"],
              optional=True, extra_compile_args=FLAGS),
    Extension("corr.sched._native", ["corr/sched/_native.c"],
              optional=True, extra_compile_args=FLAGS),
])

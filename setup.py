"""Build the optional C accelerator of the trace reader.

Everything else is declared in pyproject.toml.  The extension is optional:
if it cannot be built (no libbabeltrace2-dev), corr falls back to its
pure-Python native reader.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "corr.reading._fastsink", ["corr/reading/_fastsink.c"],
    libraries=["babeltrace2"], optional=True,
    extra_compile_args=["-O2", "-Wall", "-Wno-missing-field-initializers"])])

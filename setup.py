"""Compiles the Cython tiers: native/<family>.pyx -> impls.<family>._cy.

setuptools + Cython rather than meson-python: `pip install -e .` then builds the
extensions in place next to the pure modules, with no extra build tool to install
and no rebuild-on-import step inside the timed figures.
"""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# One .pyx per family; the family name is the file stem.
FAMILIES = sorted(p.stem for p in Path("native").glob("*.pyx"))

extensions = [
    Extension(
        f"impls.{family}._cy",
        [f"native/{family}.pyx"],
        include_dirs=[numpy.get_include(), "native"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for family in FAMILIES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)

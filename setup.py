"""Build script for the one compiled module; everything else is in setup.cfg.

``ldnscreen._kernels`` (plain C, no numpy headers) holds the inner loops of a retrain on a small
review. It is optional: where it cannot be compiled, ``pip install`` goes on and
``ldnscreen.logistic`` uses the same computations written with numpy.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ldnscreen._kernels", ["ldnscreen/_kernels.c"], extra_compile_args=["-O2"], optional=True)])

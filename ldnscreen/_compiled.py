"""The compiled inner loops (``ldnscreen/_kernels.c``), or ``None`` where they are not available.

``pip install`` compiles them where a C compiler is found (``setup.py``); the callers in
:mod:`ldnscreen.logistic` and :mod:`ldnscreen.features` otherwise run the same computations with
numpy and Arrow. ``LDNSCREEN_COMPILED=0`` in the environment at import asks for the latter (to
compare the two).
"""

from __future__ import annotations

import os


def _load():
    if os.environ.get("LDNSCREEN_COMPILED", "1") == "0":
        return None
    try:
        from ldnscreen import _kernels
    except ImportError:  # pragma: no cover - installed where no C compiler was found
        return None
    return _kernels


#: The module ``ldnscreen._kernels``, or ``None``.
kernels = _load()

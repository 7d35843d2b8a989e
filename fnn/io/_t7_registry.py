"""The complete torch7 class registry used by :func:`fnn.load_t7`.

``_t7_modules.py`` holds torch/nn's and cudnn's classes; ``_t7_graph.py`` adds nngraph's
``nn.gModule``, ``_t7_rnn.py`` the rnn package's modules and ``_t7_catalogue.py`` more of nn's
catalogue, each where fnn has the layers.

>>> "nn.Linear" in T7_MODULES
True
"""

from fnn.io import _t7_catalogue, _t7_graph, _t7_rnn  # noqa: F401  (importing them registers their classes)
from fnn.io._t7_modules import T7_MODULES

__all__ = ["T7_MODULES"]

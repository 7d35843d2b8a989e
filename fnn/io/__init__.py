"""Files: checkpoints (safetensors, atomic, checked on load) and PyTorch weights.

* ``_checkpoint.py``: :func:`save` / :func:`load` any pytrees of arrays (params, state,
  optimizer state), with every tree path, shape and dtype checked on load.
* ``_torch.py``: :func:`load_torch_state_dict` / :func:`to_torch_state_dict` map PyTorch
  ``state_dict`` keys onto fnn params by structure.
* ``_t7_read.py``: :func:`read_t7` reads Lua torch7 ``.t7`` files (objects, tables, tensors).
* ``_t7_load.py``: :func:`load_t7` builds an fnn model from a saved torch7 ``nn`` model, class
  by class through the registry :data:`T7_MODULES` (``_t7_registry.py``: ``_t7_modules.py`` for
  nn and cudnn, ``_t7_graph.py`` for nngraph, ``_t7_rnn.py`` for the rnn package).
* ``_tree.py``: how a pytree is described in a file and rebuilt from it.
* ``_safetensors.py``: the one safetensors reader and the one atomic writer.

No pickle anywhere: loading a file never runs code.
"""

from fnn.io._checkpoint import Checkpoint as Checkpoint
from fnn.io._checkpoint import LoadReport as LoadReport
from fnn.io._checkpoint import load as load
from fnn.io._checkpoint import save as save
from fnn.io._t7_load import T7Model as T7Model
from fnn.io._t7_load import build_t7 as build_t7
from fnn.io._t7_load import load_t7 as load_t7
from fnn.io._t7_read import T7Function as T7Function
from fnn.io._t7_read import T7List as T7List
from fnn.io._t7_read import T7Object as T7Object
from fnn.io._t7_read import T7Table as T7Table
from fnn.io._t7_read import read_t7 as read_t7
from fnn.io._t7_registry import T7_MODULES as T7_MODULES
from fnn.io._torch import ImportReport as ImportReport
from fnn.io._torch import TorchImport as TorchImport
from fnn.io._torch import load_torch_state_dict as load_torch_state_dict
from fnn.io._torch import read_safetensors as read_safetensors
from fnn.io._torch import register_layout as register_layout
from fnn.io._torch import save_torch_state_dict as save_torch_state_dict
from fnn.io._torch import to_torch_state_dict as to_torch_state_dict

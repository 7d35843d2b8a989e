"""fnn: torch7's ``nn`` as pure functions on JAX.

Every layer is a :class:`Module` that unpacks into ``(init, apply)``:

>>> import jax, jax.numpy as jnp, fnn
>>> model = fnn.Sequential(fnn.Linear(784, 128), fnn.ReLU(), fnn.Linear(128, 10), fnn.LogSoftMax())
>>> init, apply = model
>>> out_shape, params = init(jax.random.key(0), (-1, 784))
>>> apply(params, jnp.ones((2, 784))).shape
(2, 10)

This module is a flat facade over the sub-namespaces, which are public too:
:mod:`fnn.core` (the Module contract, for writing layers), :mod:`fnn.layers`,
:mod:`fnn.criteria`, :mod:`fnn.train`, :mod:`fnn.io`, :mod:`fnn.errors`, :mod:`fnn.data`,
:mod:`fnn.kernels`, :mod:`fnn.testing`. ``ARCHITECTURE.md`` draws how they depend on each other.
"""

from typing import TYPE_CHECKING, Any

from fnn import core as core
from fnn import criteria as criteria
from fnn import data as data
from fnn import debug as debug
from fnn import errors as errors
from fnn import io as io
from fnn import kernels as kernels
from fnn import layers as layers
from fnn import protocol as protocol
from fnn import testing as testing
from fnn import train as train
from fnn._version import __version__ as __version__
from fnn.core import Module as Module
from fnn.core import Node as Node
from fnn.core import StatefulPair as StatefulPair
from fnn.core import elementwise as elementwise
from fnn.core import format_shape as format_shape
from fnn.core import leaf as leaf
from fnn.criteria import REDUCTIONS as REDUCTIONS
from fnn.criteria import AbsCriterion as AbsCriterion
from fnn.criteria import BCECriterion as BCECriterion
from fnn.criteria import BCELoss as BCELoss
from fnn.criteria import BCEWithLogitsLoss as BCEWithLogitsLoss
from fnn.criteria import ClassNLLCriterion as ClassNLLCriterion
from fnn.criteria import ClassSimplexCriterion as ClassSimplexCriterion
from fnn.criteria import CosineEmbeddingCriterion as CosineEmbeddingCriterion
from fnn.criteria import CosineEmbeddingLoss as CosineEmbeddingLoss
from fnn.criteria import Criterion as Criterion
from fnn.criteria import CrossEntropyCriterion as CrossEntropyCriterion
from fnn.criteria import CrossEntropyLoss as CrossEntropyLoss
from fnn.criteria import DistanceRatioCriterion as DistanceRatioCriterion
from fnn.criteria import DistKLDivCriterion as DistKLDivCriterion
from fnn.criteria import HingeEmbeddingCriterion as HingeEmbeddingCriterion
from fnn.criteria import HingeEmbeddingLoss as HingeEmbeddingLoss
from fnn.criteria import HuberLoss as HuberLoss
from fnn.criteria import KLDivLoss as KLDivLoss
from fnn.criteria import L1Cost as L1Cost
from fnn.criteria import L1HingeEmbeddingCriterion as L1HingeEmbeddingCriterion
from fnn.criteria import L1Loss as L1Loss
from fnn.criteria import MarginCriterion as MarginCriterion
from fnn.criteria import MarginRankingCriterion as MarginRankingCriterion
from fnn.criteria import MarginRankingLoss as MarginRankingLoss
from fnn.criteria import ModuleCriterion as ModuleCriterion
from fnn.criteria import MSECriterion as MSECriterion
from fnn.criteria import MSELoss as MSELoss
from fnn.criteria import MultiCriterion as MultiCriterion
from fnn.criteria import MultiLabelMarginCriterion as MultiLabelMarginCriterion
from fnn.criteria import MultiLabelMarginLoss as MultiLabelMarginLoss
from fnn.criteria import MultiLabelSoftMarginCriterion as MultiLabelSoftMarginCriterion
from fnn.criteria import MultiLabelSoftMarginLoss as MultiLabelSoftMarginLoss
from fnn.criteria import MultiMarginCriterion as MultiMarginCriterion
from fnn.criteria import MultiMarginLoss as MultiMarginLoss
from fnn.criteria import NLLLoss as NLLLoss
from fnn.criteria import ParallelCriterion as ParallelCriterion
from fnn.criteria import SmoothL1Criterion as SmoothL1Criterion
from fnn.criteria import SmoothL1Loss as SmoothL1Loss
from fnn.criteria import SoftMarginCriterion as SoftMarginCriterion
from fnn.criteria import SoftMarginLoss as SoftMarginLoss
from fnn.criteria import SpatialAutoCropMSECriterion as SpatialAutoCropMSECriterion
from fnn.criteria import SpatialClassNLLCriterion as SpatialClassNLLCriterion
from fnn.criteria import WeightedMSECriterion as WeightedMSECriterion
from fnn.criteria import class_simplex as class_simplex
from fnn.data import Dataset as Dataset
from fnn.data import load_digits as load_digits
from fnn.data import load_mnist as load_mnist
from fnn.debug import check_finite as check_finite
from fnn.debug import find_nonfinite as find_nonfinite
from fnn.errors import CheckpointError as CheckpointError
from fnn.errors import ConfigError as ConfigError
from fnn.errors import DataError as DataError
from fnn.errors import DTypeError as DTypeError
from fnn.errors import FnnError as FnnError
from fnn.errors import IndexRangeError as IndexRangeError
from fnn.errors import MissingRNGError as MissingRNGError
from fnn.errors import NonFiniteError as NonFiniteError
from fnn.errors import ParamsError as ParamsError  # issue 14 (rel)
from fnn.errors import ShapeError as ShapeError
from fnn.errors import StatefulModelError as StatefulModelError
from fnn.errors import T7Error as T7Error
from fnn.errors import UsageError as UsageError
from fnn.io import Checkpoint as Checkpoint
from fnn.io import LoadReport as LoadReport
from fnn.io import load as load
from fnn.io import load_t7 as load_t7
from fnn.io import load_torch_state_dict as load_torch_state_dict
from fnn.io import read_t7 as read_t7
from fnn.io import save as save
from fnn.io import save_torch_state_dict as save_torch_state_dict
from fnn.io import to_torch_state_dict as to_torch_state_dict
from fnn.layers import ELU as ELU
from fnn.layers import GELU as GELU
from fnn.layers import GLU as GLU
from fnn.layers import GRU as GRU
from fnn.layers import LSTM as LSTM
from fnn.layers import MM as MM
from fnn.layers import MV as MV
from fnn.layers import RNN as RNN
from fnn.layers import SELU as SELU
from fnn.layers import Abs as Abs
from fnn.layers import AdaptiveAvgPool1d as AdaptiveAvgPool1d
from fnn.layers import AdaptiveAvgPool2d as AdaptiveAvgPool2d
from fnn.layers import AdaptiveAvgPool3d as AdaptiveAvgPool3d
from fnn.layers import AdaptiveMaxPool1d as AdaptiveMaxPool1d
from fnn.layers import AdaptiveMaxPool2d as AdaptiveMaxPool2d
from fnn.layers import AdaptiveMaxPool3d as AdaptiveMaxPool3d
from fnn.layers import Add as Add
from fnn.layers import AddConstant as AddConstant
from fnn.layers import AlphaDropout as AlphaDropout
from fnn.layers import AvgPool1d as AvgPool1d
from fnn.layers import AvgPool2d as AvgPool2d
from fnn.layers import AvgPool3d as AvgPool3d
from fnn.layers import BatchNorm1d as BatchNorm1d
from fnn.layers import BatchNorm2d as BatchNorm2d
from fnn.layers import BatchNorm3d as BatchNorm3d
from fnn.layers import BatchNormalization as BatchNormalization
from fnn.layers import Bilinear as Bilinear
from fnn.layers import Bottle as Bottle
from fnn.layers import CAdd as CAdd
from fnn.layers import CAddTable as CAddTable
from fnn.layers import CAddTensorTable as CAddTensorTable
from fnn.layers import CDivTable as CDivTable
from fnn.layers import Clamp as Clamp
from fnn.layers import CMaxTable as CMaxTable
from fnn.layers import CMinTable as CMinTable
from fnn.layers import CMul as CMul
from fnn.layers import CMulTable as CMulTable
from fnn.layers import Collapse as Collapse
from fnn.layers import Concat as Concat
from fnn.layers import ConcatTable as ConcatTable
from fnn.layers import Constant as Constant
from fnn.layers import Conv1d as Conv1d
from fnn.layers import Conv2d as Conv2d
from fnn.layers import Conv3d as Conv3d
from fnn.layers import ConvTranspose1d as ConvTranspose1d
from fnn.layers import ConvTranspose2d as ConvTranspose2d
from fnn.layers import ConvTranspose3d as ConvTranspose3d
from fnn.layers import Cosine as Cosine
from fnn.layers import CosineDistance as CosineDistance
from fnn.layers import CosineSimilarity as CosineSimilarity
from fnn.layers import CReLU as CReLU
from fnn.layers import CriterionTable as CriterionTable
from fnn.layers import CSubTable as CSubTable
from fnn.layers import DepthConcat as DepthConcat
from fnn.layers import DotProduct as DotProduct
from fnn.layers import Dropout as Dropout
from fnn.layers import Dropout2d as Dropout2d
from fnn.layers import Dropout3d as Dropout3d
from fnn.layers import Embedding as Embedding
from fnn.layers import Euclidean as Euclidean
from fnn.layers import Exp as Exp
from fnn.layers import FastLSTM as FastLSTM
from fnn.layers import FeatureLPPooling as FeatureLPPooling
from fnn.layers import Flatten as Flatten
from fnn.layers import FlattenTable as FlattenTable
from fnn.layers import FractionalMaxPool2d as FractionalMaxPool2d
from fnn.layers import FractionalMaxPool3d as FractionalMaxPool3d
from fnn.layers import GatedLinearUnit as GatedLinearUnit
from fnn.layers import GradientReversal as GradientReversal
from fnn.layers import GroupNorm as GroupNorm
from fnn.layers import GRUCell as GRUCell
from fnn.layers import HardShrink as HardShrink
from fnn.layers import Hardshrink as Hardshrink
from fnn.layers import HardTanh as HardTanh
from fnn.layers import Hardtanh as Hardtanh
from fnn.layers import Identity as Identity
from fnn.layers import Index as Index
from fnn.layers import IndexLinear as IndexLinear
from fnn.layers import Input as Input
from fnn.layers import InstanceNorm1d as InstanceNorm1d
from fnn.layers import InstanceNorm2d as InstanceNorm2d
from fnn.layers import InstanceNorm3d as InstanceNorm3d
from fnn.layers import JoinTable as JoinTable
from fnn.layers import Kmeans as Kmeans
from fnn.layers import L1Penalty as L1Penalty
from fnn.layers import LayerNorm as LayerNorm
from fnn.layers import LayerNormalization as LayerNormalization
from fnn.layers import LeakyReLU as LeakyReLU
from fnn.layers import Linear as Linear
from fnn.layers import LinearNoBias as LinearNoBias
from fnn.layers import LinearWeightNorm as LinearWeightNorm
from fnn.layers import LocalResponseNorm as LocalResponseNorm
from fnn.layers import Log as Log
from fnn.layers import LogSigmoid as LogSigmoid
from fnn.layers import LogSoftMax as LogSoftMax
from fnn.layers import LogSoftmax as LogSoftmax
from fnn.layers import LookupTable as LookupTable
from fnn.layers import LPPool1d as LPPool1d
from fnn.layers import LPPool2d as LPPool2d
from fnn.layers import LPPool3d as LPPool3d
from fnn.layers import LSTMCell as LSTMCell
from fnn.layers import MapTable as MapTable
from fnn.layers import MaskedSelect as MaskedSelect
from fnn.layers import MaskZero as MaskZero
from fnn.layers import Max as Max
from fnn.layers import Maxout as Maxout
from fnn.layers import MaxPool1d as MaxPool1d
from fnn.layers import MaxPool2d as MaxPool2d
from fnn.layers import MaxPool3d as MaxPool3d
from fnn.layers import MaxUnpool1d as MaxUnpool1d
from fnn.layers import MaxUnpool2d as MaxUnpool2d
from fnn.layers import MaxUnpool3d as MaxUnpool3d
from fnn.layers import Mean as Mean
from fnn.layers import Min as Min
from fnn.layers import MixtureTable as MixtureTable
from fnn.layers import Mul as Mul
from fnn.layers import MulConstant as MulConstant
from fnn.layers import Narrow as Narrow
from fnn.layers import NarrowTable as NarrowTable
from fnn.layers import Normalize as Normalize
from fnn.layers import OneHot as OneHot
from fnn.layers import Padding as Padding
from fnn.layers import PairwiseDistance as PairwiseDistance
from fnn.layers import Parallel as Parallel
from fnn.layers import ParallelTable as ParallelTable
from fnn.layers import PartialLinear as PartialLinear
from fnn.layers import PixelShuffle as PixelShuffle
from fnn.layers import Power as Power
from fnn.layers import PReLU as PReLU
from fnn.layers import ReflectionPad2d as ReflectionPad2d
from fnn.layers import ReLU as ReLU
from fnn.layers import ReLU6 as ReLU6
from fnn.layers import Replicate as Replicate
from fnn.layers import ReplicationPad2d as ReplicationPad2d
from fnn.layers import ReplicationPad3d as ReplicationPad3d
from fnn.layers import Reshape as Reshape
from fnn.layers import RNNCell as RNNCell
from fnn.layers import RReLU as RReLU
from fnn.layers import Select as Select
from fnn.layers import SelectTable as SelectTable
from fnn.layers import SeqBRNN as SeqBRNN
from fnn.layers import SeqGRU as SeqGRU
from fnn.layers import SeqLSTM as SeqLSTM
from fnn.layers import Sequencer as Sequencer
from fnn.layers import Sequential as Sequential
from fnn.layers import Sigmoid as Sigmoid
from fnn.layers import SoftMax as SoftMax
from fnn.layers import Softmax as Softmax
from fnn.layers import Softmax2d as Softmax2d
from fnn.layers import SoftMin as SoftMin
from fnn.layers import Softmin as Softmin
from fnn.layers import SoftPlus as SoftPlus
from fnn.layers import Softplus as Softplus
from fnn.layers import SoftShrink as SoftShrink
from fnn.layers import Softshrink as Softshrink
from fnn.layers import SoftSign as SoftSign
from fnn.layers import Softsign as Softsign
from fnn.layers import SparseLinear as SparseLinear
from fnn.layers import SpatialAdaptiveAveragePooling as SpatialAdaptiveAveragePooling
from fnn.layers import SpatialAdaptiveMaxPooling as SpatialAdaptiveMaxPooling
from fnn.layers import SpatialAveragePooling as SpatialAveragePooling
from fnn.layers import SpatialBatchNormalization as SpatialBatchNormalization
from fnn.layers import SpatialContrastiveNormalization as SpatialContrastiveNormalization
from fnn.layers import SpatialConvolution as SpatialConvolution
from fnn.layers import SpatialConvolutionLocal as SpatialConvolutionLocal
from fnn.layers import SpatialConvolutionMap as SpatialConvolutionMap
from fnn.layers import SpatialConvolutionMM as SpatialConvolutionMM
from fnn.layers import SpatialCrossMapLRN as SpatialCrossMapLRN
from fnn.layers import SpatialDepthWiseConvolution as SpatialDepthWiseConvolution
from fnn.layers import SpatialDilatedConvolution as SpatialDilatedConvolution
from fnn.layers import SpatialDilatedMaxPooling as SpatialDilatedMaxPooling
from fnn.layers import SpatialDivisiveNormalization as SpatialDivisiveNormalization
from fnn.layers import SpatialDropout as SpatialDropout
from fnn.layers import SpatialFractionalMaxPooling as SpatialFractionalMaxPooling
from fnn.layers import SpatialFullConvolution as SpatialFullConvolution
from fnn.layers import SpatialFullConvolutionMap as SpatialFullConvolutionMap
from fnn.layers import SpatialLogSoftMax as SpatialLogSoftMax
from fnn.layers import SpatialLPPooling as SpatialLPPooling
from fnn.layers import SpatialMaxPooling as SpatialMaxPooling
from fnn.layers import SpatialMaxUnpooling as SpatialMaxUnpooling
from fnn.layers import SpatialReflectionPadding as SpatialReflectionPadding
from fnn.layers import SpatialReplicationPadding as SpatialReplicationPadding
from fnn.layers import SpatialSoftMax as SpatialSoftMax
from fnn.layers import SpatialSubSampling as SpatialSubSampling
from fnn.layers import SpatialSubtractiveNormalization as SpatialSubtractiveNormalization
from fnn.layers import SpatialUpSamplingBilinear as SpatialUpSamplingBilinear
from fnn.layers import SpatialUpSamplingNearest as SpatialUpSamplingNearest
from fnn.layers import SpatialZeroPadding as SpatialZeroPadding
from fnn.layers import SplitTable as SplitTable
from fnn.layers import Sqrt as Sqrt
from fnn.layers import Square as Square
from fnn.layers import Squeeze as Squeeze
from fnn.layers import Sum as Sum
from fnn.layers import Tanh as Tanh
from fnn.layers import TanhShrink as TanhShrink
from fnn.layers import Tanhshrink as Tanhshrink
from fnn.layers import TemporalConvolution as TemporalConvolution
from fnn.layers import TemporalDynamicKMaxPooling as TemporalDynamicKMaxPooling
from fnn.layers import TemporalMaxPooling as TemporalMaxPooling
from fnn.layers import TemporalRowConvolution as TemporalRowConvolution
from fnn.layers import TemporalSubSampling as TemporalSubSampling
from fnn.layers import Threshold as Threshold
from fnn.layers import Transpose as Transpose
from fnn.layers import Unflatten as Unflatten
from fnn.layers import Unsqueeze as Unsqueeze
from fnn.layers import Upsample as Upsample
from fnn.layers import UpSampling as UpSampling
from fnn.layers import UpsamplingBilinear2d as UpsamplingBilinear2d
from fnn.layers import UpsamplingNearest2d as UpsamplingNearest2d
from fnn.layers import View as View
from fnn.layers import VolumetricAveragePooling as VolumetricAveragePooling
from fnn.layers import VolumetricBatchNormalization as VolumetricBatchNormalization
from fnn.layers import VolumetricConvolution as VolumetricConvolution
from fnn.layers import VolumetricDilatedConvolution as VolumetricDilatedConvolution
from fnn.layers import VolumetricDilatedMaxPooling as VolumetricDilatedMaxPooling
from fnn.layers import VolumetricDropout as VolumetricDropout
from fnn.layers import VolumetricFractionalMaxPooling as VolumetricFractionalMaxPooling
from fnn.layers import VolumetricFullConvolution as VolumetricFullConvolution
from fnn.layers import VolumetricMaxPooling as VolumetricMaxPooling
from fnn.layers import VolumetricMaxUnpooling as VolumetricMaxUnpooling
from fnn.layers import VolumetricReplicationPadding as VolumetricReplicationPadding
from fnn.layers import WeightedEuclidean as WeightedEuclidean
from fnn.layers import WeightNorm as WeightNorm
from fnn.layers import WhiteNoise as WhiteNoise
from fnn.layers import ZeroPad2d as ZeroPad2d
from fnn.layers import ZipTable as ZipTable
from fnn.layers import ZipTableOneToMany as ZipTableOneToMany
from fnn.layers import gModule as gModule
from fnn.layers import kmeans_init_plus as kmeans_init_plus
from fnn.layers import kmeans_init_random as kmeans_init_random
from fnn.layers import l1_penalty as l1_penalty
from fnn.layers import linear_weight_norm_params as linear_weight_norm_params
from fnn.layers import linear_weight_norm_weight as linear_weight_norm_weight
from fnn.layers import lookup_weight as lookup_weight
from fnn.layers import tables as tables
from fnn.protocol import backward as backward
from fnn.protocol import count_parameters as count_parameters
from fnn.protocol import get_parameters as get_parameters
from fnn.protocol import update_parameters as update_parameters
from fnn.summary import summary as summary
from fnn.summary import summary_rows as summary_rows
from fnn.train import Callback as Callback
from fnn.train import CSVLogger as CSVLogger
from fnn.train import StochasticGradient as StochasticGradient
from fnn.train import TensorBoardLogger as TensorBoardLogger
from fnn.train import TrainState as TrainState
from fnn.train import accuracy as accuracy
from fnn.train import ensemble_init as ensemble_init
from fnn.train import evaluate as evaluate
from fnn.train import fit as fit
from fnn.train import load_train_state as load_train_state
from fnn.train import make_eval_step as make_eval_step
from fnn.train import make_train_step as make_train_step
from fnn.train import plot_history as plot_history
from fnn.train import replicate as replicate
from fnn.train import save_train_state as save_train_state
from fnn.train import shard_batch as shard_batch

# Every layer and container constructor in fnn.layers, and every criterion in fnn.criteria
# (torch7 and PyTorch names alike), found by reflection: each is in a conformance registry.
LAYER_NAMES: tuple[str, ...] = testing.layer_constructors()
CRITERION_NAMES: tuple[str, ...] = testing.criterion_constructors()

# Modules of fnn 0.1's flat layout, kept importable as attributes (fnn.conv_kernels, ...)
# so that code written against them keeps working; each access warns (DeprecationWarning).
_MOVED = {
    "checkpoint": "fnn",  # save/load live in fnn.io, the train-state pair in fnn.train; fnn has both
    "interop": "fnn.io",
    "metrics": "fnn.train",
    "plot": "fnn.train",
    "conv_kernels": "fnn.kernels",
    **dict.fromkeys(("criterion", "criteria_base", "criteria_regression", "criteria_classification",
                     "criteria_margin", "criteria_embedding"), "fnn.criteria"),
    **dict.fromkeys(("containers", "linear", "simple", "shaping", "reduction", "lookup", "transfer", "table",
                     "convolution", "conv_torch", "pooling", "spatial", "normalization", "sample_norm", "dropout"),
                    "fnn.layers"),
}


# Hidden from type checkers: a module-level __getattr__ would make every misspelt name "valid".
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _MOVED:
            import importlib
            import warnings

            warnings.warn(f"fnn.{name} moved to {_MOVED[name]}; use the names in fnn or its sub-namespaces",
                          DeprecationWarning, stacklevel=2)
            return importlib.import_module(_MOVED[name])
        raise AttributeError(f"module 'fnn' has no attribute {name!r}")

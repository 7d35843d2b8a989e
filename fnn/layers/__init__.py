"""Layers: torch7's ``nn`` modules (and PyTorch's names for them), each a :class:`~fnn.Module`.

One private file per torch7 family, re-exported here explicitly::

    _containers   Sequential, Concat, ConcatTable, ParallelTable, Parallel, MapTable
    _linear       Linear, Bilinear
    _simple       CMul, CAdd, Add, Mul, MulConstant, AddConstant, Identity, Replicate, Padding
    _shaping      View, Reshape, Transpose, Narrow, Select, Squeeze, Unsqueeze, Flatten, Unflatten
    _reduction    Sum, Mean, Max, Min and the element-wise math layers (Abs, Exp, Log, ...)
    _lookup       LookupTable, Embedding
    _activations  transfer functions (Sigmoid, Tanh, ReLU, SoftMax, ...)
    _table        table layers (JoinTable, SplitTable, CAddTable, ...)
    _conv         convolutions (torch7 and PyTorch names)
    _pool         pooling (max, average, adaptive, LP)
    _spatial      padding and up-sampling
    _batch_norm   batch normalisation (torch7 and PyTorch names)
    _norm         LayerNorm, GroupNorm, InstanceNorm
    _dropout      Dropout, SpatialDropout, VolumetricDropout, AlphaDropout
    _graph        gModule, Input (nngraph's graphs; printing and DOT in _graph_text)
    _rnn_torch7   torch7 rnn package layers: SeqLSTM, SeqGRU, SeqBRNN, FastLSTM, LinearNoBias
    _sequencer    Sequencer, MaskZero, the recurrent step protocol and the scan over time
    _windows      (private) window arithmetic and layout checks shared by the vision files
    _conv_extra   SpatialConvolutionMM/Local/Map, SpatialDepthWiseConvolution, Volumetric
                  Full/Dilated, TemporalRowConvolution, sub-sampling, the connection ``tables``
    _pool_extra   dilated and fractional max pooling, FeatureLPPooling, LPPool
    _unpool       max pooling with indices, Spatial/VolumetricMaxUnpooling, MaxUnpool1d/2d/3d
    _spatial_norm SpatialCrossMapLRN, Spatial(Log)SoftMax, Subtractive/Divisive/Contrastive normalisation
    _resample     PixelShuffle, UpSampling, VolumetricReplicationPadding
    _depth_concat DepthConcat

>>> import jax, fnn.layers as nn
>>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.LogSoftMax())
>>> init, apply = model
>>> init(jax.random.key(0), (-1, 4))[0]
(-1, 2)
"""

from fnn.layers._activations import ELU as ELU
from fnn.layers._activations import GELU as GELU
from fnn.layers._activations import GLU as GLU
from fnn.layers._activations import SELU as SELU
from fnn.layers._activations import GatedLinearUnit as GatedLinearUnit
from fnn.layers._activations import HardShrink as HardShrink
from fnn.layers._activations import Hardshrink as Hardshrink
from fnn.layers._activations import HardTanh as HardTanh
from fnn.layers._activations import Hardtanh as Hardtanh
from fnn.layers._activations import LeakyReLU as LeakyReLU
from fnn.layers._activations import LogSigmoid as LogSigmoid
from fnn.layers._activations import LogSoftMax as LogSoftMax
from fnn.layers._activations import LogSoftmax as LogSoftmax
from fnn.layers._activations import PReLU as PReLU
from fnn.layers._activations import ReLU as ReLU
from fnn.layers._activations import ReLU6 as ReLU6
from fnn.layers._activations import Sigmoid as Sigmoid
from fnn.layers._activations import SoftMax as SoftMax
from fnn.layers._activations import Softmax as Softmax
from fnn.layers._activations import SoftMin as SoftMin
from fnn.layers._activations import Softmin as Softmin
from fnn.layers._activations import SoftPlus as SoftPlus
from fnn.layers._activations import Softplus as Softplus
from fnn.layers._activations import SoftShrink as SoftShrink
from fnn.layers._activations import Softshrink as Softshrink
from fnn.layers._activations import SoftSign as SoftSign
from fnn.layers._activations import Softsign as Softsign
from fnn.layers._activations import Tanh as Tanh
from fnn.layers._activations import TanhShrink as TanhShrink
from fnn.layers._activations import Tanhshrink as Tanhshrink
from fnn.layers._activations import Threshold as Threshold
from fnn.layers._batch_norm import BatchNorm1d as BatchNorm1d
from fnn.layers._batch_norm import BatchNorm2d as BatchNorm2d
from fnn.layers._batch_norm import BatchNorm3d as BatchNorm3d
from fnn.layers._batch_norm import BatchNormalization as BatchNormalization
from fnn.layers._batch_norm import SpatialBatchNormalization as SpatialBatchNormalization
from fnn.layers._batch_norm import VolumetricBatchNormalization as VolumetricBatchNormalization
from fnn.layers._cells import GRUCell as GRUCell
from fnn.layers._cells import LSTMCell as LSTMCell
from fnn.layers._cells import RNNCell as RNNCell
from fnn.layers._composite import CReLU as CReLU
from fnn.layers._composite import LayerNormalization as LayerNormalization
from fnn.layers._composite import Maxout as Maxout
from fnn.layers._containers import Concat as Concat
from fnn.layers._containers import ConcatTable as ConcatTable
from fnn.layers._containers import MapTable as MapTable
from fnn.layers._containers import Parallel as Parallel
from fnn.layers._containers import ParallelTable as ParallelTable
from fnn.layers._containers import Sequential as Sequential
from fnn.layers._conv import Conv1d as Conv1d
from fnn.layers._conv import Conv2d as Conv2d
from fnn.layers._conv import Conv3d as Conv3d
from fnn.layers._conv import ConvTranspose1d as ConvTranspose1d
from fnn.layers._conv import ConvTranspose2d as ConvTranspose2d
from fnn.layers._conv import ConvTranspose3d as ConvTranspose3d
from fnn.layers._conv import SpatialConvolution as SpatialConvolution
from fnn.layers._conv import SpatialDilatedConvolution as SpatialDilatedConvolution
from fnn.layers._conv import SpatialFullConvolution as SpatialFullConvolution
from fnn.layers._conv import TemporalConvolution as TemporalConvolution
from fnn.layers._conv import VolumetricConvolution as VolumetricConvolution
from fnn.layers._conv_extra import SpatialConvolutionLocal as SpatialConvolutionLocal
from fnn.layers._conv_extra import SpatialConvolutionMap as SpatialConvolutionMap
from fnn.layers._conv_extra import SpatialConvolutionMM as SpatialConvolutionMM
from fnn.layers._conv_extra import SpatialDepthWiseConvolution as SpatialDepthWiseConvolution
from fnn.layers._conv_extra import SpatialFullConvolutionMap as SpatialFullConvolutionMap
from fnn.layers._conv_extra import SpatialSubSampling as SpatialSubSampling
from fnn.layers._conv_extra import TemporalRowConvolution as TemporalRowConvolution
from fnn.layers._conv_extra import TemporalSubSampling as TemporalSubSampling
from fnn.layers._conv_extra import VolumetricDilatedConvolution as VolumetricDilatedConvolution
from fnn.layers._conv_extra import VolumetricFullConvolution as VolumetricFullConvolution
from fnn.layers._conv_extra import tables as tables
from fnn.layers._depth_concat import DepthConcat as DepthConcat
from fnn.layers._distance import Cosine as Cosine
from fnn.layers._distance import Euclidean as Euclidean
from fnn.layers._distance import Kmeans as Kmeans
from fnn.layers._distance import WeightedEuclidean as WeightedEuclidean
from fnn.layers._distance import kmeans_init_plus as kmeans_init_plus
from fnn.layers._distance import kmeans_init_random as kmeans_init_random
from fnn.layers._dropout import AlphaDropout as AlphaDropout
from fnn.layers._dropout import Dropout as Dropout
from fnn.layers._dropout import Dropout2d as Dropout2d
from fnn.layers._dropout import Dropout3d as Dropout3d
from fnn.layers._dropout import SpatialDropout as SpatialDropout
from fnn.layers._dropout import VolumetricDropout as VolumetricDropout
from fnn.layers._graph import Input as Input
from fnn.layers._graph import gModule as gModule
from fnn.layers._linear import Bilinear as Bilinear
from fnn.layers._linear import Linear as Linear
from fnn.layers._lookup import Embedding as Embedding
from fnn.layers._lookup import LookupTable as LookupTable
from fnn.layers._lookup import lookup_weight as lookup_weight
from fnn.layers._misc import Collapse as Collapse
from fnn.layers._misc import Constant as Constant
from fnn.layers._misc import OneHot as OneHot
from fnn.layers._misc import TemporalDynamicKMaxPooling as TemporalDynamicKMaxPooling
from fnn.layers._noise import GradientReversal as GradientReversal
from fnn.layers._noise import L1Penalty as L1Penalty
from fnn.layers._noise import RReLU as RReLU
from fnn.layers._noise import WhiteNoise as WhiteNoise
from fnn.layers._noise import l1_penalty as l1_penalty
from fnn.layers._norm import GroupNorm as GroupNorm
from fnn.layers._norm import InstanceNorm1d as InstanceNorm1d
from fnn.layers._norm import InstanceNorm2d as InstanceNorm2d
from fnn.layers._norm import InstanceNorm3d as InstanceNorm3d
from fnn.layers._norm import LayerNorm as LayerNorm
from fnn.layers._pool import AdaptiveAvgPool1d as AdaptiveAvgPool1d
from fnn.layers._pool import AdaptiveAvgPool2d as AdaptiveAvgPool2d
from fnn.layers._pool import AdaptiveAvgPool3d as AdaptiveAvgPool3d
from fnn.layers._pool import AdaptiveMaxPool1d as AdaptiveMaxPool1d
from fnn.layers._pool import AdaptiveMaxPool2d as AdaptiveMaxPool2d
from fnn.layers._pool import AdaptiveMaxPool3d as AdaptiveMaxPool3d
from fnn.layers._pool import AvgPool1d as AvgPool1d
from fnn.layers._pool import AvgPool2d as AvgPool2d
from fnn.layers._pool import AvgPool3d as AvgPool3d
from fnn.layers._pool import MaxPool1d as MaxPool1d
from fnn.layers._pool import MaxPool2d as MaxPool2d
from fnn.layers._pool import MaxPool3d as MaxPool3d
from fnn.layers._pool import SpatialAdaptiveAveragePooling as SpatialAdaptiveAveragePooling
from fnn.layers._pool import SpatialAdaptiveMaxPooling as SpatialAdaptiveMaxPooling
from fnn.layers._pool import SpatialAveragePooling as SpatialAveragePooling
from fnn.layers._pool import SpatialLPPooling as SpatialLPPooling
from fnn.layers._pool import SpatialMaxPooling as SpatialMaxPooling
from fnn.layers._pool import TemporalMaxPooling as TemporalMaxPooling
from fnn.layers._pool import VolumetricAveragePooling as VolumetricAveragePooling
from fnn.layers._pool import VolumetricMaxPooling as VolumetricMaxPooling
from fnn.layers._pool_extra import FeatureLPPooling as FeatureLPPooling
from fnn.layers._pool_extra import FractionalMaxPool2d as FractionalMaxPool2d
from fnn.layers._pool_extra import FractionalMaxPool3d as FractionalMaxPool3d
from fnn.layers._pool_extra import LPPool1d as LPPool1d
from fnn.layers._pool_extra import LPPool2d as LPPool2d
from fnn.layers._pool_extra import LPPool3d as LPPool3d
from fnn.layers._pool_extra import SpatialDilatedMaxPooling as SpatialDilatedMaxPooling
from fnn.layers._pool_extra import SpatialFractionalMaxPooling as SpatialFractionalMaxPooling
from fnn.layers._pool_extra import VolumetricDilatedMaxPooling as VolumetricDilatedMaxPooling
from fnn.layers._pool_extra import VolumetricFractionalMaxPooling as VolumetricFractionalMaxPooling
from fnn.layers._recurrent import GRU as GRU
from fnn.layers._recurrent import LSTM as LSTM
from fnn.layers._recurrent import RNN as RNN
from fnn.layers._reduction import Abs as Abs
from fnn.layers._reduction import Clamp as Clamp
from fnn.layers._reduction import Exp as Exp
from fnn.layers._reduction import Log as Log
from fnn.layers._reduction import Max as Max
from fnn.layers._reduction import Mean as Mean
from fnn.layers._reduction import Min as Min
from fnn.layers._reduction import Normalize as Normalize
from fnn.layers._reduction import Power as Power
from fnn.layers._reduction import Sqrt as Sqrt
from fnn.layers._reduction import Square as Square
from fnn.layers._reduction import Sum as Sum
from fnn.layers._resample import PixelShuffle as PixelShuffle
from fnn.layers._resample import ReplicationPad3d as ReplicationPad3d
from fnn.layers._resample import UpSampling as UpSampling
from fnn.layers._resample import VolumetricReplicationPadding as VolumetricReplicationPadding
from fnn.layers._rnn_torch7 import FastLSTM as FastLSTM
from fnn.layers._rnn_torch7 import LinearNoBias as LinearNoBias
from fnn.layers._rnn_torch7 import SeqBRNN as SeqBRNN
from fnn.layers._rnn_torch7 import SeqGRU as SeqGRU
from fnn.layers._rnn_torch7 import SeqLSTM as SeqLSTM
from fnn.layers._sequencer import MaskZero as MaskZero
from fnn.layers._sequencer import Sequencer as Sequencer
from fnn.layers._shaping import Flatten as Flatten
from fnn.layers._shaping import Narrow as Narrow
from fnn.layers._shaping import Reshape as Reshape
from fnn.layers._shaping import Select as Select
from fnn.layers._shaping import Squeeze as Squeeze
from fnn.layers._shaping import Transpose as Transpose
from fnn.layers._shaping import Unflatten as Unflatten
from fnn.layers._shaping import Unsqueeze as Unsqueeze
from fnn.layers._shaping import View as View
from fnn.layers._simple import Add as Add
from fnn.layers._simple import AddConstant as AddConstant
from fnn.layers._simple import CAdd as CAdd
from fnn.layers._simple import CMul as CMul
from fnn.layers._simple import Identity as Identity
from fnn.layers._simple import Mul as Mul
from fnn.layers._simple import MulConstant as MulConstant
from fnn.layers._simple import Padding as Padding
from fnn.layers._simple import Replicate as Replicate
from fnn.layers._sparse import IndexLinear as IndexLinear
from fnn.layers._sparse import PartialLinear as PartialLinear
from fnn.layers._sparse import SparseLinear as SparseLinear
from fnn.layers._spatial import ReflectionPad2d as ReflectionPad2d
from fnn.layers._spatial import ReplicationPad2d as ReplicationPad2d
from fnn.layers._spatial import SpatialReflectionPadding as SpatialReflectionPadding
from fnn.layers._spatial import SpatialReplicationPadding as SpatialReplicationPadding
from fnn.layers._spatial import SpatialUpSamplingBilinear as SpatialUpSamplingBilinear
from fnn.layers._spatial import SpatialUpSamplingNearest as SpatialUpSamplingNearest
from fnn.layers._spatial import SpatialZeroPadding as SpatialZeroPadding
from fnn.layers._spatial import Upsample as Upsample
from fnn.layers._spatial import UpsamplingBilinear2d as UpsamplingBilinear2d
from fnn.layers._spatial import UpsamplingNearest2d as UpsamplingNearest2d
from fnn.layers._spatial import ZeroPad2d as ZeroPad2d
from fnn.layers._spatial_norm import LocalResponseNorm as LocalResponseNorm
from fnn.layers._spatial_norm import Softmax2d as Softmax2d
from fnn.layers._spatial_norm import SpatialContrastiveNormalization as SpatialContrastiveNormalization
from fnn.layers._spatial_norm import SpatialCrossMapLRN as SpatialCrossMapLRN
from fnn.layers._spatial_norm import SpatialDivisiveNormalization as SpatialDivisiveNormalization
from fnn.layers._spatial_norm import SpatialLogSoftMax as SpatialLogSoftMax
from fnn.layers._spatial_norm import SpatialSoftMax as SpatialSoftMax
from fnn.layers._spatial_norm import SpatialSubtractiveNormalization as SpatialSubtractiveNormalization
from fnn.layers._table import CAddTable as CAddTable
from fnn.layers._table import CDivTable as CDivTable
from fnn.layers._table import CMaxTable as CMaxTable
from fnn.layers._table import CMinTable as CMinTable
from fnn.layers._table import CMulTable as CMulTable
from fnn.layers._table import CosineDistance as CosineDistance
from fnn.layers._table import CSubTable as CSubTable
from fnn.layers._table import DotProduct as DotProduct
from fnn.layers._table import FlattenTable as FlattenTable
from fnn.layers._table import JoinTable as JoinTable
from fnn.layers._table import NarrowTable as NarrowTable
from fnn.layers._table import PairwiseDistance as PairwiseDistance
from fnn.layers._table import SelectTable as SelectTable
from fnn.layers._table import SplitTable as SplitTable
from fnn.layers._table_ops import MM as MM
from fnn.layers._table_ops import MV as MV
from fnn.layers._table_ops import CAddTensorTable as CAddTensorTable
from fnn.layers._table_ops import CosineSimilarity as CosineSimilarity
from fnn.layers._table_ops import Index as Index
from fnn.layers._table_ops import MaskedSelect as MaskedSelect
from fnn.layers._table_ops import MixtureTable as MixtureTable
from fnn.layers._table_ops import ZipTable as ZipTable
from fnn.layers._table_ops import ZipTableOneToMany as ZipTableOneToMany
from fnn.layers._unpool import MaxUnpool1d as MaxUnpool1d
from fnn.layers._unpool import MaxUnpool2d as MaxUnpool2d
from fnn.layers._unpool import MaxUnpool3d as MaxUnpool3d
from fnn.layers._unpool import SpatialMaxUnpooling as SpatialMaxUnpooling
from fnn.layers._unpool import VolumetricMaxUnpooling as VolumetricMaxUnpooling
from fnn.layers._weight_norm import LinearWeightNorm as LinearWeightNorm
from fnn.layers._weight_norm import WeightNorm as WeightNorm
from fnn.layers._weight_norm import linear_weight_norm_params as linear_weight_norm_params
from fnn.layers._weight_norm import linear_weight_norm_weight as linear_weight_norm_weight
from fnn.layers._wrappers import Bottle as Bottle
from fnn.layers._wrappers import CriterionTable as CriterionTable

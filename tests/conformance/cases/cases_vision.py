"""Conformance cases: convolution, pooling, spatial utilities, normalisation and dropout.

Tiny shapes (1-2 channels, 5x5 or 4x4 images, 3x3x3 volumes) keep the checks fast. The
batch-norm layers run the shared checks in evaluation mode (their train mode runs too,
through ``check_layer``'s step 6); dropout layers get a key for train mode and are
checked (deterministic) in evaluation, without finite differences. The PyTorch aliases
share their torch7 twins' builders: they get a few cases without finite differences (their
gradients are compared with PyTorch's in the family test files), keeping the suite fast.
"""

import fnn
from tests.conformance.cases import Case

IMG = (2, 2, 5, 5)
IMG4 = (2, 2, 4, 4)
VOL = (2, 2, 3, 3, 3)

CONVOLUTION = [
    Case("TemporalConvolution", lambda: fnn.TemporalConvolution(2, 3, 2), (2, 5, 2)),
    Case("TemporalConvolution", lambda: fnn.TemporalConvolution(2, 3, 3, 2), (2, 7, 2), id="stride"),
    Case("SpatialConvolution", lambda: fnn.SpatialConvolution(2, 3, 3, 2, 2, 1, 1, 0), IMG),
    Case("SpatialConvolution", lambda: fnn.SpatialConvolution(2, 2, 2, 2, dilW=2, groups=2), IMG, id="groups-dil"),
    Case("SpatialDilatedConvolution", lambda: fnn.SpatialDilatedConvolution(1, 2, 2, 2, 1, 1, 1, 1, 2, 2),
         (2, 1, 5, 5)),
    Case("SpatialFullConvolution", lambda: fnn.SpatialFullConvolution(2, 1, 3, 3, 2, 2, 1, 1, 1, 1), (2, 2, 3, 3)),
    Case("SpatialFullConvolution", lambda: fnn.SpatialFullConvolution(2, 1, 3, 3, 2, 2, 1, 1),
         ((2, 2, 3, 3), (2, 1, 6, 6)), id="ref-table"),
    Case("VolumetricConvolution", lambda: fnn.VolumetricConvolution(1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 1), (2, 1, 3, 4, 4)),
    Case("Conv1d", lambda: fnn.Conv1d(2, 2, 3, padding="same", padding_mode="reflect"), (2, 2, 5), grads=False),
    Case("Conv2d", lambda: fnn.Conv2d(2, 2, 3, stride=2, padding=1), IMG, grads=False),
    Case("ConvTranspose2d", lambda: fnn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, groups=2), (2, 2, 3, 3),
         grads=False),
    Case("Conv3d", lambda: fnn.Conv3d(2, 3, 2, stride=(1, 2, 2), padding=1), VOL, grads=False),
    Case("ConvTranspose1d", lambda: fnn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 2, 4),
         grads=False),
    Case("ConvTranspose3d", lambda: fnn.ConvTranspose3d(2, 2, 2, stride=2, groups=2, bias=False), VOL, grads=False),
]

POOLING = [
    Case("TemporalMaxPooling", lambda: fnn.TemporalMaxPooling(2), (2, 5, 2)),
    Case("SpatialMaxPooling", lambda: fnn.SpatialMaxPooling(2, 2), IMG),
    Case("SpatialMaxPooling", lambda: fnn.SpatialMaxPooling(3, 3, 2, 2, 1, 1, ceil_mode=True), IMG, id="ceil-pad"),
    Case("SpatialAveragePooling", lambda: fnn.SpatialAveragePooling(2, 2), IMG),
    Case("SpatialAveragePooling", lambda: fnn.SpatialAveragePooling(3, 3, 2, 2, 1, 1, True, False), IMG,
         id="ceil-exclude-pad"),
    Case("SpatialAdaptiveMaxPooling", lambda: fnn.SpatialAdaptiveMaxPooling(2, 3), IMG),
    Case("SpatialAdaptiveAveragePooling", lambda: fnn.SpatialAdaptiveAveragePooling(3, 2), IMG),
    Case("SpatialLPPooling", lambda: fnn.SpatialLPPooling(2, 2, 2, 2), IMG),
    Case("VolumetricMaxPooling", lambda: fnn.VolumetricMaxPooling(2, 2, 2), (2, 1, 3, 4, 4)),
    Case("VolumetricAveragePooling", lambda: fnn.VolumetricAveragePooling(2, 2, 2), (2, 1, 3, 4, 4)),
    Case("MaxPool1d", lambda: fnn.MaxPool1d(2), (2, 2, 5), grads=False),
    Case("MaxPool2d", lambda: fnn.MaxPool2d(3, 2, 1, dilation=2), IMG, grads=False),
    Case("MaxPool3d", lambda: fnn.MaxPool3d(2, stride=1, padding=1), VOL, grads=False),
    Case("AvgPool1d", lambda: fnn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 2, 5), grads=False),
    Case("AvgPool2d", lambda: fnn.AvgPool2d(2), IMG4, grads=False),
    Case("AvgPool2d", lambda: fnn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), IMG, grads=False, id="ceil-pad"),
    Case("AvgPool3d", lambda: fnn.AvgPool3d(2, divisor_override=3), (2, 1, 3, 3, 3), grads=False),
    Case("AdaptiveMaxPool2d", lambda: fnn.AdaptiveMaxPool2d((2, 3)), IMG, grads=False),
    Case("AdaptiveAvgPool1d", lambda: fnn.AdaptiveAvgPool1d(2), (2, 2, 5), grads=False),
    Case("AdaptiveMaxPool1d", lambda: fnn.AdaptiveMaxPool1d(3), (2, 2, 5), grads=False),
    Case("AdaptiveMaxPool3d", lambda: fnn.AdaptiveMaxPool3d((1, 2, 2)), VOL, grads=False),
    Case("AdaptiveAvgPool2d", lambda: fnn.AdaptiveAvgPool2d(1), IMG4, grads=False, id="global"),
    Case("AdaptiveAvgPool2d", lambda: fnn.AdaptiveAvgPool2d((3, None)), IMG4, grads=False, id="keep-w"),
    Case("AdaptiveAvgPool3d", lambda: fnn.AdaptiveAvgPool3d((2, 1, 2)), VOL, grads=False),
]

SPATIAL = [
    Case("SpatialZeroPadding", lambda: fnn.SpatialZeroPadding(1, -1, 2, 0), IMG),
    Case("SpatialReflectionPadding", lambda: fnn.SpatialReflectionPadding(1, 2, 1, 0), IMG),
    Case("SpatialReplicationPadding", lambda: fnn.SpatialReplicationPadding(1, 2, 0, 1), IMG),
    Case("SpatialUpSamplingNearest", lambda: fnn.SpatialUpSamplingNearest(2), (2, 1, 3, 3)),
    Case("SpatialUpSamplingBilinear", lambda: fnn.SpatialUpSamplingBilinear(2), (2, 1, 3, 3)),
    Case("ZeroPad2d", lambda: fnn.ZeroPad2d((1, -1, 2, 0)), IMG4, grads=False),
    Case("ReflectionPad2d", lambda: fnn.ReflectionPad2d((1, 0, 2, 1)), IMG, grads=False),
    Case("ReplicationPad2d", lambda: fnn.ReplicationPad2d(1), IMG4, grads=False),
    Case("Upsample", lambda: fnn.Upsample(scale_factor=1.5, mode="bicubic"), (2, 1, 3, 3), grads=False),
    Case("Upsample", lambda: fnn.Upsample(size=4), (2, 1, 3), batched=False, grads=False, id="nearest-1d"),
    Case("UpsamplingNearest2d", lambda: fnn.UpsamplingNearest2d(scale_factor=2), (2, 1, 3, 3), grads=False),
    Case("UpsamplingBilinear2d", lambda: fnn.UpsamplingBilinear2d(size=(4, 5)), (2, 1, 3, 3), grads=False),
]

NORMALIZATION = [
    Case("BatchNormalization", lambda: fnn.BatchNormalization(3), (4, 3)),
    Case("SpatialBatchNormalization", lambda: fnn.SpatialBatchNormalization(2), (3, 2, 3, 3)),
    Case("VolumetricBatchNormalization", lambda: fnn.VolumetricBatchNormalization(2), (3, 2, 2, 2, 2)),
    Case("BatchNorm1d", lambda: fnn.BatchNorm1d(3), (4, 3), grads=False),
    Case("BatchNorm2d", lambda: fnn.BatchNorm2d(2, momentum=None), (3, 2, 3, 3), grads=False),
    Case("BatchNorm2d", lambda: fnn.BatchNorm2d(2, track_running_stats=False), (3, 2, 3, 3), batched=False,
         id="batch-stats"),
    Case("BatchNorm3d", lambda: fnn.BatchNorm3d(2, momentum=0.2), VOL, grads=False),
    Case("LayerNorm", lambda: fnn.LayerNorm(4), (2, 3, 4)),
    Case("GroupNorm", lambda: fnn.GroupNorm(2, 4), (2, 4, 3, 3), batched=False),
    Case("InstanceNorm1d", lambda: fnn.InstanceNorm1d(2), (2, 2, 5)),
    Case("InstanceNorm2d", lambda: fnn.InstanceNorm2d(2, affine=True, track_running_stats=True), (2, 2, 3, 3)),
    Case("InstanceNorm3d", lambda: fnn.InstanceNorm3d(2), (2, 2, 2, 3, 3)),
]

DROPOUT = [
    Case("Dropout", lambda: fnn.Dropout(0.3), (2, 5), train_rng=True, grads=False),
    Case("Dropout", lambda: fnn.Dropout(0.3, v1=True), (2, 5), train_rng=True, grads=False, id="v1"),
    Case("SpatialDropout", lambda: fnn.SpatialDropout(0.3), (2, 2, 3, 3), train_rng=True, grads=False),
    Case("VolumetricDropout", lambda: fnn.VolumetricDropout(0.3), (2, 2, 2, 3, 3), train_rng=True, grads=False),
    Case("AlphaDropout", lambda: fnn.AlphaDropout(0.3), (2, 5), train_rng=True, grads=False),
    Case("Dropout2d", lambda: fnn.Dropout2d(0.3), (2, 2, 3, 3), train_rng=True, grads=False),
    Case("Dropout3d", lambda: fnn.Dropout3d(0.3), (2, 2, 2, 3, 3), train_rng=True, grads=False),
]

CASES = CONVOLUTION + POOLING + SPATIAL + NORMALIZATION + DROPOUT

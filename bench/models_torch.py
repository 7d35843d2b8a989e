"""The PyTorch rows (CPU): eager mode, and ``torch.compile`` where it works offline."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.common import LR, Row


def _cnn_net(model: str) -> Any:
    """ResNet-20 and the VGG-style net of :func:`bench.common.cnn_layers` (NCHW)."""
    from torch import nn

    from bench.models_cnn import STAGES, VGG_CONVS

    if model == "vgg":
        layers: list = []
        for cin, cout, pool in VGG_CONVS:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()] + ([nn.MaxPool2d(2)] if pool else [])
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(2048, 256), nn.ReLU(), nn.Linear(256, 10))

    def conv_bn(cin: int, cout: int, k: int, s: int) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, padding=k // 2, bias=False), nn.BatchNorm2d(cout))

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, s: int) -> None:
            super().__init__()
            self.main = nn.Sequential(conv_bn(cin, cout, 3, s), nn.ReLU(), conv_bn(cout, cout, 3, 1))
            self.short = conv_bn(cin, cout, 1, s) if cin != cout else nn.Identity()

        def forward(self, h: Any) -> Any:
            return nn.functional.relu(self.main(h) + self.short(h))

    blocks = [Block(cin if b == 0 else cout, cout, s if b == 0 else 1) for cin, cout, s in STAGES for b in range(3)]
    return nn.Sequential(conv_bn(3, 16, 3, 1), nn.ReLU(), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, 10))  # fmt: skip


def _net(model: str) -> Any:
    from torch import nn

    if model in ("resnet20", "vgg"):
        return _cnn_net(model)
    if model == "lstm":
        from bench.models_lstm import torch_lstm_net

        return torch_lstm_net()
    if model == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(  # the PyTorch tutorial's LeNet-5
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def _peak_memory(step: Any, resident: int) -> int | None:
    """``resident`` bytes (params, inputs) plus the peak of the bytes allocated during one step,
    from the profiler's allocation records (each op's own allocations, in time order)."""
    import torch

    try:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            step()
        now = peak = 0
        for e in sorted(prof.events(), key=lambda e: e.time_range.start):
            now += e.self_cpu_memory_usage
            peak = max(peak, now)
        return resident + int(peak)
    except Exception:  # noqa: BLE001 - the profiler differs between versions
        return None


def torch_row(model: str, x: Any, y: Any, compiled: bool = False, device: str = "cpu") -> Row:
    """PyTorch eager (or ``torch.compile``) on ``device`` ("cpu" or "cuda": then ``sync`` waits for the GPU)."""
    import torch

    torch.manual_seed(0)
    net = _net(model).to(device=device, dtype=torch.float32)  # float32 whatever torch's default dtype
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    xt, yt = torch.from_numpy(np.array(x)).to(device), torch.from_numpy(np.array(y)).long().to(device)
    fwd = torch.compile(net) if compiled else net
    loss_fn = torch.nn.functional.cross_entropy

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(fwd(xt), yt)
        loss.backward()
        opt.step()

    name = "PyTorch torch.compile" if compiled else "PyTorch eager"
    resident = sum(p.numel() * p.element_size() for p in net.parameters()) + xt.nbytes + yt.nbytes
    if device != "cpu":
        return Row(name, step, torch.cuda.synchronize, lambda: torch.cuda.max_memory_allocated(), "CUDA peak allocated")
    return Row(name, step, lambda: None, lambda: _peak_memory(step, resident), "params + inputs + profiler peak")


def torch_compile_works() -> str | None:
    """None when ``torch.compile`` compiles a tiny function here, else the reason it does not."""
    try:
        import torch

        f = torch.compile(lambda a: torch.relu(a) * 2)
        f(torch.ones(4))
        return None
    except Exception as e:  # noqa: BLE001 - any failure means the row is skipped
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}"

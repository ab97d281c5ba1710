"""Gradient and weight health, measured at ``optimizer.step()`` every N steps.

Per parameter: the gradient's norm and the update/parameter ratio (how far one step moves the
weights); in total: the gradient norm, as ``torch.nn.utils.clip_grad_norm_`` computes it.
Norms are stacked and read in one transfer, so a GPU syncs once per logged step, not once per
layer. Every M steps, percentiles of each weight and gradient go out as ``distribution``
snapshots (the page draws them as bands over steps, as TensorBoard's distributions do).
"""

from __future__ import annotations

from typing import Any

import torch

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
MAX_QUANTILE_INPUT = 1 << 24  # torch.quantile's limit; larger tensors are strided down to it


class GradHealth:
    """Hooks on one optimizer that log grad norms every ``every`` and histograms every ``hist``."""

    def __init__(self, run: Any, model, optimizer, every: int, hist: int | None = None) -> None:
        self.run, self.every, self.hist = run, every, hist
        self.named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self._before: list | None = None
        self._hooks = [
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]

    def _due(self, every: int | None) -> bool:
        return bool(every) and self.run.step % every == 0

    def _before_step(self, optimizer, args, kwargs) -> None:
        step = self.run.step
        if self._due(self.every):
            with_grad = [(name, p) for name, p in self.named if p.grad is not None]
            if with_grad:
                norms = torch.stack(
                    [torch.linalg.vector_norm(p.grad.detach()) for _, p in with_grad]
                )
                total = torch.linalg.vector_norm(norms)
                values = torch.cat([total.reshape(1), norms]).tolist()  # the one transfer
                logged = {"grad/total_norm": values[0]}
                logged.update(
                    {f"grad/norm/{n}": v for (n, _), v in zip(with_grad, values[1:], strict=True)}
                )
                self.run.log(step, **logged)
            self._before = [p.detach().clone() for _, p in self.named]
        if self._due(self.hist):
            for name, p in self.named:
                self._distribution(name, "weight", p.detach(), step)
                if p.grad is not None:
                    self._distribution(f"{name}.grad", "grad", p.grad.detach(), step)

    def _after_step(self, optimizer, args, kwargs) -> None:
        if self._before is None:
            return
        before, self._before = self._before, None
        moved = torch.stack(
            [
                torch.linalg.vector_norm(p.detach() - old)
                for (_, p), old in zip(self.named, before, strict=True)
            ]
        )
        sizes = torch.stack([torch.linalg.vector_norm(p.detach()) for _, p in self.named])
        ratios = (moved / sizes.clamp_min(1e-12)).tolist()
        self.run.log(
            self.run.step,
            **{f"update/ratio/{n}": r for (n, _), r in zip(self.named, ratios, strict=True)},
        )

    def _distribution(self, name: str, kind: str, tensor, step: int) -> None:
        flat = tensor.flatten().float()
        if flat.numel() > MAX_QUANTILE_INPUT:
            flat = flat[:: -(-flat.numel() // MAX_QUANTILE_INPUT)]
        q = torch.tensor(QUANTILES, device=flat.device)
        values = torch.quantile(flat, q).tolist()
        payload = {"name": name, "kind": kind, "q": list(QUANTILES), "values": values}
        self.run.snapshot("distribution", payload, step)

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()

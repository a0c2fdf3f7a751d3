"""The L-BFGS fit behind ``trainer.training.train_head``: the weighted, penalised logistic loss of
several heads over one set of embeddings, each head with its own rows, fitted for any subset of
the heads until the objective settles, the epochs run out or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Report = Callable[[float, list[int], torch.Tensor, torch.Tensor], None]


@dataclass
class Fitted:
    weight: torch.Tensor  # (heads, dim, tags)
    bias: torch.Tensor  # (heads, tags)
    converged: bool


class Problem:
    """The weighted, penalised logistic loss of every head over the whole set, fitted by L-BFGS
    for any subset of the heads."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, rows: torch.Tensor,
                 pos_weight: torch.Tensor, *, l2: float, chunk: int, steps: int) -> None:  # fmt: skip
        self.x, self.y, self.w, self.rows, self.pos_weight = x, y, w, rows, pos_weight
        self.l2, self.chunk, self.steps = l2, chunk, steps

    def fit(
        self,
        heads: list[int],
        weight0: torch.Tensor,
        bias0: torch.Tensor,
        max_epochs: int,
        tolerance: float,
        deadline: float | None,
        report: Report,
    ) -> Fitted:
        x, y, w, chunk = self.x, self.y, self.w, self.chunk
        rows, pos_weight = self.rows[heads], self.pos_weight[heads]
        weight = weight0.requires_grad_(True)
        bias = bias0.requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1, max_iter=self.steps, history_size=20, line_search_fn="strong_wolfe"
        )
        per_photo = float(rows.sum().clamp(min=1))

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            total = torch.zeros(())
            for start in range(0, len(x), chunk):
                part = slice(start, start + chunk)
                logits = torch.einsum("nd,hdt->hnt", x[part], weight) + bias[:, None, :]
                losses = nn.functional.binary_cross_entropy_with_logits(
                    logits,
                    y[part][None].expand_as(logits),
                    reduction="none",
                    pos_weight=pos_weight[:, None, :],
                )
                loss = (losses * w[part][None] * rows[:, part, None]).sum()
                loss.backward()
                total = total + loss.detach()
            penalty = 0.5 * self.l2 * (weight**2).sum()
            penalty.backward()
            return total + penalty.detach()

        previous, converged = float("inf"), False
        for _ in range(max_epochs):
            if deadline is not None and time.monotonic() > deadline:
                break
            loss = float(optimizer.step(closure))  # type: ignore[arg-type]
            converged = abs(previous - loss) < tolerance * max(1.0, abs(loss))
            previous = loss
            report(loss / per_photo, heads, weight.detach(), bias.detach())
            if converged:
                break
        return Fitted(weight.detach(), bias.detach(), converged)

"""One training loop for the supervised models: seeded, fixed threads, early stopping, progress, cancel.

A model here is a ``torch.nn.Module`` whose forward takes the tensors a ``batch(indices)`` function
builds for a set of pairs and returns one logit per pair. Training minimises binary cross-entropy with
Adam and keeps the weights of the epoch with the lowest validation loss, stopping after ``patience``
epochs without improvement; with a checkpoint file it resumes an interrupted training.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gridapp.core.atomic import write_atomically
from gridapp.core.errors import Cancelled, GridappError

#: ``batch(indices) -> tuple of tensors`` for the model's forward
Batch = Callable[[np.ndarray], tuple[torch.Tensor, ...]]
#: ``progress(epoch, epochs, message)``
EpochProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by the supervised models."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 4
    seed: int = 0
    threads: int = 2


def seed_everything(settings: TrainSettings) -> None:
    """Flush denormal floats, fix torch's thread count and seed it, so that a run repeats exactly on the
    same machine at a steady pace."""
    flush_denormals()
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)


def flush_denormals() -> None:
    """Compute with denormal floats (below ~1.2e-38) as zeros.

    As a model trains, some weights and activations decay into the denormal range, which x86 CPUs compute
    in microcode: a DeepDRIM epoch on BEELINE took twice as long by its 25th epoch as at its first. Flushed,
    later epochs cost what the first did, and the outputs change only below float32's smallest normal value.
    The flag is per thread and torch's worker threads copy it when they start, so call this before torch
    first runs in parallel (as :func:`seed_everything` does before setting the thread count).
    """
    torch.set_flush_denormal(True)


def fit(
    model: nn.Module,
    batch: Batch,
    labels: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    settings: TrainSettings,
    *,
    progress: EpochProgress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    checkpoint: Path | None = None,
) -> list[dict]:
    """Train ``model`` in place on the pairs ``train`` (indices into ``labels``), early-stopped on ``validation``.

    With ``checkpoint``, the whole training state is written there after every epoch, and a training that
    finds one there resumes from it: an interrupted or cancelled run continues where it stopped and ends
    with the weights an uninterrupted run would have.

    Returns
    -------
    One record per epoch: ``epoch, train_loss, validation_loss, seconds, cpu_seconds`` (this thread's), and
    ``restored: True`` for the epochs that an earlier run trained.
    """
    target = torch.as_tensor(labels, dtype=torch.float32)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss = nn.BCEWithLogitsLoss()
    state = TrainingState(np.random.default_rng(settings.seed), copy.deepcopy(model.state_dict()))
    if checkpoint is not None and checkpoint.is_file():
        state.restore(checkpoint, model, optimiser)
    for epoch in range(len(state.history), settings.epochs):
        if state.waited >= settings.patience:
            break
        if cancelled():
            raise Cancelled(f"training cancelled before epoch {epoch + 1}")
        started, cpu_started, model_loss = time.perf_counter(), time.thread_time(), 0.0
        model.train()
        shuffled = train[state.order.permutation(len(train))]
        for start in range(0, len(shuffled), settings.batch_size):
            chosen = shuffled[start : start + settings.batch_size]
            optimiser.zero_grad()
            value = loss(model(*batch(chosen)), target[chosen])
            value.backward()
            optimiser.step()
            model_loss += float(value.detach()) * len(chosen)
        validation_loss = float(
            loss(torch.as_tensor(logits(model, batch, validation, settings.batch_size)), target[validation])
        )
        state.history.append(
            {
                "epoch": epoch + 1,
                "train_loss": model_loss / len(train),
                "validation_loss": validation_loss,
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.thread_time() - cpu_started,
            }
        )
        if progress:
            progress(epoch + 1, settings.epochs, f"epoch {epoch + 1}: validation loss {validation_loss:.4f}")
        if validation_loss < state.best - 1e-4:
            state.best, state.best_state, state.waited = validation_loss, copy.deepcopy(model.state_dict()), 0
        else:
            state.waited += 1
        if checkpoint is not None:
            state.save(checkpoint, model, optimiser)
    model.load_state_dict(state.best_state)
    return state.history


@dataclass
class TrainingState:
    """What :func:`fit` carries from epoch to epoch besides the model and optimiser."""

    order: np.random.Generator
    best_state: dict
    best: float = np.inf
    waited: int = 0
    history: list[dict] = field(default_factory=list)

    def save(self, path: Path, model: nn.Module, optimiser: torch.optim.Optimizer) -> None:
        """Write this state, the model's and optimiser's, and torch's random state to ``path`` (atomically)."""
        state = {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "best_state": self.best_state,
            "best": self.best,
            "waited": self.waited,
            "history": self.history,
            "order": self.order.bit_generator.state,
            "torch_random": torch.get_rng_state(),
        }
        write_atomically(path, lambda scratch: torch.save(state, scratch))

    def restore(self, path: Path, model: nn.Module, optimiser: torch.optim.Optimizer) -> None:
        """Load what :meth:`save` wrote into this state, ``model`` and ``optimiser``."""
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        self.best_state, self.best, self.waited, self.history = (
            saved["best_state"],
            saved["best"],
            saved["waited"],
            [{**record, "restored": True} for record in saved["history"]],
        )
        self.order.bit_generator.state = saved["order"]
        torch.set_rng_state(saved["torch_random"])


def logits(model: nn.Module, batch: Batch, indices: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """The model's logits for ``indices``, in evaluation mode and without gradients."""
    model.eval()
    with torch.no_grad():
        parts = [model(*batch(indices[s : s + batch_size])) for s in range(0, len(indices), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.float32)


def probabilities(model: nn.Module, batch: Batch, indices: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Predicted probability that each pair is a link."""
    return 1.0 / (1.0 + np.exp(-logits(model, batch, indices, batch_size).astype(np.float64)))


def save_model(model: nn.Module, folder: str | Path, metadata: dict) -> Path:
    """Write ``model.pt`` (weights) and ``model.json`` (``metadata``: model kind, its settings, genes,
    data fingerprint) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "model.json").write_text(json.dumps(metadata, indent=1, default=_plain))
    return folder


def load_state(folder: str | Path) -> tuple[dict, dict]:
    """The weights and the metadata that :func:`save_model` wrote."""
    folder = Path(folder)
    if not (folder / "model.pt").is_file() or not (folder / "model.json").is_file():
        raise GridappError(f"{folder}: no saved model (model.pt + model.json).", "Train one first.")
    return torch.load(folder / "model.pt", weights_only=True), json.loads((folder / "model.json").read_text())


def _plain(value: object) -> object:
    if isinstance(value, TrainSettings):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

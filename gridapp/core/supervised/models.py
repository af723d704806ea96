"""The two supervised architectures: DeepDRIM's two-branch CNN and an scGREAT-style pair transformer.

DeepDRIM (Chen et al. 2021): one CNN reads the pair's primary image; a second CNN, shared across
images, reads each of the 2n + 2 neighbour images, whose features are concatenated; both feed a dense
classifier. scGREAT (Wang et al. 2024): each gene becomes a token, a TF–gene pair is a two-token
sequence run through a transformer encoder, and a classifier reads the encoded pair. scGREAT's tokens
add BioBERT embeddings of gene descriptions; that pretrained language model is not available offline,
so tokens here come from expression alone (a linear embedding of the gene's standardised profile over
cells) plus a learned TF / target role embedding, and the classifier also reads the product of the two
tokens (a learned co-variation of the profiles), without which the model learns which genes are
often targets rather than how a pair co-varies, and fails on TFs it has not seen. On BEELINE's splits its
validation loss is lowest after a few epochs and one model's test AUROC varies by ~0.03 between seeds, so
the method averages the logits of five models trained from successive seeds (:class:`Ensemble`).
"""

from __future__ import annotations

import torch
from torch import nn

#: width of the image and pair features
FEATURES = 64


def image_cnn(features: int = FEATURES) -> nn.Sequential:
    """A small CNN from one 32 × 32 image to ``features`` values.

    Each block pools before its ReLU: ``relu(maxpool(x)) == maxpool(relu(x))`` (ReLU is monotone), so the
    outputs and gradients are those of the usual conv → ReLU → pool order with a quarter of the ReLU work.
    Layer indices are the same in both orders, so saved weights load either way.
    """
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, features),
        nn.ReLU(),
    ).to(memory_format=torch.channels_last)


def as_images(images: torch.Tensor) -> torch.Tensor:
    """n × 32 × 32 images as the n × 1 × 32 × 32 channels-last batch :func:`image_cnn` reads fastest
    (oneDNN's convolutions and pooling run ~1.7× faster on CPU in that layout)."""
    return images.unsqueeze(1).contiguous(memory_format=torch.channels_last)


class DeepDRIM(nn.Module):
    """One logit per pair from its primary image and its two genes' neighbour images.

    ``forward(primary, stacks, tf_slot, target_slot)``: ``primary`` is batch × 32 × 32; ``stacks`` holds
    the neighbour images (the gene against itself and its n neighbours) of each distinct gene of the
    batch, genes × (n + 1) × 32 × 32; ``tf_slot`` / ``target_slot`` give each pair's two genes as rows of
    ``stacks``. A gene's neighbour features are computed once per batch and shared by all its pairs
    (the same values and gradients as reading the 2n + 2 images pair by pair, at a fraction of the
    cost when TFs recur across pairs).
    """

    def __init__(self, n_neighbour_images: int, *, features: int = FEATURES, dropout: float = 0.5) -> None:
        super().__init__()
        self.primary = image_cnn(features)
        self.neighbour = image_cnn(features)
        self.neighbours = nn.Sequential(nn.Linear(n_neighbour_images * features, features), nn.ReLU())
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * features, features), nn.ReLU(), nn.Linear(features, 1)
        )

    def forward(
        self, primary: torch.Tensor, stacks: torch.Tensor, tf_slot: torch.Tensor, target_slot: torch.Tensor
    ) -> torch.Tensor:
        genes, per_gene = stacks.shape[:2]
        each = self.neighbour(as_images(stacks.reshape(genes * per_gene, *stacks.shape[2:]))).reshape(genes, -1)
        neighbours = self.neighbours(torch.cat([each[tf_slot], each[target_slot]], dim=1))
        return self.head(torch.cat([self.primary(as_images(primary)), neighbours], dim=1)).squeeze(1)


class PairTransformer(nn.Module):
    """TF and target profiles (batch × n_features each) → one logit per pair, through a transformer encoder."""

    def __init__(
        self, n_features: int, *, width: int = FEATURES, heads: int = 4, layers: int = 2, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(n_features, width), nn.LayerNorm(width))
        self.role = nn.Parameter(torch.zeros(2, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(3 * width, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 1))

    def forward(self, tf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        tf_token, target_token = self.embed(tf), self.embed(target)
        encoded = self.encoder(torch.stack([tf_token, target_token], dim=1) + self.role)
        # the tokens' product lets the head read how the two profiles co-vary, not only which genes they are
        return self.head(torch.cat([encoded.flatten(1), tf_token * target_token], dim=1)).squeeze(1)


class Ensemble(nn.Module):
    """Models of one architecture trained from different seeds; a pair's logit is the mean of theirs
    (steadier than any one model when training stops early on a small validation set)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(*inputs) for member in self.members]).mean(dim=0)

"""Linear CKA (Kornblith et al., ICML 2019), streamed over batches (Nguyen, Raghu and Kornblith, ICLR 2021).

Pure torch, no other package imports: the math only, tested against its definition.

CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with the linear kernels K = X X^T, L = Y Y^T.
The whole-set estimate needs n x n Gram matrices (10,000 images: 800 MB each) or, in feature
space, D x D covariances (a flattened conv1 of CaffeNet: 70k features). The minibatch estimator
needs neither: HSIC is estimated on each batch of m images with the unbiased estimator HSIC_1
(Song et al., JMLR 2012), which has no 1/m bias to accumulate, and averaged over batches; CKA is
the ratio of the averages. It estimates the same population quantity as the whole-set unbiased
CKA, with a sampling error that shrinks with the number of images (tests/similarity/test_similarity.py
measures it), and costs m^2 x D per batch whatever D is.
"""

import math
from collections import defaultdict

import torch

MIN_BATCH = 4  # HSIC_1 divides by m (m - 3)


def gram(features: torch.Tensor) -> torch.Tensor:
    """The linear kernel of a batch, in float64 for the cancellations of HSIC_1: (m, ...) -> (m, m).
    Activations of any shape are flattened, one feature per channel and position."""
    x = features.flatten(1).float()
    return (x @ x.T).double()


def unbiased_hsic(K: torch.Tensor, L: torch.Tensor) -> float:
    """HSIC_1 (Song et al. 2012) of two m x m kernel matrices: an unbiased estimate of HSIC."""
    m = K.shape[0]
    if m < MIN_BATCH:
        raise ValueError(f"the unbiased HSIC needs at least {MIN_BATCH} examples per batch, got {m}")
    K = K - torch.diag(torch.diagonal(K))
    L = L - torch.diag(torch.diagonal(L))
    trace_kl = (K * L).sum()  # tr(K L) for symmetric K, L without forming K L
    cross = (K.sum(1) * L.sum(1)).sum()  # 1^T K L 1
    value = trace_kl + K.sum() * L.sum() / ((m - 1) * (m - 2)) - 2 * cross / (m - 2)
    return float(value / (m * (m - 3)))


class StreamedCKA:
    """Linear CKA of named pairs of representations, from HSIC_1 averaged over the batches given to update().

    Every representation is fed the same images in the same batches; each self-HSIC is computed once
    per batch however many pairs use it.
    """

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = list(pairs)
        self.terms = sorted({*self.pairs, *((name, name) for pair in self.pairs for name in pair)})
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.batches = 0

    def update(self, features: dict[str, torch.Tensor]) -> None:
        grams = {name: gram(x) for name, x in features.items()}
        for a, b in self.terms:
            self.sums[(a, b)] += unbiased_hsic(grams[a], grams[b])
        self.batches += 1

    def value(self, a: str, b: str) -> float:
        """CKA of the pair (a, b) over every batch so far."""
        denominator = self.sums[(a, a)] * self.sums[(b, b)]
        return self.sums[(a, b)] / math.sqrt(denominator) if denominator > 0 else float("nan")


def batch_rows(n: int, batch_size: int) -> tuple[torch.Tensor, ...]:
    """Rows 0..n-1 in n // batch_size near-equal consecutive batches: each holds at least batch_size
    (a short last batch would be the noisiest estimate, and one under 4 has none)."""
    return torch.arange(n).tensor_split(max(1, n // batch_size))


def streamed_cka(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """CKA of two representations of the same n examples, streamed in batches (batch_rows);
    batch_size >= n is the whole-set estimate."""
    cka = StreamedCKA([("x", "y")])
    for rows in batch_rows(len(x), batch_size):
        cka.update({"x": x[rows], "y": y[rows]})
    return cka.value("x", "y")


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """The definition (Kornblith et al. 2019, eq. 6): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)
    with column-centred X_c, Y_c: the biased whole-set estimate, for checking the streamed one."""
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    x, y = x - x.mean(0), y - y.mean(0)
    return float((y.T @ x).norm() ** 2 / ((x.T @ x).norm() * (y.T @ y).norm()))

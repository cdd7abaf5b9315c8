"""Gene edits mapped to μ through the decoder, so that an edit moves the latent as the data's co-expression does.

Encoding an edited profile (``generate.edit="encoder"``) asks the encoder about a profile it never saw: a
few genes ×8 among thousands, with their partners unchanged, lies off the data's manifold, and the
encoder, which pools over all genes, barely moves μ. ``"decoder"`` instead searches for the μ whose
decoded profile carries the edit on the edited genes while the other genes stay where the unedited μ
decodes them:

    minimise  mean_E (d(μ) − d(μ₀) − Δ)²  +  w · mean_¬E (d(μ) − d(μ₀))²

from μ₀ = encode(profile), with d the decoder, Δ the edit in z-scores on the edited genes E and w
``generate.edit_keep_weight``. The edit is applied to the model's own reconstruction, so a zero edit
returns μ₀ exactly; genes that co-vary with E in the training data move with them, because the decoder
draws profiles like the training ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rnagan.vae.latent import LoadedVAE


def fit_edited_latents(
    loaded: LoadedVAE,
    mu: np.ndarray,
    delta: np.ndarray,
    edited: Sequence[str],
    *,
    steps: int,
    lr: float,
    keep_weight: float,
) -> np.ndarray:
    """μ (n, latent_dim) moved from ``mu`` until its decoded profile changes by ``delta`` (n, genes: z-scores in
    the model's gene order) on the ``edited`` genes and as little as it can elsewhere; Adam, ``steps`` steps."""
    device, model = loaded.device, loaded.model.eval()
    on_edit = torch.zeros(len(loaded.genes), dtype=torch.bool, device=device)
    on_edit[[loaded.genes.index(g) for g in edited]] = True
    start = torch.from_numpy(np.asarray(mu, dtype=np.float32)).to(device)
    with torch.no_grad():
        target = model.decode(start) + torch.from_numpy(np.asarray(delta, dtype=np.float32)).to(device) * on_edit
    moved = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([moved], lr=lr)
    for _ in range(steps):
        error = (model.decode(moved) - target).square()
        rest = error[:, ~on_edit]
        loss = error[:, on_edit].mean() + (keep_weight * rest.mean() if rest.numel() else 0.0)
        (moved.grad,) = torch.autograd.grad(loss, [moved])  # the decoder's weights and their gradients stay as they are
        optimizer.step()
    return moved.detach().cpu().numpy()

"""The β-VAE stage: the network (``model``), its training loop (``train``), the latent space (``latent``), figures."""

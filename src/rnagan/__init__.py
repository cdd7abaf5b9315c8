"""rnagan: gene expression to histology.

A β-VAE compresses an RNA-seq profile into a latent vector μ; a WGAN-GP generator, conditioned on
μ through its input and a projection critic, draws H&E tiles that follow the expression.
"""

__version__ = "0.1.0"

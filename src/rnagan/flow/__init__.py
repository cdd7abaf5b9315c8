"""A second generator family: conditional flow matching (rectified flow) from the standardised μ.

Three layers, as in lucidrains' denoising-diffusion (Unet / GaussianDiffusion / Trainer):
:mod:`rnagan.flow.model` is the velocity network (diffusers' U-Net, μ added to its time embedding),
:class:`~rnagan.flow.objective.FlowMatching` owns the loss, the guidance and the ODE solve, and
:func:`rnagan.flow.train.train_flow` is the loop on the run layer. A run lives beside the GAN runs in
``gan/<run>/``, so ``rnagan generate`` and ``rnagan evaluate`` treat both families alike.
"""

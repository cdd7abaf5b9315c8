"""The image stage: a model of H&E tiles alone, trained on unpaired tiles (any tile store, any cohort).

It lifts the conditional GAN's small tiles to the scale pathologists read: a ×4 super-resolution
network (``Upsampler``) conditioned only on the low-resolution tile, so one trained stage serves every
expression model and cohort. The conditional stage stays small (64 px), where paired data suffices.
"""

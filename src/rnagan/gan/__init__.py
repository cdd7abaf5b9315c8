"""The RNA-GAN stage: networks (``model``), objective, paired data (``data``), the loop (``train``), ``sample``."""

"""Spatial transcriptomics sections (H&E image + spot expression) → the workspace's tiles and expression.

A section becomes one sample per spot (the section is its slide, the patient its donor): patches cut
around each spot centre go to the tile store, the spot's raw counts to an expression table that
``rnagan expr prepare`` (or ``rnagan spatial prepare``) reads like any other cohort. See docs/spatial.md.
"""

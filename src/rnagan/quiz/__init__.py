"""The reader study: a web quiz (real or synthetic?) and a blinded expert rating form, with their statistics.

``tiles`` builds a uniform pool of re-encoded tiles, ``db`` stores every answer, ``app`` serves the pages,
``stats`` and ``results`` turn the answers into the numbers and figures a reviewer expects.
"""

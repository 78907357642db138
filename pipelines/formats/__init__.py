"""Formats: one parser per file format, all with the signature ``parse(path, ctx) -> ParseResult``.

``registry`` names the formats and finds their parser; ``base`` holds what every parser shares; ``detect``
recognises a format from a file's content.

Guarantees: a parser returns canonical rows and one reject per (line, field) it cannot read, or raises
``FileRejected`` naming why the whole file cannot be trusted (bad structure, control totals that disagree).
Adding a format is one module, one sample, one test, one line in ``registry``.
"""

"""``recon``: the command-line interface (``main``), ``recon rules explain|diff`` (``rules``) and
``recon inspect`` (``inspect``).
"""

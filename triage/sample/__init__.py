"""Benign sample data built at run time for tests, demos and benchmarks.

Nothing here is evidence: disk images are made from dictionaries of bytes with
the ordinary Debian filesystem tools (see :mod:`triage.sample.disk`).
"""

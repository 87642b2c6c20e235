"""Per-agent (Mesa-example style) reference implementation of the brusim market model.

Never imported by ``src/brusim``; used by ``tests/test_reference.py`` and ``benchmarks/``.
"""

"""Tocsin's ingestion and paging benchmarks: ``make bench`` (``python -m bench --help``)."""

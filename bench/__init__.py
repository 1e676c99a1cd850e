"""Benchmarks: each result is a ratio measured in one run (see DESIGN.md, "Performance work")."""

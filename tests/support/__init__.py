"""Helpers the tests share: plain functions, classes and constants, imported by test modules
and conftest files alike. Fixtures stay in the conftest files."""

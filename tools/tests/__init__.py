"""Tests of the Python tools; run from the repository root:
    /usr/bin/python3 -m unittest discover -s tools/tests -t tools
(-t tools puts tools/ on the import path, so the tests import the dallevk package and the scripts)."""

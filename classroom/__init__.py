"""The classroom page: the corridor live in a browser, for lecturers and their students.

It uses `model/` only (never `analysis/`); `corridor classroom` serves it. See app.py.
"""

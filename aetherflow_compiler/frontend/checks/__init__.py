"""Semantic checks over a loaded flow, profiles or scheduler file.

Each module checks one concern and returns diagnostics. They run after the schema check,
on whatever parts of the document are well-formed, so one run reports every problem.
"""

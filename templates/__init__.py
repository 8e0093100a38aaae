"""Jinja2 templates of the files the compiler generates (shipped as package data)."""

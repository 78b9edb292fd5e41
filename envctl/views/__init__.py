"""Renderers: pure functions turning results into rich renderables, text or dicts (output.py prints them)."""

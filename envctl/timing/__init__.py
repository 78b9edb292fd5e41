"""Timing: spans recorded during a run, the run history, and their analysis."""

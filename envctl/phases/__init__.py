"""Phases of `envctl up`: build, load, cluster, deploy, wait; each behind a narrow interface."""

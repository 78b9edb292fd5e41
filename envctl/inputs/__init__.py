"""Inputs: Dockerfile → sources, .dockerignore, git snapshots, fingerprints (no docker imports)."""

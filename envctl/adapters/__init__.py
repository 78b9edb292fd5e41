"""Adapters: one per external tool; argv strings live only here."""

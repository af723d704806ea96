"""Dash layout and thin callbacks over the core, jobs and figures layers."""

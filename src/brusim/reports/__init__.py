"""Figures and reports built from run and comparison results."""

"""Shared helpers of the Streamlit pages: cached resources, sidebar settings, per-page rendering.

Pages import from here and from ``fer_core``; the computing lives in ``fer_core``.
"""

"""Renderers: each turns a finished result object into one output format.

Renderers never read a trace; they only format what an analysis returned.
"""

"""Test support: factories of events and rows the tests share (never imported by shipped code)."""

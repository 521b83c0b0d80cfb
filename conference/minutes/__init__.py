"""Structured minutes of a meeting: drafts saved as typed, signed final versions, amendments."""

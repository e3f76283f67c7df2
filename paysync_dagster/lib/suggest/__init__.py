"""Assisted suggestions for the mapping file: found, scored and explained here; a person accepts or rejects them."""

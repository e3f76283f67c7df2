"""Sage Pro (the retired Visual FoxPro suite): read its tables, never write them (spec sage_pro.md §6)."""

"""The bottom layer: the product vocabulary every app speaks (no imports from the apps)."""

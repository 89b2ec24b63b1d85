"""Placeholder; filled in by the core node work."""

NODE_CLASSES: list = []

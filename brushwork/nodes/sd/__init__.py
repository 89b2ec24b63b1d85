"""Stable Diffusion nodes (torch and diffusers, imported only when a node runs)."""

NODE_CLASSES: list = []

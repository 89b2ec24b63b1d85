"""brushwork: a durable, ComfyUI-compatible node-graph engine built on an event log."""

__version__ = "0.1.0"

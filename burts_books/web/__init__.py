"""HTTP and WebSocket handlers, grouped by area; thin by design."""

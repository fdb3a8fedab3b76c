"""Live updates over an API Gateway WebSocket API: connections, subscriptions, fan-out and replay (issue 16)."""

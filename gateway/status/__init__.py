"""The read-only status page, its JSON and Prometheus metrics, served by the gateway itself when
the config has a [status] table; only the daemon's wiring imports this room (lazily: the web
stack is loaded only when [status] is configured)."""

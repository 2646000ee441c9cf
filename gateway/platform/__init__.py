"""The reference receiver: what a city platform (or a pilot) runs to take the gateways' uplinks.

`wellgate platform serve --config F` receives batches over HTTPS (FastAPI, OpenAPI at
/openapi.json) and from an MQTT broker; `wellgate platform report --config F` lists what each
gateway delivered. Modules: config (its TOML), db (its SQLite), receiver (the checks and storing,
for both transports), http, mqtt, serve, report. docs/platform.md tells how to run it.
"""

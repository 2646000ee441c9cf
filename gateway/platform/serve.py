"""`wellgate platform serve`: the receiver on HTTPS (uvicorn) and/or MQTT, until SIGTERM/Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import signal
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from gateway.platform.config import PlatformConfig
from gateway.platform.http import make_app
from gateway.platform.mqtt import MqttReceiver
from gateway.platform.receiver import Receiver
from gateway.uplink.transport import tls_context

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM or Ctrl-C ends serve() normally (uvicorn re-raises the
    signal after its shutdown, which would skip closing the database and the MQTT session)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self.handle_exit)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def make_receiver(config: PlatformConfig) -> Receiver:
    return Receiver(config.database, config.keys,
                    max_batch_bytes=int(config.receiver.max_batch_mb * 1024 * 1024),
                    ack_key=config.load_ack_key())


def https_server(config: PlatformConfig, receiver: Receiver, port: int | None = None,
                 app_wrapper=None) -> uvicorn.Server:
    """A uvicorn server for the [https] section (port overrides it: tests use a free port)."""
    https = config.https
    if https is None:
        raise ValueError("the config has no [https] table")
    app = make_app(receiver)
    if app_wrapper is not None:
        app = app_wrapper(app)
    client_ca = config.path(https.client_ca) if https.client_ca else None
    server_config = uvicorn.Config(
        app, host=https.host, port=https.port if port is None else port,
        ssl_certfile=str(config.path(https.certificate)),
        ssl_keyfile=str(config.path(https.private_key)),
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
        log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    return _Server(server_config)


def mqtt_receiver(config: PlatformConfig, receiver: Receiver) -> MqttReceiver:
    mqtt = config.mqtt
    if mqtt is None:
        raise ValueError("the config has no [mqtt] table")
    context = None
    if mqtt.ca_file:
        context = tls_context(config.path(mqtt.ca_file),
                              config.path(mqtt.certificate) if mqtt.certificate else None,
                              config.path(mqtt.private_key) if mqtt.private_key else None)
    return MqttReceiver(receiver, mqtt.host, mqtt.port, mqtt.topic_prefix, mqtt.client_id,
                        context, mqtt.username, mqtt.password)


def serve(config: PlatformConfig) -> None:
    """Run every configured listener until a signal stops the HTTPS server (or, with MQTT only,
    until Ctrl-C / SIGTERM)."""
    receiver = make_receiver(config)
    subscriber = None
    if config.mqtt is not None:
        subscriber = mqtt_receiver(config, receiver)
        subscriber.start()
    try:
        if config.https is not None:
            log.warning("receiving on https://%s:%d/v1/batches (database %s)", config.https.host,
                        config.https.port, Path(config.database))
            https_server(config, receiver).run()
        else:
            _wait_for_signal()
    finally:
        if subscriber is not None:
            subscriber.stop()
        receiver.close()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()

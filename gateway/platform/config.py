"""The reference receiver's config: one TOML file with its database, listeners and gateway registry.

    [receiver]
    database = "platform.db"            # relative paths are relative to this file

    [https]                             # optional: the HTTPS listener
    host = "0.0.0.0"
    port = 8443
    certificate = "tls/server.pem"      # PEM chain, and its private key
    private_key = "tls/server.key"
    client_ca = "tls/gateways-ca.pem"   # optional: require client certificates signed by it

    [mqtt]                              # optional: subscribe to a broker
    host = "broker.example"
    port = 8883
    ca_file = "tls/broker-ca.pem"       # optional: TLS to the broker

    [[gateways]]                        # the registry: who may deliver, with which key
    id = "150602-0017"
    public_key = "keys/150602-0017.pub" # the gateway's gateway.pub (from `wellgate init`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from gateway.errors import ConfigError, Problem, format_problem, problems_from_validation_error
from gateway.errors import read_toml as _read_toml
from gateway.store.errors import StoreError
from gateway.store.keys import load_private_key, load_public_key

GatewayId = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
          description='a gateway id of letters, digits, "-", "_", "." or ":" (up to 64), '
          'e.g. "150602-0017"'),
]
Port = Annotated[int, Field(ge=1, le=65535, description="a TCP port 1..65535")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReceiverSection(_Section):
    """Where the receiver keeps what it received."""

    database: str = Field(
        default="platform.db", min_length=1,
        description='an SQLite file path (relative to the config file), e.g. "platform.db"')
    max_batch_mb: float = Field(
        default=64.0, gt=0, le=1024,
        description="megabytes a batch may take on the wire, more than 0 and at most 1024")
    ack_key: str | None = Field(
        default=None, pattern=r"\.key$",
        description='the private key the receiver signs its acks with, a file named *.key '
        '(relative to the config file), e.g. "keys/ack.key"; `wellgate platform keygen` makes '
        'it and the .pub beside it, for the gateways\' platform_key')


class HttpsSection(_Section):
    """The HTTPS listener (POST /v1/batches; OpenAPI at /openapi.json)."""

    host: str = Field(default="0.0.0.0", min_length=1, description='an address, e.g. "0.0.0.0"')
    port: Port = 8443
    certificate: str = Field(min_length=1, description="the server's PEM certificate chain file")
    private_key: str = Field(min_length=1, description="the server's PEM private key file")
    client_ca: str | None = Field(
        default=None, min_length=1,
        description="a PEM CA file: when given, gateways must present a client certificate it "
        "signed")


class MqttSection(_Section):
    """The MQTT subscription: batches on <topic_prefix>/<gateway>/batch, acks back on .../ack."""

    host: str = Field(min_length=1, description='the broker host, e.g. "broker.example"')
    port: Port = 1883
    topic_prefix: str = Field(default="wellgate", pattern=r"^[^#+]+$",
                              description='a topic prefix without wildcards, e.g. "wellgate"')
    client_id: str = Field(default="wellgate-platform", min_length=1, max_length=64,
                           description="the receiver's MQTT client id (its persistent session)")
    ca_file: str | None = Field(default=None, min_length=1,
                                description="a PEM CA file: connect with TLS, verified by it")
    certificate: str | None = Field(default=None, min_length=1,
                                    description="a PEM client certificate for the broker")
    private_key: str | None = Field(default=None, min_length=1,
                                    description="the client certificate's PEM private key")
    username: str | None = Field(default=None, min_length=1, description="a broker user name")
    password: str | None = Field(default=None, description="its password")


class GatewayEntry(_Section):
    """One registered gateway and its public key."""

    id: GatewayId
    public_key: str = Field(min_length=1,
                            description="the gateway's public key file (PEM, its gateway.pub)")
    name: str = Field(default="", description="a display name")


class PlatformConfig(_Section):
    """The whole receiver config."""

    receiver: ReceiverSection = Field(default=ReceiverSection(),
                                      description="a [receiver] table (database, max_batch_mb)")
    https: HttpsSection | None = Field(default=None, description="an [https] table")
    mqtt: MqttSection | None = Field(default=None, description="an [mqtt] table")
    gateways: list[GatewayEntry] = Field(default_factory=list,
                                         description="a list of [[gateways]] tables")

    _base: Path = PrivateAttr(default=Path("."))
    _keys: dict[str, Ed25519PublicKey] = PrivateAttr(default_factory=dict)

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value)
        return path if path.is_absolute() else self._base / path

    @property
    def database(self) -> Path:
        return self.path(self.receiver.database)

    @property
    def ack_key_file(self) -> Path | None:
        return None if self.receiver.ack_key is None else self.path(self.receiver.ack_key)

    def load_ack_key(self) -> Ed25519PrivateKey | None:
        """The ack signing key (None when acks are not signed); NoKey/StoreError if unusable."""
        path = self.ack_key_file
        return None if path is None else load_private_key(path.parent, path.stem)

    @property
    def keys(self) -> dict[str, Ed25519PublicKey]:
        """The registry: gateway id -> public key."""
        return dict(self._keys)


def load_platform_config(path: Path | str, check_ack_key: bool = True) -> PlatformConfig:
    """Read and validate a receiver config and load every registered key (and the ack key,
    unless check_ack_key is false: keygen makes it); ConfigError lists every problem with file
    and line."""
    path = Path(path)
    text, data = _read_toml(path, "platform config")
    try:
        config = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, PlatformConfig)
        raise ConfigError([format_problem(p, path, text) for p in problems]) from None
    config._base = path.resolve().parent
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(config.gateways):
        if entry.id in seen:
            problems.append(Problem(("gateways", index, "id"),
                                    f"an id not already used by gateways[{seen[entry.id]}]",
                                    entry.id))
            continue
        seen[entry.id] = index
        try:
            config._keys[entry.id] = load_public_key(config.path(entry.public_key))
        except StoreError as exc:
            problems.append(Problem(("gateways", index, "public_key"),
                                    f"an Ed25519 public key PEM file ({exc})", entry.public_key))
    if config.receiver.ack_key is not None and check_ack_key:
        try:
            config.load_ack_key()
        except StoreError as exc:
            problems.append(Problem(("receiver", "ack_key"),
                                    f"an Ed25519 private key file ({exc}; make one with "
                                    f"`wellgate platform keygen --config {path}`)",
                                    config.receiver.ack_key))
    for section in (config.https, config.mqtt):
        for name in ("certificate", "private_key", "client_ca", "ca_file"):
            value = getattr(section, name, None)
            if value is not None and not config.path(value).is_file():
                problems.append(Problem((type(section).__name__.removesuffix("Section").lower(),
                                         name), "an existing file", value))
    if problems:
        raise ConfigError([format_problem(p, path, text) for p in problems])
    return config

"""The [[uplinks]] tables: where the signed store is delivered, one model per uplink type."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from gateway.config.fields import Name, Section, backoff_grows, bounded
from gateway.config.lazy import lazy_union
from gateway.errors import Problem, WhenMissing, rules_error

BATCH_URL_EXAMPLE = '"https://platform.example/v1/batches"'


class _UplinkBase(Section):
    """One destination the gateway delivers its signed store to (docs/wire-format.md).

    Each has its own cursor (the highest seq it acknowledged), so the city and a county centre
    can each receive every record. A batch is sent when batch_max_records are waiting or the
    oldest waiting one is batch_max_age seconds old, and is never larger than batch_max_kb on
    the wire (a store block is never split). Files are relative to the config file."""

    name: Name
    type: str
    ca_file: str | None = Field(
        default=None, min_length=1,
        description="a PEM file of the CA(s) the server's certificate must chain to "
        "(default: the system's CAs)",
    )
    client_cert: str | None = Field(
        default=None, min_length=1, description="a PEM client certificate file, with client_key"
    )
    client_key: str | None = Field(
        default=None, min_length=1, description="the client certificate's PEM private key file"
    )
    platform_key: str | None = Field(
        default=None, min_length=1,
        description="the platform's ack public key (PEM, the .pub `wellgate platform keygen` "
        "made): acks not signed with it are ignored",
    )
    gateway_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="this gateway's id in the receiver's registry (default: the well id)",
    )
    batch_max_records: int = bounded("records per batch", 50_000, ge=1, le=1_000_000)
    batch_max_kb: int = bounded("kilobytes a batch may take", 512, ge=1, le=65_536)
    batch_max_age: float = bounded(
        "seconds the oldest waiting record may wait for a fuller batch", 60.0, ge=0, le=86_400)
    timeout: float = bounded(
        "seconds to wait for the receiver's acknowledgement", 30.0, gt=0, le=3600)
    backoff_initial: float = bounded("seconds", 2.0, gt=0, le=3600)
    backoff_max: float = bounded("seconds", 300.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _keys_agree(self) -> Self:
        problems = [*client_cert_with_key(self),
                    *backoff_grows(self.backoff_initial, self.backoff_max)]
        if problems:
            raise rules_error(problems)
        return self


def client_cert_with_key(uplink: _UplinkBase) -> Iterator[Problem]:
    """A client certificate needs its key, and the key its certificate."""
    if (uplink.client_cert is None) != (uplink.client_key is None):
        missing = "client_key" if uplink.client_key is None else "client_cert"
        yield Problem((missing,), "client_cert and client_key together")


class HttpsUplink(_UplinkBase):
    """An uplink that POSTs each batch to the receiver's URL."""

    type: Literal["https"] = Field(description='"https"')
    url: Annotated[str, WhenMissing(f"the receiver's https:// URL, e.g. {BATCH_URL_EXAMPLE}")] = (
        Field(pattern=r"^https://[^/\s]+(/\S*)?$",
              description="the receiver's batch URL (https only: nothing is sent in clear), "
              f"e.g. {BATCH_URL_EXAMPLE}"))

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = {
        key: f'no {key} on an https uplink (it is for type = "mqtt")'
        for key in ("host", "port", "tls", "topic_prefix", "username", "password")}


class MqttUplink(_UplinkBase):
    """An uplink that publishes each batch to an MQTT broker and takes acks from it."""

    type: Literal["mqtt"] = Field(description='"mqtt"')
    host: Annotated[str, WhenMissing('the broker host, e.g. "broker.example"')] = Field(
        min_length=1, description='the MQTT broker host, e.g. "broker.example"')
    port: int = bounded("the broker's TCP port", 8883, ge=1, le=65535, sep=" ")
    tls: bool = Field(
        default=True, description="true (MQTT over TLS) or false (only a broker on this host)"
    )
    topic_prefix: str = Field(
        default="wellgate", pattern=r"^[^#+\s]+$",
        description='an MQTT topic prefix without wildcards: batches go to '
        '<prefix>/<gateway id>/batch, acks come on <prefix>/<gateway id>/ack',
    )
    username: str | None = Field(default=None, min_length=1, description="an MQTT user name")
    password: str | None = Field(default=None, description="the MQTT password")
    insecure_unsigned_acks: bool = Field(
        default=False,
        description="true takes acks without the platform's signature (only for a test broker: "
        "anyone who can publish on the ack topic could then mark records delivered)",
    )

    OTHER_TYPE_KEYS: ClassVar[dict[str, str]] = {
        "url": "no url on an mqtt uplink (give host and port)"}

    @property
    def url(self) -> None:
        """An mqtt uplink has no URL (it has a broker host and port)."""
        return None

    @model_validator(mode="after")
    def _acks_are_signed(self) -> Self:
        problems = list(signed_acks(self))
        if problems:
            raise rules_error(problems)
        return self


def signed_acks(uplink: MqttUplink) -> Iterator[Problem]:
    """An MQTT ack topic is open to whoever may publish on the broker: acks must be signed."""
    if uplink.platform_key is None and not uplink.insecure_unsigned_acks:
        yield Problem(("platform_key",), "the platform's ack public key file (the .pub that "
                      "`wellgate platform keygen` made), so that only acks the platform signed "
                      "move the cursor; insecure_unsigned_acks = true is for a test broker only")


# Each type's model is imported and built when a config first has an uplink of that type.
UPLINK_MODELS = {"https": "gateway.config.uplinks:HttpsUplink",
                 "mqtt": "gateway.config.uplinks:MqttUplink",
                 "sl427": "gateway.config.centres:Sl427Uplink",
                 "sl651": "gateway.config.centres:Sl651Uplink"}
if TYPE_CHECKING:
    from gateway.config.centres import Sl427Uplink, Sl651Uplink

    Uplink = HttpsUplink | MqttUplink | Sl427Uplink | Sl651Uplink
else:
    Uplink = lazy_union(UPLINK_MODELS)

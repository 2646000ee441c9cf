"""Modbus errors: slave exception replies (Application Protocol V1.1b3 §7) and bad frames."""


class ModbusError(Exception):
    """Any Modbus failure: a fault the slave reported or a bad frame the master detected."""


class SlaveException(ModbusError):
    """The slave answered with an exception reply (function | 0x80, one exception-code byte)."""

    CODE = None
    MEANING = "unknown exception code"

    def __init__(self, code, function):
        self.code = code
        self.function = function
        super().__init__(
            "slave answered function %d with exception code %d (%s)"
            % (function, code, self.MEANING)
        )


class IllegalFunction(SlaveException):
    CODE = 1
    MEANING = "illegal function: the slave does not support this function code"


class IllegalDataAddress(SlaveException):
    CODE = 2
    MEANING = "illegal data address: the register range is not all in the slave's map"


class IllegalDataValue(SlaveException):
    CODE = 3
    MEANING = "illegal data value: a value or count in the request is not allowed"


class SlaveDeviceFailure(SlaveException):
    CODE = 4
    MEANING = "slave device failure: an unrecoverable error inside the slave"


class Acknowledge(SlaveException):
    CODE = 5
    MEANING = "acknowledge: request accepted, it takes long; poll for completion later"


class SlaveDeviceBusy(SlaveException):
    CODE = 6
    MEANING = "slave device busy: retry later"


class NegativeAcknowledge(SlaveException):
    CODE = 7
    MEANING = "negative acknowledge: the slave cannot perform the program function"


class MemoryParityError(SlaveException):
    CODE = 8
    MEANING = "memory parity error in the slave's extended memory"


class GatewayPathUnavailable(SlaveException):
    CODE = 10
    MEANING = "gateway path unavailable: the gateway has no path to the target"


class GatewayTargetFailedToRespond(SlaveException):
    CODE = 11
    MEANING = "gateway target device failed to respond"


SLAVE_EXCEPTIONS = {
    cls.CODE: cls
    for cls in (
        IllegalFunction,
        IllegalDataAddress,
        IllegalDataValue,
        SlaveDeviceFailure,
        Acknowledge,
        SlaveDeviceBusy,
        NegativeAcknowledge,
        MemoryParityError,
        GatewayPathUnavailable,
        GatewayTargetFailedToRespond,
    )
}


def exception_for_code(code, function):
    """The SlaveException subclass instance for an exception code (SlaveException if unknown)."""
    return SLAVE_EXCEPTIONS.get(code, SlaveException)(code, function)


class FrameError(ModbusError):
    """The master received a frame it cannot accept as the reply to its request."""


class CrcError(FrameError):
    """The frame's CRC-16 does not match its contents (line noise, collision, wrong baud)."""


class WrongSlave(FrameError):
    """The reply comes from another slave id than the one asked."""


class WrongFunction(FrameError):
    """The reply carries another function code than the request's."""


class WrongLength(FrameError):
    """The frame or its byte count has another length than the request implies."""


class WrongEcho(FrameError):
    """A write reply does not echo the address and value/count that were written."""

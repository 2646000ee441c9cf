"""drivers.registers against the vector tables: plain asserts, for pytest and MicroPython."""

from expect import close, raises, raises_exactly, same
from vectors import (
    DECODE_ONLY_VECTORS,
    FLAG_VECTORS,
    NAN,
    REGISTER_VECTORS,
    ROUNDED_VECTORS,
    SCALING_VECTORS,
)

from drivers import registers as reg


def test_decode_vectors():
    for type, order, words, value, source in REGISTER_VECTORS + DECODE_ONLY_VECTORS:
        decoded = reg.decode(words, type, order)
        assert same(decoded, value), (type, order, decoded, value, source)


def test_encode_vectors():
    for type, order, words, value, source in REGISTER_VECTORS:
        length = len(words) if type == "string" else None
        assert reg.encode(value, type, order, length) == words, (type, order, value, source)


def test_negative_zero_keeps_its_sign():
    assert reg.encode(-0.0, "float32") == [0x8000, 0x0000]
    assert str(reg.decode([0x8000, 0x0000], "float32")) == "-0.0"


def test_register_count_fits_every_vector():
    for type, _, words, _, source in REGISTER_VECTORS:
        length = len(words) if type == "string" else None
        assert reg.register_count(type, length) == len(words), (type, source)


def test_rounded_recorded_values():
    for type, order, words, value, tolerance, source in ROUNDED_VECTORS:
        decoded = reg.decode(words, type, order)
        assert close(decoded, value, tolerance), (decoded, value, source)
        assert reg.encode(decoded, type, order) == words, source
        assert close(reg.decode(reg.encode(value, type, order), type, order), value, tolerance)


def test_round_trip_every_type_in_every_order():
    samples = {
        "u16": [0, 1, 0x1234, 0xFFFF],
        "i16": [-32768, -1, 0, 32767],
        "u32": [0, 0x12345678, 0xFFFFFFFF],
        "i32": [-2147483648, -1, 0, 2147483647],
        "u64": [0, 0x0123456789ABCDEF, 0xFFFFFFFFFFFFFFFF],
        "i64": [-9223372036854775808, -1, 9223372036854775807],
        "float32": [0.0, 1.5, -1024.25, float("inf"), NAN],
        "float64": [0.1, -1e300, 5e-324, float("-inf"), NAN],
        "bcd16": [0, 9, 1234, 9999],
        "bcd32": [0, 12345678, 99999999],
        "bits16": [0, 0x8001, 0xFFFF],
        "bits32": [0, 0x80000001, 0xFFFFFFFF],
        "long_fraction": [0.0, 123456.5, -7.25, 2147483647.5],
        "string": ["", "A", "TDS-100 V2"],
    }
    assert sorted(samples) == sorted(reg.TYPES)
    for type, values in samples.items():
        for order in reg.ORDERS:
            for value in values:
                words = reg.encode(value, type, order, 6 if type == "string" else None)
                assert same(reg.decode(words, type, order), value), (type, order, value, words)


def test_sixteen_bit_types_ignore_word_order_but_not_byte_order():
    for type in ("u16", "i16", "bcd16", "bits16"):
        abcd = reg.encode(1234, type, "ABCD")
        assert reg.encode(1234, type, "CDAB") == abcd, type
        assert reg.encode(1234, type, "BADC") == reg.encode(1234, type, "DCBA"), type
        assert reg.encode(1234, type, "BADC") != abcd, type


def test_encode_rejects_values_out_of_range_naming_value_and_range():
    cases = [
        (65536, "u16", "65535"),
        (-1, "u16", "0 to 65535"),
        (-32769, "i16", "-32768 to 32767"),
        (32768, "i16", "-32768 to 32767"),
        (4294967296, "u32", "4294967295"),
        (2147483648, "i32", "2147483647"),
        (-2147483649, "i32", "-2147483648"),
        (18446744073709551616, "u64", "18446744073709551615"),
        (-9223372036854775809, "i64", "-9223372036854775808"),
        (10000, "bcd16", "9999"),
        (-1, "bcd32", "99999999"),
        (1e39, "float32", "3.4028"),
        (-1e39, "float32", "3.4028"),
        (2147483648.5, "long_fraction", "2147483647"),
    ]
    for value, type, allowed in cases:
        error = raises(reg.RegisterError, reg.encode, value, type)
        assert str(value) in str(error) and allowed in str(error), (value, type, str(error))
        assert isinstance(error, ValueError)


def test_encode_rejects_values_that_are_not_numbers():
    raises(reg.RegisterError, reg.encode, "12", "u16")
    raises(reg.RegisterError, reg.encode, None, "float32")
    raises(reg.RegisterError, reg.encode, NAN, "i32")
    raises(reg.RegisterError, reg.encode, float("inf"), "u16")
    raises(reg.RegisterError, reg.encode, NAN, "long_fraction")
    raises(reg.RegisterError, reg.encode, 12, "string")


def test_encode_rounds_floats_for_integer_types():
    assert reg.encode(2301.9999999999995, "u16") == [2302]
    assert reg.encode(-1.4, "i16") == [0xFFFF]
    assert reg.encode(12.0, "bcd16") == [0x0012]


def test_bcd_rejects_nibbles_above_nine():
    error = raises(reg.RegisterError, reg.decode, [0x12AB], "bcd16")
    assert "12AB" in str(error), str(error)
    raises(reg.RegisterError, reg.decode, [0x1234, 0xF678], "bcd32")


def test_strings_are_ascii_and_fit_their_registers():
    error = raises(reg.RegisterError, reg.encode, "ABCDE", "string", "ABCD", 2)
    assert "ABCDE" in str(error) and "4" in str(error), str(error)
    raises(reg.RegisterError, reg.encode, "\u00e9", "string", "ABCD", 2)
    raises(reg.RegisterError, reg.decode, [0x41C3, 0xA900], "string")
    assert reg.encode("AB", "string") == [0x4142]
    assert reg.encode("ABC", "string") == [0x4142, 0x4300]
    raises(reg.RegisterError, reg.register_count, "string")
    raises(reg.RegisterError, reg.register_count, "string", 0)


def test_decode_checks_register_count_and_range():
    error = raises(reg.RegisterError, reg.decode, [1, 2], "u16")
    assert "1" in str(error) and "2" in str(error), str(error)
    raises(reg.RegisterError, reg.decode, [1], "float32")
    raises(reg.RegisterError, reg.decode, [1, 2, 3], "long_fraction")
    raises(reg.RegisterError, reg.decode, [0x10000], "u16")
    raises(reg.RegisterError, reg.decode, [-1], "i16")


def test_unknown_type_and_order_name_the_choices():
    error = raises_exactly(reg.RegisterError, reg.decode, [1], "u17")
    assert "u17" in str(error) and "float32" in str(error), str(error)
    error = raises_exactly(reg.RegisterError, reg.decode, [1, 2], "u32", "ABDC")
    assert "ABDC" in str(error) and "CDAB" in str(error), str(error)
    raises(reg.RegisterError, reg.decode, [0x4142], "string", "abcd")
    raises(reg.RegisterError, reg.encode, 1, "u16", "BA")
    raises(reg.RegisterError, reg.register_count, "float")


def test_scaled_vectors_and_their_inverse():
    for raw, scale, offset, decimals, value, source in SCALING_VECTORS:
        assert close(reg.scaled(raw, scale, offset, decimals), value, 1e-9), source
        assert close(reg.unscaled(value, scale, offset, decimals), raw, 1e-9), source
    assert reg.scaled(2302, decimals=1) == 230.2
    assert reg.scaled(5) == 5.0 and isinstance(reg.scaled(5), float)


def test_scaling_rejects_bad_decimals_and_zero_scale():
    error = raises(reg.RegisterError, reg.scaled, 1, 1.0, 0.0, 255)
    assert "255" in str(error), str(error)
    raises(reg.RegisterError, reg.unscaled, 1.0, 1.0, 0.0, -10)
    raises(reg.RegisterError, reg.unscaled, 1.0, 0.0)


def test_flags_set_vectors():
    for value, flags, names, source in FLAG_VECTORS:
        assert reg.flags_set(value, flags) == names, source
    assert reg.flags_set(6, {1: "one", 2: "two"}) == ["one", "two"]
    error = raises(reg.RegisterError, reg.flags_set, 1, {"low": "x"})
    assert "low" in str(error), str(error)
    raises(reg.RegisterError, reg.flags_set, 1, {"64": "x"})


def test_prepared_decoder_equals_decode_for_every_vector():
    for type, order, words, _, source in REGISTER_VECTORS + DECODE_ONLY_VECTORS:
        assert same(reg.decoder(type, order)(words), reg.decode(words, type, order)), source


def test_integer_ranges_and_wrap_points():
    assert reg.integer_range("i16") == (-32768, 32767)
    assert reg.integer_range("u64") == (0, 18446744073709551615)
    assert reg.integer_range("bcd32") == (0, 99999999)
    assert reg.integer_range("float32") is None and reg.integer_range("string") is None
    assert reg.wrap_raw("u16") == 65536 and reg.wrap_raw("i32") == 2147483648
    assert reg.wrap_raw("bcd16") == 10000 and reg.wrap_raw("long_fraction") == 2147483648
    for type in ("float32", "float64", "string", "bits16", "bits32"):
        assert reg.wrap_raw(type) is None, type

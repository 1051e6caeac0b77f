"""OCP FP8 E4M3FN in numpy (torch 1.13 has no float8 dtype): decoding every byte, and round-to-nearest-even encoding.

E4M3FN: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 holds the subnormals m / 8 x 2^-6; no
infinities; S.1111.111 is NaN, so the largest finite magnitude is 1.75 x 2^8 = 448.
"""
import numpy

MAX = 448.0


def _decode_table():
    table = numpy.empty(256, dtype=numpy.float64)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exponent, mantissa = (code >> 3) & 0xF, code & 0x7
        if exponent == 0xF and mantissa == 0x7:
            table[code] = numpy.nan
        elif exponent == 0:
            table[code] = sign * mantissa / 8.0 * 2.0 ** -6
        else:
            table[code] = sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)
    return table


DECODE = _decode_table()
# The 127 finite non-negative values, in code order (which is also increasing value order).
_POSITIVE = DECODE[:0x7F]


def decode(codes):
    """uint8 codes -> float32 values (exact: every E4M3 value is a float32)."""
    return DECODE[numpy.asarray(codes, dtype=numpy.uint8)].astype(numpy.float32)


def encode(values):
    """float32 values already within +-448 -> uint8 codes, rounded to the nearest value, ties to the even code."""
    x = numpy.asarray(values, dtype=numpy.float64)
    if numpy.isnan(x).any() or (numpy.abs(x) > MAX).any():
        raise ValueError("encode expects finite values clamped to +-448")
    magnitude = numpy.abs(x)
    hi = numpy.searchsorted(_POSITIVE, magnitude, side="left").clip(0, 0x7E)
    lo = (hi - 1).clip(0, 0x7E)
    below, above = magnitude - _POSITIVE[lo], _POSITIVE[hi] - magnitude
    # Nearest; on an exact tie the code whose last mantissa bit is 0.
    code = numpy.where(below < above, lo, numpy.where(above < below, hi, numpy.where(lo % 2 == 0, lo, hi)))
    code = numpy.where(_POSITIVE[hi] == magnitude, hi, code)
    sign = numpy.where(numpy.signbit(x), 0x80, 0)
    return (code | sign).astype(numpy.uint8)

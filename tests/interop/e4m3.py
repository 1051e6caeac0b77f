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


def self_check():
    """Problems of the codec against hand-worked E4M3 values (empty when it is right), and of torch's bf16 rounding,
    which the FP8 expectations rely on to be round-to-nearest-even."""
    import torch
    problems = []
    known = {1.0: 0x38, 448.0: 0x7E, -448.0: 0xFE, 2.0 ** -9: 0x01, 2.0 ** -6: 0x08, 240.0: 0x77, 0.3: 0x2A,
             1.0625: 0x38,      # halfway between 1 and 1.125: the even code
             1.1875: 0x3A,      # halfway between 1.125 and 1.25: the even code
             232.0: 0x76,       # halfway between 224 and 240
             2.0 ** -10: 0x00,  # halfway between 0 and the smallest subnormal
             -0.0: 0x80}
    for value, code in known.items():
        got = int(encode(numpy.float32([value]))[0])
        if got != code:
            problems.append(f"e4m3: {value} encodes to {got:#04x}, want {code:#04x}")
    finite = numpy.array([c for c in range(256) if c & 0x7F != 0x7F], dtype=numpy.uint8)
    again = encode(decode(finite))
    if not numpy.array_equal(again, finite):
        problems.append(f"e4m3: {int((again != finite).sum())} codes do not survive decode then encode")
    if not numpy.isnan(decode(numpy.uint8([0x7F, 0xFF]))).all():
        problems.append("e4m3: S.1111.111 does not decode to NaN")
    ties = torch.tensor([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8], dtype=torch.float32).to(torch.bfloat16).float().tolist()
    if ties != [1.0, 1 + 2.0 ** -6]:
        problems.append(f"torch's float32 -> bfloat16 is not round-to-nearest-even: ties gave {ties}")
    return problems

#!/usr/bin/env python3
"""A seeded, deterministic mutator of H.264 Annex B elementary streams: the
damage streams suffer on the way to a decoder (lost or repeated packets,
truncated downloads, bit errors) and the parameter sets an attacker writes.

Kinds (mutate(data, kind, seed) -> bytes):
  flip       1-8 bytes of slice data XORed with a random non-zero byte
  truncate   the stream cut at 5-95 % of its length
  drop       1-3 NAL units removed
  duplicate  1-3 slice NAL units repeated right after themselves
  swap       two neighbouring slice NAL units exchanged
  sps_size   every SPS rewritten with an absurd picture size (a dimension
             of 16 pixels or 2^14..2^24), everything else in it kept bit-exact
  zero_pps   every PPS's payload zeroed from a random bit on (from the
             first bit for one seed in four), kept as one NAL unit
             (emulation prevention bytes inserted)

The same (stream, kind, seed) always gives the same bytes.

Usage: mutate.py INPUT KIND SEED OUTPUT
"""
import random
import sys

KINDS = ("flip", "truncate", "drop", "duplicate", "swap", "sps_size", "zero_pps")
SLICE_TYPES = (1, 5)
SPS, PPS = 7, 8
HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


def absurd_dimension(rng):
    """pic_width_in_mbs_minus1 or pic_height_in_map_units_minus1: one
    macroblock, or 2^10..2^20 macroblocks."""
    return rng.choice((0, rng.randrange(1 << 10, 1 << 20)))


# ---------------------------------------------------------------- NAL units

def split_nals(data):
    """Annex B -> list of NAL units (without start codes)."""
    starts = []
    i, n = 0, len(data)
    while i + 2 < n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    nals = []
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else n
        # A 4-byte start code leaves a zero before the next one.
        while k + 1 < len(starts) and end > start and data[end - 1] == 0:
            end -= 1
        nals.append(bytes(data[start:end]))
    return nals


def join_nals(nals):
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


def nal_type(nal):
    return nal[0] & 0x1F if nal else -1


def unescape(ebsp):
    """Removes emulation prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in ebsp:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def escape(rbsp):
    """Inserts emulation prevention bytes where 00 00 would meet 00..03."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


# ---------------------------------------------------------------- bits

class BitReader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def bit(self):
        if self.pos >= len(self.data) * 8:
            raise ValueError("read past the end of the RBSP")
        value = (self.data[self.pos // 8] >> (7 - self.pos % 8)) & 1
        self.pos += 1
        return value

    def bits(self, n):
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self):
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 32:
                raise ValueError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self):
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


class BitWriter:
    def __init__(self):
        self.bits = []

    def put(self, value, n):
        self.bits.extend((value >> (n - 1 - i)) & 1 for i in range(n))

    def ue(self, value):
        code = value + 1
        length = code.bit_length()
        self.put(0, length - 1)
        self.put(code, length)

    def to_bytes(self):
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def bits_of(data, start, end):
    return [(data[i // 8] >> (7 - i % 8)) & 1 for i in range(start, end)]


def skip_scaling_list(reader, size):
    last, following = 8, 8
    for _ in range(size):
        if following != 0:
            following = (last + reader.se() + 256) % 256
        last = following if following != 0 else last


def sps_size_position(rbsp):
    """Bit offsets of pic_width_in_mbs_minus1 and of what follows
    pic_height_in_map_units_minus1 in an SPS RBSP (7.3.2.1.1)."""
    reader = BitReader(rbsp)
    profile_idc = reader.bits(8)
    reader.bits(16)  # constraint flags, level_idc
    reader.ue()      # seq_parameter_set_id
    if profile_idc in HIGH_PROFILES:
        chroma_format_idc = reader.ue()
        if chroma_format_idc == 3:
            reader.bit()
        reader.ue()
        reader.ue()
        reader.bit()
        if reader.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if reader.bit():
                    skip_scaling_list(reader, 16 if i < 6 else 64)
    reader.ue()  # log2_max_frame_num_minus4
    poc_type = reader.ue()
    if poc_type == 0:
        reader.ue()
    elif poc_type == 1:
        reader.bit()
        reader.se()
        reader.se()
        for _ in range(reader.ue()):
            reader.se()
    reader.ue()   # max_num_ref_frames
    reader.bit()  # gaps_in_frame_num_value_allowed_flag
    width_at = reader.pos
    width, height = reader.ue(), reader.ue()
    return width_at, reader.pos, (width, height)


def rewrite_sps_size(nal, width_mbs_minus1, height_units_minus1):
    rbsp = unescape(nal[1:])
    width_at, after, _ = sps_size_position(rbsp)
    total = len(rbsp) * 8
    # The rest up to (not including) rbsp_stop_one_bit and its padding.
    last_one = total - 1
    while last_one >= 0 and not (rbsp[last_one // 8] >> (7 - last_one % 8)) & 1:
        last_one -= 1
    writer = BitWriter()
    writer.bits = bits_of(rbsp, 0, width_at)
    writer.ue(width_mbs_minus1)
    writer.ue(height_units_minus1)
    writer.bits += bits_of(rbsp, after, max(after, last_one))
    writer.put(1, 1)  # rbsp_stop_one_bit
    return nal[:1] + escape(writer.to_bytes())


# ---------------------------------------------------------------- mutations

def _slice_indices(nals):
    return [i for i, nal in enumerate(nals) if nal_type(nal) in SLICE_TYPES]


def mutate(data, kind, seed):
    rng = random.Random(f"{kind}:{seed}")
    nals = split_nals(data)
    slices = _slice_indices(nals)
    if kind == "truncate":
        return data[:max(1, int(len(data) * rng.uniform(0.05, 0.95)))]
    if kind == "flip":
        nals = list(nals)
        for _ in range(rng.randint(1, 8)):
            i = rng.choice(slices)
            nal = bytearray(nals[i])
            if len(nal) > 2:
                position = rng.randrange(2, len(nal))  # past the NAL header and first_mb
                nal[position] ^= rng.randrange(1, 256)
            nals[i] = bytes(nal)
        return join_nals(nals)
    if kind == "drop":
        drop = set(rng.sample(range(len(nals)), min(len(nals) - 1, rng.randint(1, 3))))
        return join_nals([nal for i, nal in enumerate(nals) if i not in drop])
    if kind == "duplicate":
        repeat = set(rng.sample(slices, min(len(slices), rng.randint(1, 3))))
        out = []
        for i, nal in enumerate(nals):
            out.append(nal)
            if i in repeat:
                out.append(nal)
        return join_nals(out)
    if kind == "swap":
        pairs = [i for i in slices if i + 1 < len(nals) and nal_type(nals[i + 1]) in SLICE_TYPES]
        if pairs:
            nals = list(nals)
            i = rng.choice(pairs)
            nals[i], nals[i + 1] = nals[i + 1], nals[i]
        return join_nals(nals)
    if kind == "sps_size":
        width, height = absurd_dimension(rng), absurd_dimension(rng)
        if width == 0 and height == 0:
            height = rng.randrange(1 << 10, 1 << 20)
        return join_nals([rewrite_sps_size(nal, width, height) if nal_type(nal) == SPS else nal for nal in nals])
    if kind == "zero_pps":
        out = []
        for nal in nals:
            if nal_type(nal) == PPS:
                rbsp = unescape(nal[1:])
                start = 0 if rng.random() < 0.25 else rng.randrange(len(rbsp) * 8)
                writer = BitWriter()
                writer.bits = bits_of(rbsp, 0, start) + [0] * (len(rbsp) * 8 - start)
                nal = nal[:1] + escape(writer.to_bytes())
            out.append(nal)
        return join_nals(out)
    raise ValueError(f"unknown mutation kind {kind}")


def main():
    if len(sys.argv) != 5 or sys.argv[2] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as source:
        data = source.read()
    with open(sys.argv[4], "wb") as out:
        out.write(mutate(data, sys.argv[2], int(sys.argv[3])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

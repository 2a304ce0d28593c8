#!/usr/bin/env python3
"""Unit tests of mutate.py: NAL splitting, emulation prevention, the SPS
size rewrite, determinism and that every kind damages what it says."""
import random
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate  # noqa: E402


def encode(x264_params, profile):
    """A tiny stream with libx264 (High profile with a custom scaling
    matrix puts scaling lists in the SPS)."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
           "-i", "testsrc2=size=96x64:rate=10", "-t", "2", "-c:v", "libx264", "-profile:v", profile,
           "-x264-params", x264_params, "-pix_fmt", "yuv420p", "-f", "h264", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def decoded_size(data):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", "-"], input=data, capture_output=True)
    return probe.stdout.decode().strip()


class MutateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.main = encode("keyint=5:bframes=2:slices=2", "main")
        cls.high = encode("keyint=5:cqm=jvt", "high")

    def test_split_and_join_keep_every_nal_unit(self):
        nals = mutate.split_nals(self.main)
        self.assertIn(mutate.SPS, [mutate.nal_type(n) for n in nals])
        self.assertEqual(mutate.split_nals(mutate.join_nals(nals)), nals)

    def test_emulation_prevention_round_trips(self):
        rng = random.Random(3)
        for _ in range(200):
            rbsp = bytes(rng.choice((0, 0, 0, 1, 2, 3, 0x80)) for _ in range(rng.randint(1, 40)))
            escaped = mutate.escape(rbsp)
            self.assertEqual(mutate.unescape(escaped), rbsp)
            self.assertNotIn(b"\x00\x00\x01", escaped)
            self.assertNotIn(b"\x00\x00\x00", escaped)

    def test_sps_size_rewrite_keeps_the_rest(self):
        for stream in (self.main, self.high):
            sps = next(n for n in mutate.split_nals(stream) if mutate.nal_type(n) == mutate.SPS)
            rbsp = mutate.unescape(sps[1:])
            _, after, size = mutate.sps_size_position(rbsp)
            self.assertEqual(size, (96 // 16 - 1, 64 // 16 - 1))
            rewritten = mutate.rewrite_sps_size(sps, 119, 67)
            new_rbsp = mutate.unescape(rewritten[1:])
            _, new_after, new_size = mutate.sps_size_position(new_rbsp)
            self.assertEqual(new_size, (119, 67))
            tail = mutate.bits_of(rbsp, after, len(rbsp) * 8)
            new_tail = mutate.bits_of(new_rbsp, new_after, len(new_rbsp) * 8)
            self.assertEqual(new_tail[:len(tail) - 8], tail[:len(tail) - 8])
        # FFmpeg reads the new size: 1920x1088.
        patched = mutate.join_nals([mutate.rewrite_sps_size(n, 119, 67) if mutate.nal_type(n) == mutate.SPS else n
                                    for n in mutate.split_nals(self.high)])
        self.assertEqual(decoded_size(patched), "1920,1088")

    def test_every_kind_is_deterministic_and_damages_the_stream(self):
        for kind in mutate.KINDS:
            first = mutate.mutate(self.main, kind, 7)
            self.assertEqual(mutate.mutate(self.main, kind, 7), first, kind)
            self.assertNotEqual(first, self.main, kind)
            others = {mutate.mutate(self.main, kind, seed) for seed in range(8)}
            self.assertGreater(len(others), 1, f"{kind}: every seed gives the same stream")

    def test_kinds_do_what_they_say(self):
        nals = mutate.split_nals(self.main)
        self.assertLess(len(mutate.mutate(self.main, "truncate", 1)), len(self.main))
        self.assertLess(len(mutate.split_nals(mutate.mutate(self.main, "drop", 1))), len(nals))
        self.assertGreater(len(mutate.split_nals(mutate.mutate(self.main, "duplicate", 1))), len(nals))
        swapped = mutate.split_nals(mutate.mutate(self.main, "swap", 1))
        self.assertEqual(sorted(swapped), sorted(nals))
        self.assertNotEqual(swapped, nals)
        zeroed = mutate.split_nals(mutate.mutate(self.main, "zero_pps", 1))
        self.assertEqual(len(zeroed), len(nals), "a zeroed PPS stays one NAL unit")
        def pps_payloads(units):
            return [mutate.unescape(n[1:]) for n in units if mutate.nal_type(n) == mutate.PPS]
        self.assertNotEqual(pps_payloads(zeroed), pps_payloads(nals))
        # A NAL unit cannot end in a zero byte: an Annex B reader takes trailing
        # zeros for trailing_zero_8bits, so a zeroed tail is read as missing.
        fully = [mutate.split_nals(mutate.mutate(self.main, "zero_pps", seed)) for seed in range(16)]
        self.assertTrue(any(set(p) <= {0} for units in fully for p in pps_payloads(units)),
                        "some seeds zero the whole PPS")
        flipped = mutate.mutate(self.main, "flip", 1)
        self.assertEqual(len(flipped), len(mutate.join_nals(nals)), "flips change bytes, not the length")


if __name__ == "__main__":
    unittest.main()

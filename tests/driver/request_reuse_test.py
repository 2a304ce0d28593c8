#!/usr/bin/env python3
"""The request lifecycle, measured on a real client (ffmpeg -hwaccel vaapi)
over whole conformance streams, with the emulated decoder's counters:

- exactly one MEDIA_IOC_REQUEST_ALLOC per slot per context, for the whole
  stream (no request allocated per frame);
- every queued request is re-initialised (MEDIA_REQUEST_IOC_REINIT) once,
  i.e. drained before its slot is bound again;
- requests really are in flight together (pipelining), never more than the
  pool size;
- the output is still bit-exact.

Usage: request_reuse_test.py BUILD_DIR MANIFEST
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Long I/P and I/P/B streams, a PAFF field stream and the 8160-slice 1080p
# picture. True where ffmpeg keeps more than one picture in flight (it syncs
# a picture when it outputs it, so only reordered streams overlap).
STREAMS = {"BA2_Sony_F": False, "HPCA_BRCM_C": True, "HPCAFL_BRCM_C": True, "jm_1080p_allslice": False}


def read_manifest(path):
    rows = {}
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        if line.strip():
            row = dict(zip(header, line.split("\t")))
            rows[row["name"]] = row
    return rows


def sum_counters(path):
    total = {"ioctls": {}}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        for key, value in record.items():
            if key == "ioctls":
                for name, n in value.items():
                    total["ioctls"][name] = total["ioctls"].get(name, 0) + n
            elif isinstance(value, int) and key != "pid":
                if key == "max_requests_in_flight":
                    total[key] = max(total.get(key, 0), value)
                else:
                    total[key] = total.get(key, 0) + value
    return total


def run(build, stream_path, slots, decode_us):
    with tempfile.TemporaryDirectory() as tmp:
        counters = Path(tmp) / "counters.jsonl"
        env = dict(os.environ)
        env.update({
            # A sanitizer build's driver needs its runtime loaded first
            # (tools/run-tests sets SANITIZER_PRELOAD for that pass).
            "LD_PRELOAD": " ".join(filter(None, [os.environ.get("SANITIZER_PRELOAD", ""),
                                                 str(build / "tools/emulator/libv4l2-emulator.so")])),
            "LIBVA_DRIVERS_PATH": str(build / "src"),
            "LIBVA_DRIVER_NAME": "v4l2_request",
            "LIBVA_MESSAGING_LEVEL": "2",
            "LIBVA_V4L2_REQUEST_SLOTS": str(slots),
            "V4L2_EMU_COUNTERS": str(counters),
            "V4L2_EMU_DECODE_US": str(decode_us),
        })
        if os.environ.get("SANITIZER_PRELOAD"):
            # ffmpeg itself is not leak-clean; leaks in the driver are
            # checked by the driver-device tests, which own the process.
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0:abort_on_error=1"
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "verbose", "-threads", "1",
               "-hwaccel", "vaapi", "-hwaccel_device", "/dev/dri/renderD128",
               "-hwaccel_flags", "+allow_profile_mismatch", "-i", stream_path,
               "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
        stderr = proc.stderr.decode(errors="replace")
        contexts = sum(1 for line in stderr.splitlines() if "v4l2_request: context " in line)
        return proc.returncode, hashlib.md5(proc.stdout).hexdigest(), sum_counters(counters), contexts, stderr


def main():
    build = Path(sys.argv[1]).resolve()
    manifest = Path(sys.argv[2]).resolve()
    rows = read_manifest(manifest)
    failures = 0
    for name, overlaps in STREAMS.items():
        row = rows[name]
        path = str(manifest.parent / row["file"])
        for slots, decode_us in ((6, 0), (2, 2000)):
            rc, md5, c, contexts, stderr = run(build, path, slots, decode_us)
            ioc = c["ioctls"]
            allocs = ioc.get("MEDIA_IOC_REQUEST_ALLOC", 0)
            queued = ioc.get("MEDIA_REQUEST_IOC_QUEUE", 0)
            reinits = ioc.get("MEDIA_REQUEST_IOC_REINIT", 0)
            checks = [
                (rc == 0, f"ffmpeg exit {rc}: {stderr[-400:]}"),
                (md5 == row["expected_md5"], f"md5 {md5} != {row['expected_md5']}"),
                (contexts >= 1, "no context created (no driver info line)"),
                (allocs == slots * contexts, f"{allocs} MEDIA_IOC_REQUEST_ALLOC for {contexts} context(s) x {slots} slots"),
                (queued == c.get("frames_decoded", -1), f"{queued} requests queued, {c.get('frames_decoded')} decoded"),
                (reinits == queued, f"{reinits} REINIT for {queued} queued requests"),
                (c.get("errors", 1) == 0, f"{c.get('errors')} device errors"),
                (1 <= c.get("max_requests_in_flight", 0) <= slots,
                 f"max in flight {c.get('max_requests_in_flight')} with {slots} slots"),
            ]
            if decode_us > 0 and overlaps:
                checks.append((c.get("max_requests_in_flight", 0) >= 2,
                               "requests never overlapped although the device is slow"))
            bad = [msg for ok, msg in checks if not ok]
            status = "PASS" if not bad else "FAIL"
            print(f"{status} {name} slots={slots} decode_us={decode_us}: requests queued={queued} "
                  f"allocated={allocs} contexts={contexts} reinit={reinits} "
                  f"max_in_flight={c.get('max_requests_in_flight')} errors={c.get('errors')}")
            for msg in bad:
                print(f"  {msg}")
            failures += bool(bad)
    print(f"{2 * len(STREAMS) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

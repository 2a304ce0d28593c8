"""Conformance runner for the v4l2-request VA driver (stdlib only).

Modules:
  manifest  - reads the shared manifest.tsv format
  rawvideo  - MD5 of decoded output as tightly packed yuv420p frames
  counters  - the emulated decoder's per-process counter lines
  clients   - how each client is run and where its output lands
  build     - finds (or builds) the driver and the emulator
  runner    - the command line
"""

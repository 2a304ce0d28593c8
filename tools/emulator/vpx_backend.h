// The emulator's VP8 decoding backend: checks that the frame control
// describes the OUTPUT buffer's frame, that its reference timestamps name
// the pictures the bitstream references, and decodes the frame into the
// CAPTURE buffer. One backend per m2m instance, used from its worker only.
#pragma once

#include <linux/v4l2-controls.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "h264_backend.h"  // CaptureTarget, DecodeResult

namespace emu {

// What the device model found for each reference timestamp of a frame
// (VP8: last, golden, altref), looked up as vb2_find_buffer() does among
// the CAPTURE buffers before the job's own timestamp is copied.
struct VpxReferenceLookup {
  // Serial of the picture in the buffer the timestamp names; 0 when no
  // buffer carries that timestamp.
  std::array<uint64_t, 3> serial{};
  // The timestamp names the buffer being decoded into (its old picture is
  // overwritten by this decode).
  std::array<bool, 3> names_destination{};
};

class Vp8Backend {
 public:
  static std::unique_ptr<Vp8Backend> create();
  virtual ~Vp8Backend() = default;

  // Decodes one frame (the whole VP8_FRAME OUTPUT buffer). `serial` (> 0)
  // identifies the picture this decode makes. Header mismatches fail the
  // decode; reference mismatches are returned in `reference_problems`
  // (the device model decides what they do, as for H.264's DPB).
  virtual DecodeResult decode(const v4l2_ctrl_vp8_frame& frame, const VpxReferenceLookup& references,
                              uint64_t serial, const uint8_t* bitstream, size_t length,
                              const CaptureTarget& target) = 0;
  // Forget all decoder state (STREAMOFF on OUTPUT).
  virtual void reset() = 0;
};

}  // namespace emu

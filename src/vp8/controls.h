// VA-API VP8 buffers + the parsed header start -> V4L2_CID_STATELESS_VP8_FRAME.
// Pure translation: no ioctls, no state.
#pragma once

#include <linux/v4l2-controls.h>
#include <va/va.h>
#include <va/va_dec_vp8.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "vp8/frame_header.h"

namespace v4l2va::vp8 {

struct FrameInput {
  const VAPictureParameterBufferVP8* params = nullptr;
  const VAProbabilityDataBufferVP8* probabilities = nullptr;
  const VASliceParameterBufferVP8* slice = nullptr;
  UncompressedChunk chunk;  // the frame's uncompressed data chunk (parsed or rebuilt)
  HeaderStart header;       // parsed from the first partition
};

// Timestamps (ns) of the pictures the frame references; 0 names none
// (key frames).
struct ReferenceTimestamps {
  uint64_t last = 0, golden = 0, alt = 0;
};

// The first partition's size, as VA-API splits it: the bytes the client
// parsed (the header, up to the byte holding macroblock_offset) plus the
// remaining partition_size[0] (va_dec_vp8.h).
uint32_t first_partition_size(const VASliceParameterBufferVP8& slice);

// Fills `out`; returns false with `error` naming the field that is wrong.
bool translate_frame(const FrameInput& in, const ReferenceTimestamps& refs, v4l2_ctrl_vp8_frame& out,
                     std::string& error);

}  // namespace v4l2va::vp8

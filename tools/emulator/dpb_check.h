// The reference check hardware cannot do but a model can: every valid DPB
// entry of a decode must name (by reference_ts) the CAPTURE buffer that holds
// exactly that picture (frame_num, POCs, field parity).
#pragma once

#include <linux/v4l2-controls.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace emu {

// What was last decoded into one CAPTURE buffer.
struct PictureInfo {
  bool valid = false;
  uint64_t timestamp_ns = 0;
  uint32_t frame_num = 0;
  int32_t top_poc = 0;
  int32_t bottom_poc = 0;
  uint8_t fields = 0;  // V4L2_H264_TOP_FIELD_REF | V4L2_H264_BOTTOM_FIELD_REF
};

// The picture after decoding `params` with `timestamp_ns` into a buffer that
// held `previous` (a second field joins its first field).
PictureInfo picture_after_decode(const PictureInfo& previous, uint64_t timestamp_ns,
                                 const v4l2_ctrl_h264_decode_params& params);

// Checks the DPB of `params` against the CAPTURE buffers' pictures.
// `target_index` is the buffer being decoded into, `timestamp_ns` the new
// picture's timestamp. Returns one message per mismatching entry.
std::vector<std::string> check_dpb(const v4l2_ctrl_h264_decode_params& params,
                                   const std::vector<PictureInfo>& capture_pictures,
                                   size_t target_index, uint64_t timestamp_ns);

}  // namespace emu

// What a stateless decoder node can do, read from the device itself (never a
// fixed list): OUTPUT formats, frame sizes, decode/start-code modes, which
// H.264 controls exist, and the H.264 profiles it advertises.
#pragma once

#include <va/va.h>

#include <cstdint>
#include <string>
#include <vector>

#include "log.h"
#include "v4l2/queue.h"

namespace v4l2va {

struct DecoderCapabilities {
  std::string video_path;
  std::string media_path;
  std::string driver_name;   // QUERYCAP driver, for log lines
  PlanesApi planes = PlanesApi::Multi;  // V4L2_CAP_VIDEO_M2M_MPLANE, or V4L2_CAP_VIDEO_M2M (cedrus)
  std::vector<uint32_t> capture_formats;  // CAPTURE formats offered once OUTPUT is H264_SLICE
  bool h264 = false;         // OUTPUT offers V4L2_PIX_FMT_H264_SLICE
  std::vector<VAProfile> h264_profiles;
  uint32_t min_width = 16, min_height = 16;
  uint32_t max_width = 0, max_height = 0;
  bool frame_based = false;  // V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED offered
  bool slice_based = false;
  bool annex_b = false;      // V4L2_STATELESS_H264_START_CODE_ANNEX_B offered
  bool no_start_code = false;
  bool has_scaling_matrix = false;
  bool has_slice_params = false;
  bool has_pred_weights = false;
};

// Opens `video_path`, checks it is an M2M streaming device (multiplanar or
// single-planar), and fills `out`. Logs why a node is rejected.
VAStatus probe_decoder(const std::string& video_path, const std::string& media_path, Log& log,
                       DecoderCapabilities& out);

}  // namespace v4l2va

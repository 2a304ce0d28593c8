// What a stateless decoder node can do, read from the device itself (never a
// fixed list): which coded formats its OUTPUT queue takes and, per coded
// format, the VA profiles, frame sizes and CAPTURE formats; for H.264 also
// the decode/start-code modes and which optional controls exist.
#pragma once

#include <va/va.h>

#include <cstdint>
#include <string>
#include <vector>

#include "log.h"
#include "v4l2/queue.h"

namespace v4l2va {

// The codecs the driver translates, one per stateless OUTPUT pixel format.
enum class CodecKind { H264, VP8, VP9 };
const char* codec_name(CodecKind codec);
uint32_t coded_pixelformat(CodecKind codec);  // V4L2_PIX_FMT_{H264_SLICE,VP8_FRAME,VP9_FRAME}
// The codec a VA profile belongs to; false for profiles no codec decodes.
bool codec_of_profile(VAProfile profile, CodecKind& codec);

// One coded format the OUTPUT queue offers and the device can decode.
struct CodedFormatCaps {
  CodecKind codec = CodecKind::H264;
  uint32_t pixelformat = 0;
  std::vector<VAProfile> profiles;
  std::vector<uint32_t> capture_formats;  // CAPTURE formats offered once OUTPUT is this format
  uint32_t min_width = 16, min_height = 16;
  uint32_t max_width = 0, max_height = 0;
};

struct DecoderCapabilities {
  std::string video_path;
  std::string media_path;
  std::string driver_name;   // QUERYCAP driver, for log lines
  PlanesApi planes = PlanesApi::Multi;  // V4L2_CAP_VIDEO_M2M_MPLANE, or V4L2_CAP_VIDEO_M2M (cedrus)
  std::vector<CodedFormatCaps> codecs;  // in the OUTPUT queue's ENUM_FMT order
  // The union of the codecs' sizes (what a surface may be on this device).
  uint32_t min_width = 16, min_height = 16;
  uint32_t max_width = 0, max_height = 0;
  // H.264 only (V4L2_CID_STATELESS_H264_*).
  bool frame_based = false;  // V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED offered
  bool slice_based = false;
  bool annex_b = false;      // V4L2_STATELESS_H264_START_CODE_ANNEX_B offered
  bool no_start_code = false;
  bool has_scaling_matrix = false;
  bool has_slice_params = false;
  bool has_pred_weights = false;

  // The coded format that decodes `profile`, or nullptr.
  const CodedFormatCaps* format_for(VAProfile profile) const;
  const CodedFormatCaps* format_of(CodecKind codec) const;
  bool offers(VAProfile profile) const { return format_for(profile) != nullptr; }
  std::vector<VAProfile> profiles() const;
};

// Opens `video_path`, checks it is an M2M streaming device (multiplanar or
// single-planar) offering at least one coded format the driver decodes, and
// fills `out`. Logs why a node, or one of its coded formats, is rejected.
VAStatus probe_decoder(const std::string& video_path, const std::string& media_path, Log& log,
                       DecoderCapabilities& out);

}  // namespace v4l2va

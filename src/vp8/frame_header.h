// The VP8 frame header fields that VA-API does not carry, parsed from the
// bitstream as the H.264 code parses slice headers: the uncompressed data
// chunk (frame tag, key-frame dimensions and scaling, RFC 6386 9.1) and the
// start of the first partition up to the probability updates (9.2 to 9.8):
// segmentation syntax, loop-filter level and deltas, partition count,
// quantiser indices and the reference refresh flags. What follows them
// (token, mode and motion-vector probabilities, the bool coder state at the
// end of the header) VA-API passes already parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace v4l2va::vp8 {

// RFC 6386 9.1: the 3-byte frame tag and, on key frames, the 7 bytes after it.
struct UncompressedChunk {
  bool key_frame = false;
  uint8_t version = 0;
  bool show_frame = false;
  uint32_t first_part_size = 0;
  uint16_t width = 0, height = 0;  // key frames
  uint8_t horizontal_scale = 0, vertical_scale = 0;
  size_t size() const { return key_frame ? 10 : 3; }
};
// Parses `data` as the start of a frame; nullopt unless it is a well-formed
// tag (and, on key frames, start code 9d 01 2a).
std::optional<UncompressedChunk> parse_uncompressed_chunk(const uint8_t* data, size_t size);
// Writes the 3 or 10 bytes of `chunk` into `out` (which holds 10).
size_t write_uncompressed_chunk(const UncompressedChunk& chunk, uint8_t* out);

// Values that persist from frame to frame until a header updates them and
// are reset by key frames (RFC 6386 9.3, 9.6; libvpx vp8_decode_frame()).
struct PersistentState {
  bool segment_absolute = false;  // segment_feature_mode == 1
  int8_t segment_quant[4] = {};
  int8_t segment_lf[4] = {};
  int8_t ref_lf_delta[4] = {};
  int8_t mode_lf_delta[4] = {};
};

struct HeaderStart {
  // Key frames only.
  uint8_t color_space = 0;
  uint8_t clamping_type = 0;
  // 9.3 segmentation.
  bool segmentation_enabled = false;
  bool update_segment_map = false;
  bool update_segment_data = false;
  uint8_t segment_probs[3] = {255, 255, 255};
  // 9.6 loop filter.
  bool filter_simple = false;
  uint8_t filter_level = 0;
  uint8_t sharpness = 0;
  bool lf_adjust_enabled = false;
  bool lf_delta_update = false;
  // 9.5 token partitions.
  uint8_t log2_partitions = 0;
  // 9.6 quantiser indices.
  uint8_t y_ac_qi = 0;
  int8_t y_dc_delta = 0, y2_dc_delta = 0, y2_ac_delta = 0, uv_dc_delta = 0, uv_ac_delta = 0;
  // 9.7, 9.8 reference updates.
  bool refresh_golden = false, refresh_alt = false, refresh_last = true;
  uint8_t copy_to_golden = 0, copy_to_alt = 0;
  bool sign_bias_golden = false, sign_bias_alt = false;
  bool refresh_entropy_probs = false;
  // The persistent values as this frame uses them.
  PersistentState state;
};

// Parses the first partition from its first byte (after the uncompressed
// chunk). `state` is the previous frame's and becomes this frame's on
// success; on failure it is untouched and `error` says what was wrong.
bool parse_header_start(const uint8_t* partition, size_t size, bool key_frame, PersistentState& state,
                        HeaderStart& out, std::string& error);

}  // namespace v4l2va::vp8

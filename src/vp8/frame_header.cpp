#include "vp8/frame_header.h"

#include "vp8/bool_decoder.h"

namespace v4l2va::vp8 {

std::optional<UncompressedChunk> parse_uncompressed_chunk(const uint8_t* data, size_t size) {
  if (size < 3) return std::nullopt;
  UncompressedChunk c;
  const uint32_t tag = data[0] | (uint32_t{data[1]} << 8) | (uint32_t{data[2]} << 16);
  c.key_frame = !(tag & 1);  // frame_type 0 is a key frame
  c.version = (tag >> 1) & 7;
  c.show_frame = (tag >> 4) & 1;
  c.first_part_size = tag >> 5;
  if (!c.key_frame) return c;
  if (size < 10 || data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a) return std::nullopt;
  const uint16_t w = data[6] | (data[7] << 8);
  const uint16_t h = data[8] | (data[9] << 8);
  c.width = w & 0x3fff;
  c.horizontal_scale = w >> 14;
  c.height = h & 0x3fff;
  c.vertical_scale = h >> 14;
  return c;
}

size_t write_uncompressed_chunk(const UncompressedChunk& c, uint8_t* out) {
  const uint32_t tag = (c.key_frame ? 0u : 1u) | (uint32_t{c.version} << 1) | (c.show_frame ? 1u << 4 : 0u) |
                       (c.first_part_size << 5);
  out[0] = tag & 0xff;
  out[1] = (tag >> 8) & 0xff;
  out[2] = (tag >> 16) & 0xff;
  if (!c.key_frame) return 3;
  out[3] = 0x9d;
  out[4] = 0x01;
  out[5] = 0x2a;
  const uint16_t w = (c.width & 0x3fff) | (c.horizontal_scale << 14);
  const uint16_t h = (c.height & 0x3fff) | (c.vertical_scale << 14);
  out[6] = w & 0xff;
  out[7] = w >> 8;
  out[8] = h & 0xff;
  out[9] = h >> 8;
  return 10;
}

namespace {

// A flag, then a signed value when the flag is set (RFC 6386 9.3, 9.6).
int8_t optional_signed(vpx::BoolDecoder& d, unsigned bits) {
  return d.read_flag() ? static_cast<int8_t>(d.read_signed(bits)) : 0;
}

// 9.3 update_segmentation(): feature values not sent in an update are 0.
void parse_segmentation(vpx::BoolDecoder& d, PersistentState& state, HeaderStart& h) {
  h.segmentation_enabled = d.read_flag();
  if (!h.segmentation_enabled) return;
  h.update_segment_map = d.read_flag();
  h.update_segment_data = d.read_flag();
  if (h.update_segment_data) {
    state.segment_absolute = d.read_flag();
    for (int8_t& q : state.segment_quant) q = optional_signed(d, 7);
    for (int8_t& lf : state.segment_lf) lf = optional_signed(d, 6);
  }
  if (h.update_segment_map)
    for (uint8_t& p : h.segment_probs) p = d.read_flag() ? static_cast<uint8_t>(d.read_literal(8)) : 255;
}

// 9.6 mb_lf_adjustments(): a delta not sent keeps its previous value.
void parse_loop_filter(vpx::BoolDecoder& d, PersistentState& state, HeaderStart& h) {
  h.filter_simple = d.read_flag();
  h.filter_level = static_cast<uint8_t>(d.read_literal(6));
  h.sharpness = static_cast<uint8_t>(d.read_literal(3));
  h.lf_adjust_enabled = d.read_flag();
  if (!h.lf_adjust_enabled) return;
  h.lf_delta_update = d.read_flag();
  if (!h.lf_delta_update) return;
  for (int8_t& delta : state.ref_lf_delta)
    if (d.read_flag()) delta = static_cast<int8_t>(d.read_signed(6));
  for (int8_t& delta : state.mode_lf_delta)
    if (d.read_flag()) delta = static_cast<int8_t>(d.read_signed(6));
}

void parse_quantisers(vpx::BoolDecoder& d, HeaderStart& h) {
  h.y_ac_qi = static_cast<uint8_t>(d.read_literal(7));
  h.y_dc_delta = optional_signed(d, 4);
  h.y2_dc_delta = optional_signed(d, 4);
  h.y2_ac_delta = optional_signed(d, 4);
  h.uv_dc_delta = optional_signed(d, 4);
  h.uv_ac_delta = optional_signed(d, 4);
}

// 9.7 and 9.8: which references this frame replaces.
void parse_refresh(vpx::BoolDecoder& d, bool key_frame, HeaderStart& h) {
  if (key_frame) {
    h.refresh_golden = h.refresh_alt = true;
    h.refresh_entropy_probs = d.read_flag();
    h.refresh_last = true;
    return;
  }
  h.refresh_golden = d.read_flag();
  h.refresh_alt = d.read_flag();
  if (!h.refresh_golden) h.copy_to_golden = static_cast<uint8_t>(d.read_literal(2));
  if (!h.refresh_alt) h.copy_to_alt = static_cast<uint8_t>(d.read_literal(2));
  h.sign_bias_golden = d.read_flag();
  h.sign_bias_alt = d.read_flag();
  h.refresh_entropy_probs = d.read_flag();
  h.refresh_last = d.read_flag();
}

}  // namespace

bool parse_header_start(const uint8_t* partition, size_t size, bool key_frame, PersistentState& state,
                        HeaderStart& out, std::string& error) {
  vpx::BoolDecoder d(partition, size);
  HeaderStart h;
  PersistentState next = state;
  if (key_frame) {
    // libvpx vp8_decode_frame(): a key frame resets the segment features
    // (delta mode, zero) and the loop-filter deltas.
    next = PersistentState{};
    h.color_space = d.read_flag();
    h.clamping_type = d.read_flag();
  }
  parse_segmentation(d, next, h);
  parse_loop_filter(d, next, h);
  h.log2_partitions = static_cast<uint8_t>(d.read_literal(2));
  parse_quantisers(d, h);
  parse_refresh(d, key_frame, h);
  if (d.overrun()) {
    error = "the first partition (" + std::to_string(size) + " bytes) ends inside the frame header";
    return false;
  }
  h.state = next;
  state = next;
  out = h;
  return true;
}

}  // namespace v4l2va::vp8

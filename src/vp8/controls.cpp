#include "vp8/controls.h"

#include <cstring>

namespace v4l2va::vp8 {

uint32_t first_partition_size(const VASliceParameterBufferVP8& slice) {
  return slice.partition_size[0] + (slice.macroblock_offset + 7) / 8;
}

namespace {

void fill_segment(const FrameInput& in, v4l2_vp8_segment& s) {
  const HeaderStart& h = in.header;
  std::memcpy(s.quant_update, h.state.segment_quant, sizeof(s.quant_update));
  std::memcpy(s.lf_update, h.state.segment_lf, sizeof(s.lf_update));
  // The tree probabilities the client decoded the map with (VA-API's are the
  // ones of this frame, 255 for those not sent).
  std::memcpy(s.segment_probs, in.params->mb_segment_tree_probs, sizeof(s.segment_probs));
  s.flags = 0;
  if (h.segmentation_enabled) s.flags |= V4L2_VP8_SEGMENT_FLAG_ENABLED;
  if (h.update_segment_map) s.flags |= V4L2_VP8_SEGMENT_FLAG_UPDATE_MAP;
  if (h.update_segment_data) s.flags |= V4L2_VP8_SEGMENT_FLAG_UPDATE_FEATURE_DATA;
  if (!h.state.segment_absolute) s.flags |= V4L2_VP8_SEGMENT_FLAG_DELTA_VALUE_MODE;
}

void fill_loop_filter(const FrameInput& in, v4l2_vp8_loop_filter& lf) {
  const HeaderStart& h = in.header;
  // The deltas in force for this frame, updated or carried over.
  std::memcpy(lf.ref_frm_delta, h.state.ref_lf_delta, sizeof(lf.ref_frm_delta));
  std::memcpy(lf.mb_mode_delta, h.state.mode_lf_delta, sizeof(lf.mb_mode_delta));
  lf.sharpness_level = h.sharpness;
  lf.level = h.filter_level;
  lf.flags = 0;
  if (h.lf_adjust_enabled) lf.flags |= V4L2_VP8_LF_ADJ_ENABLE;
  if (h.lf_delta_update) lf.flags |= V4L2_VP8_LF_DELTA_UPDATE;
  if (h.filter_simple) lf.flags |= V4L2_VP8_LF_FILTER_TYPE_SIMPLE;
}

void fill_quantisation(const HeaderStart& h, v4l2_vp8_quantization& q) {
  q.y_ac_qi = h.y_ac_qi;
  q.y_dc_delta = h.y_dc_delta;
  q.y2_dc_delta = h.y2_dc_delta;
  q.y2_ac_delta = h.y2_ac_delta;
  q.uv_dc_delta = h.uv_dc_delta;
  q.uv_ac_delta = h.uv_ac_delta;
}

// The probabilities this frame decodes with, after the header's updates
// (VA-API and the uAPI both carry the updated tables).
void fill_entropy(const FrameInput& in, v4l2_vp8_entropy& e) {
  static_assert(sizeof(e.coeff_probs) == sizeof(in.probabilities->dct_coeff_probs));
  std::memcpy(e.coeff_probs, in.probabilities->dct_coeff_probs, sizeof(e.coeff_probs));
  std::memcpy(e.y_mode_probs, in.params->y_mode_probs, sizeof(e.y_mode_probs));
  std::memcpy(e.uv_mode_probs, in.params->uv_mode_probs, sizeof(e.uv_mode_probs));
  std::memcpy(e.mv_probs, in.params->mv_probs, sizeof(e.mv_probs));
}

}  // namespace

bool translate_frame(const FrameInput& in, const ReferenceTimestamps& refs, v4l2_ctrl_vp8_frame& out,
                     std::string& error) {
  const VAPictureParameterBufferVP8& p = *in.params;
  const VASliceParameterBufferVP8& slice = *in.slice;
  const unsigned dct_parts = slice.num_of_partitions - 1u;
  if (slice.num_of_partitions < 2 || dct_parts != (1u << in.header.log2_partitions)) {
    error = "num_of_partitions " + std::to_string(slice.num_of_partitions) + " does not match the header's " +
            std::to_string(1u << in.header.log2_partitions) + " DCT partition(s) + 1";
    return false;
  }
  if (p.frame_width == 0 || p.frame_height == 0 || p.frame_width > 16383 || p.frame_height > 16383) {
    error = "frame size " + std::to_string(p.frame_width) + "x" + std::to_string(p.frame_height) +
            " outside 1..16383 (RFC 6386 9.1)";
    return false;
  }
  out = v4l2_ctrl_vp8_frame{};
  fill_segment(in, out.segment);
  fill_loop_filter(in, out.lf);
  fill_quantisation(in.header, out.quant);
  fill_entropy(in, out.entropy);
  // The bool decoder's state at the end of the header, where the
  // macroblock data of the first partition starts.
  out.coder_state.range = p.bool_coder_ctx.range;
  out.coder_state.value = p.bool_coder_ctx.value;
  out.coder_state.bit_count = p.bool_coder_ctx.count;
  out.width = static_cast<uint16_t>(p.frame_width);
  out.height = static_cast<uint16_t>(p.frame_height);
  out.horizontal_scale = in.chunk.horizontal_scale;
  out.vertical_scale = in.chunk.vertical_scale;
  out.version = static_cast<uint8_t>(p.pic_fields.bits.version);
  out.prob_skip_false = p.prob_skip_false;
  out.prob_intra = p.prob_intra;
  out.prob_last = p.prob_last;
  out.prob_gf = p.prob_gf;
  out.num_dct_parts = static_cast<uint8_t>(dct_parts);
  out.first_part_size = in.chunk.first_part_size;
  out.first_part_header_bits = slice.macroblock_offset;
  for (unsigned i = 0; i < dct_parts; ++i) out.dct_part_sizes[i] = slice.partition_size[i + 1];
  out.last_frame_ts = refs.last;
  out.golden_frame_ts = refs.golden;
  out.alt_frame_ts = refs.alt;
  if (in.chunk.key_frame) out.flags |= V4L2_VP8_FRAME_FLAG_KEY_FRAME;
  if (in.chunk.show_frame) out.flags |= V4L2_VP8_FRAME_FLAG_SHOW_FRAME;
  if (p.pic_fields.bits.mb_no_coeff_skip) out.flags |= V4L2_VP8_FRAME_FLAG_MB_NO_SKIP_COEFF;
  if (in.header.sign_bias_golden) out.flags |= V4L2_VP8_FRAME_FLAG_SIGN_BIAS_GOLDEN;
  if (in.header.sign_bias_alt) out.flags |= V4L2_VP8_FRAME_FLAG_SIGN_BIAS_ALT;
  return true;
}

}  // namespace v4l2va::vp8

// Test-side H.264 stream reader for the backend tests: a minimal SPS/PPS and
// slice header parser that fills the V4L2 stateless controls the way a
// client of the uAPI would, plus picture POC computation (H.264 8.2.1) so the
// tests can put decode-order pictures back into output order.
//
// It is written independently of the backend's writer: it shares only the
// bit reader and the scan/default tables, which backend_bitstream_test.cpp
// checks against the standard on their own.
#pragma once

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <linux/v4l2-controls.h>

#include "h264_backend.h"
#include "h264_bitstream.h"

namespace emu::test {

inline std::string conformance_dir() {
  const char* dir = std::getenv("EMU_CONFORMANCE_DIR");
  return dir ? dir : "../shared/conformance/h264";
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

struct ManifestEntry {
  std::string name, file, expected_md5;
};

inline std::vector<ManifestEntry> read_manifest() {
  std::ifstream in(conformance_dir() + "/manifest.tsv");
  if (!in) throw std::runtime_error("cannot open " + conformance_dir() + "/manifest.tsv");
  std::vector<ManifestEntry> entries;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> columns;
    size_t start = 0;
    for (;;) {
      const size_t tab = line.find('\t', start);
      columns.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (columns.size() >= 5) entries.push_back({columns[0], columns[1], columns[4]});
  }
  return entries;
}

// ------------------------------------------------------------- parameter sets

struct ScalingLists {
  // In transmission (zig-zag) order, index as in H.264 7.3.2.1.1 (0..11).
  std::array<std::array<uint8_t, 16>, 6> list4x4{};
  std::array<std::array<uint8_t, 64>, 6> list8x8{};
};

inline void flat_lists(ScalingLists& lists) {
  for (auto& l : lists.list4x4) l.fill(16);
  for (auto& l : lists.list8x8) l.fill(16);
}

// scaling_list() of 7.3.2.1.1.1. Returns useDefaultScalingMatrixFlag.
inline bool read_scaling_list(h264::BitReader& r, uint8_t* list, size_t size) {
  int last_scale = 8, next_scale = 8;
  for (size_t j = 0; j < size; ++j) {
    if (next_scale != 0) {
      const int delta = r.read_se();
      next_scale = (last_scale + delta + 256) % 256;
      if (j == 0 && next_scale == 0) return true;
    }
    list[j] = static_cast<uint8_t>(next_scale == 0 ? last_scale : next_scale);
    last_scale = list[j];
  }
  return false;
}

// Reads the list set of an SPS or PPS applying Table 7-2: fall-back rule A
// (defaults) when `fallback` is null, rule B (the SPS's lists) otherwise.
inline void read_scaling_matrix(h264::BitReader& r, unsigned count, ScalingLists& out,
                                const ScalingLists* fallback) {
  for (unsigned i = 0; i < count; ++i) {
    const bool present = r.read_flag();
    uint8_t* list = i < 6 ? out.list4x4[i].data() : out.list8x8[i - 6].data();
    const size_t size = i < 6 ? 16 : 64;
    auto set_default = [&] {
      if (i < 6) std::memcpy(list, (i < 3 ? h264::kDefault4x4Intra : h264::kDefault4x4Inter).data(), 16);
      else std::memcpy(list, ((i - 6) % 2 == 0 ? h264::kDefault8x8Intra : h264::kDefault8x8Inter).data(), 64);
    };
    if (present) {
      if (read_scaling_list(r, list, size)) set_default();
      continue;
    }
    // Not present: lists 0, 3, 6, 7 fall back to defaults (A) or the SPS (B);
    // the others copy the previous list of the same kind.
    if (i == 0 || i == 3 || i == 6 || i == 7) {
      if (fallback) std::memcpy(list, i < 6 ? fallback->list4x4[i].data() : fallback->list8x8[i - 6].data(), size);
      else set_default();
    } else if (i < 6) {
      out.list4x4[i] = out.list4x4[i - 1];
    } else {
      out.list8x8[i - 6] = out.list8x8[i - 8];
    }
  }
}

struct ParsedSps {
  v4l2_ctrl_h264_sps ctrl{};
  bool seq_scaling_matrix_present = false;
  ScalingLists lists;  // resolved SPS-level lists (flat when not present)
  bool frame_cropping = false;
  uint32_t crop_left = 0, crop_right = 0, crop_top = 0, crop_bottom = 0;
  bool vui_present = false;
  uint32_t width() const { return (ctrl.pic_width_in_mbs_minus1 + 1u) * 16u; }
  uint32_t height() const {
    return (ctrl.pic_height_in_map_units_minus1 + 1u) * 16u *
           ((ctrl.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY) ? 1u : 2u);
  }
};

inline std::optional<ParsedSps> parse_sps(std::span<const uint8_t> rbsp) {
  h264::BitReader r(rbsp);
  ParsedSps p;
  v4l2_ctrl_h264_sps& s = p.ctrl;
  flat_lists(p.lists);
  s.profile_idc = static_cast<uint8_t>(r.read_bits(8));
  for (unsigned flag = 0; flag < 6; ++flag)
    if (r.read_flag()) s.constraint_set_flags |= static_cast<uint8_t>(1u << flag);
  r.read_bits(2);
  s.level_idc = static_cast<uint8_t>(r.read_bits(8));
  s.seq_parameter_set_id = static_cast<uint8_t>(r.read_ue());
  s.chroma_format_idc = 1;
  if (V4L2_H264_SPS_HAS_CHROMA_FORMAT(&s)) {
    s.chroma_format_idc = static_cast<uint8_t>(r.read_ue());
    if (s.chroma_format_idc == 3 && r.read_flag()) s.flags |= V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE;
    s.bit_depth_luma_minus8 = static_cast<uint8_t>(r.read_ue());
    s.bit_depth_chroma_minus8 = static_cast<uint8_t>(r.read_ue());
    if (r.read_flag()) s.flags |= V4L2_H264_SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS;
    p.seq_scaling_matrix_present = r.read_flag();
    if (p.seq_scaling_matrix_present)
      read_scaling_matrix(r, s.chroma_format_idc != 3 ? 8 : 12, p.lists, nullptr);
  }
  s.log2_max_frame_num_minus4 = static_cast<uint8_t>(r.read_ue());
  s.pic_order_cnt_type = static_cast<uint8_t>(r.read_ue());
  if (s.pic_order_cnt_type == 0) {
    s.log2_max_pic_order_cnt_lsb_minus4 = static_cast<uint8_t>(r.read_ue());
  } else if (s.pic_order_cnt_type == 1) {
    if (r.read_flag()) s.flags |= V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO;
    s.offset_for_non_ref_pic = r.read_se();
    s.offset_for_top_to_bottom_field = r.read_se();
    s.num_ref_frames_in_pic_order_cnt_cycle = static_cast<uint8_t>(r.read_ue());
    for (unsigned i = 0; i < s.num_ref_frames_in_pic_order_cnt_cycle; ++i) s.offset_for_ref_frame[i] = r.read_se();
  }
  s.max_num_ref_frames = static_cast<uint8_t>(r.read_ue());
  if (r.read_flag()) s.flags |= V4L2_H264_SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED;
  s.pic_width_in_mbs_minus1 = static_cast<uint16_t>(r.read_ue());
  s.pic_height_in_map_units_minus1 = static_cast<uint16_t>(r.read_ue());
  if (r.read_flag()) {
    s.flags |= V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  } else if (r.read_flag()) {
    s.flags |= V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD;
  }
  if (r.read_flag()) s.flags |= V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE;
  p.frame_cropping = r.read_flag();
  if (p.frame_cropping) {
    p.crop_left = r.read_ue();
    p.crop_right = r.read_ue();
    p.crop_top = r.read_ue();
    p.crop_bottom = r.read_ue();
  }
  p.vui_present = r.read_flag();
  if (r.overrun()) return std::nullopt;
  return p;
}

struct ParsedPps {
  v4l2_ctrl_h264_pps ctrl{};
  bool transform_8x8 = false;
  bool pic_scaling_matrix_present = false;
  bool has_extension = false;  // transform_8x8_mode_flag and what follows were coded
  ScalingLists lists;  // resolved for the picture (PPS lists or the SPS's)
};

// Needs the SPS the PPS refers to (its chroma format and scaling lists).
inline std::optional<ParsedPps> parse_pps(std::span<const uint8_t> rbsp,
                                          const std::map<uint32_t, ParsedSps>& sps_by_id) {
  h264::BitReader r(rbsp);
  ParsedPps p;
  v4l2_ctrl_h264_pps& c = p.ctrl;
  c.pic_parameter_set_id = static_cast<uint8_t>(r.read_ue());
  c.seq_parameter_set_id = static_cast<uint8_t>(r.read_ue());
  const auto sps_it = sps_by_id.find(c.seq_parameter_set_id);
  if (sps_it == sps_by_id.end()) return std::nullopt;
  const ParsedSps& sps = sps_it->second;
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE;
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT;
  c.num_slice_groups_minus1 = static_cast<uint8_t>(r.read_ue());
  if (c.num_slice_groups_minus1 != 0) return std::nullopt;  // FMO: out of scope
  c.num_ref_idx_l0_default_active_minus1 = static_cast<uint8_t>(r.read_ue());
  c.num_ref_idx_l1_default_active_minus1 = static_cast<uint8_t>(r.read_ue());
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_WEIGHTED_PRED;
  c.weighted_bipred_idc = static_cast<uint8_t>(r.read_bits(2));
  c.pic_init_qp_minus26 = static_cast<int8_t>(r.read_se());
  c.pic_init_qs_minus26 = static_cast<int8_t>(r.read_se());
  c.chroma_qp_index_offset = static_cast<int8_t>(r.read_se());
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT;
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_CONSTRAINED_INTRA_PRED;
  if (r.read_flag()) c.flags |= V4L2_H264_PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT;
  c.second_chroma_qp_index_offset = c.chroma_qp_index_offset;
  p.lists = sps.lists;
  if (r.more_rbsp_data()) {
    p.has_extension = true;
    p.transform_8x8 = r.read_flag();
    if (p.transform_8x8) c.flags |= V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE;
    p.pic_scaling_matrix_present = r.read_flag();
    if (p.pic_scaling_matrix_present) {
      const unsigned count = 6 + (p.transform_8x8 ? (sps.ctrl.chroma_format_idc != 3 ? 2 : 6) : 0);
      read_scaling_matrix(r, count, p.lists, sps.seq_scaling_matrix_present ? &sps.lists : nullptr);
    }
    c.second_chroma_qp_index_offset = static_cast<int8_t>(r.read_se());
  }
  // As GStreamer and the VA drivers do: a matrix applies whenever the SPS or
  // the PPS transmitted one.
  if (sps.seq_scaling_matrix_present || p.pic_scaling_matrix_present)
    c.flags |= V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT;
  if (r.overrun()) return std::nullopt;
  return p;
}

// The V4L2 control: raster order (inverse zig-zag scan already applied).
inline v4l2_ctrl_h264_scaling_matrix to_v4l2_matrix(const ScalingLists& lists) {
  v4l2_ctrl_h264_scaling_matrix m{};
  for (size_t i = 0; i < 6; ++i) {
    for (size_t k = 0; k < 16; ++k) m.scaling_list_4x4[i][h264::kZigzag4x4[k]] = lists.list4x4[i][k];
    for (size_t k = 0; k < 64; ++k) m.scaling_list_8x8[i][h264::kZigzag8x8[k]] = lists.list8x8[i][k];
  }
  return m;
}

// --------------------------------------------------------------- slice header

struct ParsedSlice {
  std::span<const uint8_t> nal;
  uint8_t nal_unit_type = 0, nal_ref_idc = 0;
  uint32_t first_mb_in_slice = 0, slice_type = 0, pps_id = 0, frame_num = 0;
  bool field_pic = false, bottom_field = false;
  uint32_t idr_pic_id = 0, pic_order_cnt_lsb = 0;
  int32_t delta_pic_order_cnt_bottom = 0;
  std::array<int32_t, 2> delta_pic_order_cnt{};
  uint32_t redundant_pic_cnt = 0;
  uint32_t pic_order_cnt_bit_size = 0;
  uint32_t dec_ref_pic_marking_bit_size = 0;
  uint32_t num_ref_idx_l0_active_minus1 = 0, num_ref_idx_l1_active_minus1 = 0;
  bool direct_spatial_mv_pred = false;
  bool has_mmco5 = false;
};

inline std::optional<ParsedSlice> parse_slice(std::span<const uint8_t> nal,
                                              const std::map<uint32_t, ParsedSps>& sps_by_id,
                                              const std::map<uint32_t, ParsedPps>& pps_by_id) {
  ParsedSlice s;
  s.nal = nal;
  s.nal_ref_idc = (nal[0] >> 5) & 3;
  s.nal_unit_type = nal[0] & 0x1f;
  const std::vector<uint8_t> rbsp = h264::unescape_rbsp(nal.subspan(1));
  h264::BitReader r(rbsp);
  s.first_mb_in_slice = r.read_ue();
  s.slice_type = r.read_ue() % 5;
  s.pps_id = r.read_ue();
  const auto pps_it = pps_by_id.find(s.pps_id);
  if (pps_it == pps_by_id.end()) return std::nullopt;
  const ParsedPps& pps = pps_it->second;
  const ParsedSps& sps = sps_by_id.at(pps.ctrl.seq_parameter_set_id);
  const v4l2_ctrl_h264_sps& c = sps.ctrl;
  if (c.flags & V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE) r.read_bits(2);
  s.frame_num = r.read_bits(c.log2_max_frame_num_minus4 + 4u);
  if (!(c.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY)) {
    s.field_pic = r.read_flag();
    if (s.field_pic) s.bottom_field = r.read_flag();
  }
  if (s.nal_unit_type == 5) s.idr_pic_id = r.read_ue();
  const size_t poc_start = r.position();
  if (c.pic_order_cnt_type == 0) {
    s.pic_order_cnt_lsb = r.read_bits(c.log2_max_pic_order_cnt_lsb_minus4 + 4u);
    if ((pps.ctrl.flags & V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT) && !s.field_pic)
      s.delta_pic_order_cnt_bottom = r.read_se();
  }
  if (c.pic_order_cnt_type == 1 && !(c.flags & V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO)) {
    s.delta_pic_order_cnt[0] = r.read_se();
    if ((pps.ctrl.flags & V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT) && !s.field_pic)
      s.delta_pic_order_cnt[1] = r.read_se();
  }
  s.pic_order_cnt_bit_size = static_cast<uint32_t>(r.position() - poc_start);
  if (pps.ctrl.flags & V4L2_H264_PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT) s.redundant_pic_cnt = r.read_ue();
  const bool is_b = s.slice_type == 1, is_p = s.slice_type == 0 || s.slice_type == 3;
  if (is_b) s.direct_spatial_mv_pred = r.read_flag();
  s.num_ref_idx_l0_active_minus1 = pps.ctrl.num_ref_idx_l0_default_active_minus1;
  s.num_ref_idx_l1_active_minus1 = pps.ctrl.num_ref_idx_l1_default_active_minus1;
  if (is_p || is_b) {
    if (r.read_flag()) {  // num_ref_idx_active_override_flag
      s.num_ref_idx_l0_active_minus1 = r.read_ue();
      if (is_b) s.num_ref_idx_l1_active_minus1 = r.read_ue();
    }
  }
  // ref_pic_list_modification() (7.3.3.1)
  for (int list = 0; list < (is_b ? 2 : (is_p ? 1 : 0)); ++list) {
    if (!r.read_flag()) continue;
    for (;;) {
      const uint32_t idc = r.read_ue();
      if (idc == 3 || r.overrun()) break;
      r.read_ue();  // abs_diff_pic_num_minus1 or long_term_pic_num
    }
  }
  // pred_weight_table() (7.3.3.2)
  const bool weighted = (is_p && (pps.ctrl.flags & V4L2_H264_PPS_FLAG_WEIGHTED_PRED)) ||
                        (is_b && pps.ctrl.weighted_bipred_idc == 1);
  if (weighted) {
    const bool chroma = c.chroma_format_idc != 0 && !(c.flags & V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE);
    r.read_ue();
    if (chroma) r.read_ue();
    for (int list = 0; list < (is_b ? 2 : 1); ++list) {
      const uint32_t count = (list == 0 ? s.num_ref_idx_l0_active_minus1 : s.num_ref_idx_l1_active_minus1) + 1;
      for (uint32_t i = 0; i < count; ++i) {
        if (r.read_flag()) { r.read_se(); r.read_se(); }
        if (chroma && r.read_flag()) { r.read_se(); r.read_se(); r.read_se(); r.read_se(); }
      }
    }
  }
  // dec_ref_pic_marking() (7.3.3.3)
  if (s.nal_ref_idc != 0) {
    const size_t marking_start = r.position();
    if (s.nal_unit_type == 5) {
      r.read_bits(2);
    } else if (r.read_flag()) {
      for (;;) {
        const uint32_t op = r.read_ue();
        if (op == 0 || r.overrun()) break;
        if (op == 5) s.has_mmco5 = true;
        if (op == 1 || op == 3) r.read_ue();
        if (op == 2) r.read_ue();
        if (op == 3 || op == 6) r.read_ue();
        if (op == 4) r.read_ue();
      }
    }
    s.dec_ref_pic_marking_bit_size = static_cast<uint32_t>(r.position() - marking_start);
  }
  if (r.overrun()) return std::nullopt;
  return s;
}

// ----------------------------------------------------------------- POC (8.2.1)

struct PocState {
  int32_t prev_poc_msb = 0, prev_poc_lsb = 0;
  int32_t prev_frame_num_offset = 0;
  uint32_t prev_frame_num = 0;
  bool prev_had_mmco5 = false;
  bool prev_ref_bottom_field = false;
  int32_t prev_ref_top_poc_after_mmco5 = 0;
};

struct PicturePoc {
  int32_t top = 0, bottom = 0;
};

// Computes TopFieldOrderCnt/BottomFieldOrderCnt of the picture whose first
// slice is `s` and updates `state` as the picture's decoding completes.
inline PicturePoc compute_poc(const ParsedSlice& s, const ParsedSps& sps, PocState& state) {
  const v4l2_ctrl_h264_sps& c = sps.ctrl;
  const bool idr = s.nal_unit_type == 5;
  const uint32_t max_frame_num = 1u << (c.log2_max_frame_num_minus4 + 4);
  PicturePoc poc;
  int32_t frame_num_offset = 0;
  if (c.pic_order_cnt_type == 0) {
    if (idr) {
      state.prev_poc_msb = 0;
      state.prev_poc_lsb = 0;
    } else if (state.prev_had_mmco5) {
      state.prev_poc_msb = 0;
      state.prev_poc_lsb = state.prev_ref_bottom_field ? 0 : state.prev_ref_top_poc_after_mmco5;
    }
    const int32_t max_lsb = 1 << (c.log2_max_pic_order_cnt_lsb_minus4 + 4);
    const int32_t lsb = static_cast<int32_t>(s.pic_order_cnt_lsb);
    int32_t msb = state.prev_poc_msb;
    if (lsb < state.prev_poc_lsb && state.prev_poc_lsb - lsb >= max_lsb / 2) msb += max_lsb;
    else if (lsb > state.prev_poc_lsb && lsb - state.prev_poc_lsb > max_lsb / 2) msb -= max_lsb;
    if (!s.field_pic || !s.bottom_field) poc.top = msb + lsb;
    if (!s.field_pic) poc.bottom = poc.top + s.delta_pic_order_cnt_bottom;
    else if (s.bottom_field) poc.bottom = msb + lsb;
    if (s.nal_ref_idc != 0) {
      state.prev_poc_msb = msb;
      state.prev_poc_lsb = lsb;
    }
  } else {
    if (idr) frame_num_offset = 0;
    else if (state.prev_frame_num > s.frame_num)
      frame_num_offset = (state.prev_had_mmco5 ? 0 : state.prev_frame_num_offset) + static_cast<int32_t>(max_frame_num);
    else
      frame_num_offset = state.prev_had_mmco5 ? 0 : state.prev_frame_num_offset;
    if (c.pic_order_cnt_type == 2) {
      int32_t temp = 0;
      if (!idr) temp = 2 * (frame_num_offset + static_cast<int32_t>(s.frame_num)) - (s.nal_ref_idc == 0 ? 1 : 0);
      poc.top = poc.bottom = temp;
    } else {
      const int32_t cycle = c.num_ref_frames_in_pic_order_cnt_cycle;
      int32_t abs_frame_num = cycle != 0 ? frame_num_offset + static_cast<int32_t>(s.frame_num) : 0;
      if (s.nal_ref_idc == 0 && abs_frame_num > 0) --abs_frame_num;
      int32_t expected = 0;
      if (abs_frame_num > 0) {
        int32_t delta_per_cycle = 0;
        for (int32_t i = 0; i < cycle; ++i) delta_per_cycle += c.offset_for_ref_frame[i];
        const int32_t cycle_count = (abs_frame_num - 1) / cycle;
        const int32_t in_cycle = (abs_frame_num - 1) % cycle;
        expected = cycle_count * delta_per_cycle;
        for (int32_t i = 0; i <= in_cycle; ++i) expected += c.offset_for_ref_frame[i];
      }
      if (s.nal_ref_idc == 0) expected += c.offset_for_non_ref_pic;
      if (!s.field_pic) {
        poc.top = expected + s.delta_pic_order_cnt[0];
        poc.bottom = poc.top + c.offset_for_top_to_bottom_field + s.delta_pic_order_cnt[1];
      } else if (!s.bottom_field) {
        poc.top = expected + s.delta_pic_order_cnt[0];
      } else {
        poc.bottom = expected + c.offset_for_top_to_bottom_field + s.delta_pic_order_cnt[0];
      }
    }
    state.prev_frame_num_offset = frame_num_offset;
  }
  state.prev_frame_num = s.frame_num;
  // Type 0 looks back to the previous reference picture, types 1/2 to the
  // previous picture.
  if (c.pic_order_cnt_type != 0 || s.nal_ref_idc != 0) state.prev_had_mmco5 = false;
  if (s.has_mmco5) {
    // 8.2.1: after memory_management_control_operation 5 the picture's POCs
    // are rebased to 0 and the next picture counts from there.
    const int32_t temp = !s.field_pic ? std::min(poc.top, poc.bottom) : (s.bottom_field ? poc.bottom : poc.top);
    poc.top -= temp;
    poc.bottom -= temp;
    state.prev_had_mmco5 = true;
    state.prev_ref_bottom_field = s.field_pic && s.bottom_field;
    state.prev_ref_top_poc_after_mmco5 = poc.top;
    state.prev_frame_num = 0;
  }
  return poc;
}

// ---------------------------------------------------------------- pictures

// One coded picture (frame or field) in decode order, with the controls a
// uAPI client would set for it.
struct CodedPicture {
  std::vector<std::span<const uint8_t>> non_vcl_before;  // SPS/PPS/AUD/SEI since the previous picture
  std::vector<ParsedSlice> slices;
  H264RequestControls controls;
  const ParsedSps* sps = nullptr;
  PicturePoc poc;
  bool starts_new_period = false;  // IDR or MMCO 5: output order restarts
};

// Splits an Annex-B stream into coded pictures (a new picture starts at a
// slice with first_mb_in_slice == 0: the conformance streams used here have
// no arbitrary slice order) and fills their controls.
class StreamReader {
 public:
  explicit StreamReader(std::vector<uint8_t> stream) : stream_(std::move(stream)) {}

  std::vector<CodedPicture> pictures() {
    std::vector<CodedPicture> out;
    std::vector<std::span<const uint8_t>> pending_non_vcl;
    PocState poc_state;
    for (const auto& nal : h264::split_annex_b(stream_)) {
      const uint8_t type = nal[0] & 0x1f;
      if (type == h264::kNalSps) {
        const auto rbsp = h264::unescape_rbsp(nal.subspan(1));
        auto sps = parse_sps(rbsp);
        if (!sps) throw std::runtime_error("SPS does not parse");
        sps_by_id_[sps->ctrl.seq_parameter_set_id] = *sps;
      } else if (type == h264::kNalPps) {
        const auto rbsp = h264::unescape_rbsp(nal.subspan(1));
        auto pps = parse_pps(rbsp, sps_by_id_);
        if (!pps) throw std::runtime_error("PPS does not parse");
        pps_by_id_[pps->ctrl.pic_parameter_set_id] = *pps;
      }
      if (type != h264::kNalSlice && type != h264::kNalIdrSlice) {
        pending_non_vcl.push_back(nal);
        continue;
      }
      auto slice = parse_slice(nal, sps_by_id_, pps_by_id_);
      if (!slice) throw std::runtime_error("slice header does not parse");
      if (slice->redundant_pic_cnt > 0) continue;  // primary pictures only, as hardware decoders
      if (slice->first_mb_in_slice == 0 || out.empty()) {
        CodedPicture picture;
        picture.non_vcl_before = std::move(pending_non_vcl);
        pending_non_vcl.clear();
        const ParsedPps& pps = pps_by_id_.at(slice->pps_id);
        // Copies: a later SPS/PPS with the same id must not change this picture.
        sps_store_.push_back(std::make_unique<ParsedSps>(sps_by_id_.at(pps.ctrl.seq_parameter_set_id)));
        picture.sps = sps_store_.back().get();
        fill_controls(picture, *slice, pps);
        picture.poc = compute_poc(*slice, *picture.sps, poc_state);
        picture.starts_new_period = slice->nal_unit_type == 5 || slice->has_mmco5;
        fill_poc(picture.controls.decode_params, picture.poc, *slice);
        out.push_back(std::move(picture));
      } else {
        pending_non_vcl.clear();  // e.g. SEI between slices: dropped like the rest
      }
      out.back().slices.push_back(*slice);
    }
    return out;
  }

 private:
  static void fill_controls(CodedPicture& picture, const ParsedSlice& slice, const ParsedPps& pps) {
    H264RequestControls& c = picture.controls;
    c.sps = picture.sps->ctrl;
    c.pps = pps.ctrl;
    if (pps.ctrl.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT) c.scaling_matrix = to_v4l2_matrix(pps.lists);
    v4l2_ctrl_h264_decode_params& d = c.decode_params;
    d.nal_ref_idc = slice.nal_ref_idc;
    d.frame_num = static_cast<uint16_t>(slice.frame_num);
    d.idr_pic_id = static_cast<uint16_t>(slice.idr_pic_id);
    d.pic_order_cnt_lsb = static_cast<uint16_t>(slice.pic_order_cnt_lsb);
    d.delta_pic_order_cnt_bottom = slice.delta_pic_order_cnt_bottom;
    d.delta_pic_order_cnt0 = slice.delta_pic_order_cnt[0];
    d.delta_pic_order_cnt1 = slice.delta_pic_order_cnt[1];
    d.pic_order_cnt_bit_size = slice.pic_order_cnt_bit_size;
    d.dec_ref_pic_marking_bit_size = slice.dec_ref_pic_marking_bit_size;
    if (slice.nal_unit_type == 5) d.flags |= V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
    if (slice.field_pic) d.flags |= V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
    if (slice.bottom_field) d.flags |= V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
    if (slice.slice_type == 0 || slice.slice_type == 3) d.flags |= V4L2_H264_DECODE_PARAM_FLAG_PFRAME;
    if (slice.slice_type == 1) d.flags |= V4L2_H264_DECODE_PARAM_FLAG_BFRAME;
    // The DPB array is left empty: the backend decodes from the slice data's
    // own reference handling and does not read it (h264_backend.cpp header).
  }

  static void fill_poc(v4l2_ctrl_h264_decode_params& d, const PicturePoc& poc, const ParsedSlice& slice) {
    d.top_field_order_cnt = (!slice.field_pic || !slice.bottom_field) ? poc.top : 0;
    d.bottom_field_order_cnt = (!slice.field_pic || slice.bottom_field) ? poc.bottom : 0;
  }

  std::vector<uint8_t> stream_;
  std::map<uint32_t, ParsedSps> sps_by_id_;
  std::map<uint32_t, ParsedPps> pps_by_id_;
  std::vector<std::unique_ptr<ParsedSps>> sps_store_;
};

// The slice-based controls for one slice of a picture.
inline v4l2_ctrl_h264_slice_params slice_params_for(const ParsedSlice& s) {
  v4l2_ctrl_h264_slice_params p{};
  p.first_mb_in_slice = s.first_mb_in_slice;
  p.slice_type = static_cast<uint8_t>(s.slice_type);
  p.redundant_pic_cnt = static_cast<uint8_t>(s.redundant_pic_cnt);
  p.num_ref_idx_l0_active_minus1 = static_cast<uint8_t>(s.num_ref_idx_l0_active_minus1);
  p.num_ref_idx_l1_active_minus1 = static_cast<uint8_t>(s.num_ref_idx_l1_active_minus1);
  if (s.direct_spatial_mv_pred) p.flags |= V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
  return p;
}

}  // namespace emu::test

#include "slice_header.h"

#include "bit_reader.h"

#include <string_view>

namespace v4l2va::h264 {
namespace {

// Reads a ue(v) and checks it against an inclusive upper bound (the ranges
// are those of the H.264 semantics sections named at each call).
bool read_ue_max(BitReader& reader, uint32_t max, std::string_view name, uint32_t& value, std::string& error) {
  value = reader.read_ue();
  if (!reader.ok()) {
    error = std::string("slice header truncated at ") + std::string(name);
    return false;
  }
  if (value > max) {
    error = std::string(name) + " = " + std::to_string(value) + " is above " + std::to_string(max);
    return false;
  }
  return true;
}

bool read_se_range(BitReader& reader, int32_t min, int32_t max, std::string_view name, int32_t& value,
                   std::string& error) {
  value = reader.read_se();
  if (!reader.ok()) {
    error = std::string("slice header truncated at ") + std::string(name);
    return false;
  }
  if (value < min || value > max) {
    error = std::string(name) + " = " + std::to_string(value) + " is outside [" + std::to_string(min) + ", " +
            std::to_string(max) + "]";
    return false;
  }
  return true;
}

bool check_ok(const BitReader& reader, std::string_view where, std::string& error) {
  if (reader.ok()) return true;
  error = std::string("slice header truncated at ") + std::string(where);
  return false;
}

// 7.3.3.1 ref_pic_list_modification() for one list: only skipped, VA-API
// hands over the modified lists.
bool skip_ref_pic_list_modification(BitReader& reader, unsigned list, uint8_t num_ref_idx_active_minus1,
                                    std::string& error) {
  const bool modification_flag = reader.read_flag();
  if (!check_ok(reader, "ref_pic_list_modification_flag", error)) return false;
  if (!modification_flag) return true;
  // 7.4.3.1: at most num_ref_idx_lX_active_minus1 + 1 modifications, then
  // the terminating modification_of_pic_nums_idc == 3.
  for (unsigned count = 0;; ++count) {
    uint32_t idc = 0;
    if (!read_ue_max(reader, 3, "modification_of_pic_nums_idc", idc, error)) return false;
    if (idc == 3) return true;
    if (count > num_ref_idx_active_minus1) {
      error = "ref_pic_list_modification l" + std::to_string(list) + " has more entries than the list";
      return false;
    }
    reader.read_ue();  // abs_diff_pic_num_minus1 or long_term_pic_num
    if (!check_ok(reader, "ref_pic_list_modification", error)) return false;
  }
}

// 7.3.3.2 pred_weight_table()
bool parse_pred_weight_table(BitReader& reader, const SliceHeader& header, uint8_t chroma_array_type,
                             PredWeightTable& table, std::string& error) {
  uint32_t denom = 0;
  if (!read_ue_max(reader, 7, "luma_log2_weight_denom", denom, error)) return false;
  table.luma_log2_weight_denom = static_cast<uint8_t>(denom);
  if (chroma_array_type != 0) {
    if (!read_ue_max(reader, 7, "chroma_log2_weight_denom", denom, error)) return false;
    table.chroma_log2_weight_denom = static_cast<uint8_t>(denom);
  }
  const unsigned lists = header.slice_type == kSliceB ? 2 : 1;
  for (unsigned list = 0; list < lists; ++list) {
    const unsigned count =
        (list == 0 ? header.num_ref_idx_l0_active_minus1 : header.num_ref_idx_l1_active_minus1) + 1u;
    for (unsigned i = 0; i < count; ++i) {
      // 7.4.3.2: an absent weight is 2^denom, an absent offset 0.
      table.luma_weight[list][i] = static_cast<int16_t>(1 << table.luma_log2_weight_denom);
      table.luma_offset[list][i] = 0;
      const bool luma_flag = reader.read_flag();
      if (!check_ok(reader, "luma_weight_flag", error)) return false;
      if (luma_flag) {
        int32_t value = 0;
        if (!read_se_range(reader, -128, 127, "luma_weight", value, error)) return false;
        table.luma_weight[list][i] = static_cast<int16_t>(value);
        if (!read_se_range(reader, -128, 127, "luma_offset", value, error)) return false;
        table.luma_offset[list][i] = static_cast<int16_t>(value);
      }
      if (chroma_array_type == 0) continue;
      for (unsigned j = 0; j < 2; ++j) {
        table.chroma_weight[list][i][j] = static_cast<int16_t>(1 << table.chroma_log2_weight_denom);
        table.chroma_offset[list][i][j] = 0;
      }
      const bool chroma_flag = reader.read_flag();
      if (!check_ok(reader, "chroma_weight_flag", error)) return false;
      if (!chroma_flag) continue;
      for (unsigned j = 0; j < 2; ++j) {
        int32_t value = 0;
        if (!read_se_range(reader, -128, 127, "chroma_weight", value, error)) return false;
        table.chroma_weight[list][i][j] = static_cast<int16_t>(value);
        if (!read_se_range(reader, -128, 127, "chroma_offset", value, error)) return false;
        table.chroma_offset[list][i][j] = static_cast<int16_t>(value);
      }
    }
  }
  return true;
}

// 7.3.3.3 dec_ref_pic_marking()
bool parse_dec_ref_pic_marking(BitReader& reader, SliceHeader& header, std::string& error) {
  if (header.is_idr()) {
    header.no_output_of_prior_pics = reader.read_flag();
    header.long_term_reference = reader.read_flag();
    return check_ok(reader, "dec_ref_pic_marking", error);
  }
  header.adaptive_ref_pic_marking_mode = reader.read_flag();
  if (!check_ok(reader, "adaptive_ref_pic_marking_mode_flag", error)) return false;
  if (!header.adaptive_ref_pic_marking_mode) return true;
  // Bounded so that malformed input cannot loop for long: a picture has at
  // most 32 fields to mark plus one operation of each other kind.
  constexpr unsigned kMaxOperations = 66;
  for (unsigned count = 0; count < kMaxOperations; ++count) {
    uint32_t operation = 0;
    if (!read_ue_max(reader, 6, "memory_management_control_operation", operation, error)) return false;
    if (operation == 0) return true;
    if (operation == 1 || operation == 3) reader.read_ue();  // difference_of_pic_nums_minus1
    if (operation == 2) reader.read_ue();                    // long_term_pic_num
    if (operation == 3 || operation == 6) reader.read_ue();  // long_term_frame_idx
    if (operation == 4) reader.read_ue();                    // max_long_term_frame_idx_plus1
    if (!check_ok(reader, "memory_management_control_operation", error)) return false;
  }
  error = "dec_ref_pic_marking has more than " + std::to_string(kMaxOperations) + " operations";
  return false;
}

// Ceil(Log2(PicSizeInMapUnits ÷ SliceGroupChangeRate + 1)) of 7.4.3, with
// the exact (not truncating) division the spec's ÷ denotes.
unsigned slice_group_change_cycle_bits(uint32_t pic_size_in_map_units, uint32_t change_rate) {
  unsigned bits = 0;
  // Smallest n with 2^n >= P / r + 1, i.e. r * 2^n >= P + r.
  while ((uint64_t{change_rate} << bits) < uint64_t{pic_size_in_map_units} + change_rate) ++bits;
  return bits;
}

}  // namespace

bool parse_slice_header(std::span<const uint8_t> nal, const SliceHeaderContext& context, SliceHeader& header,
                        std::string& error) {
  header = SliceHeader{};
  BitReader reader(nal);

  // 7.3.1 NAL unit header.
  const bool forbidden_zero_bit = reader.read_flag();
  header.nal_ref_idc = static_cast<uint8_t>(reader.read_bits(2));
  header.nal_unit_type = static_cast<uint8_t>(reader.read_bits(5));
  if (!check_ok(reader, "NAL header", error)) return false;
  if (forbidden_zero_bit) {
    error = "NAL header has forbidden_zero_bit set (data does not start at a NAL header)";
    return false;
  }
  if (header.nal_unit_type != 1 && header.nal_unit_type != 5) {
    error = "NAL unit type " + std::to_string(header.nal_unit_type) + " is not a coded slice (1 or 5)";
    return false;
  }

  uint32_t value = 0;
  header.first_mb_in_slice = reader.read_ue();
  if (!check_ok(reader, "first_mb_in_slice", error)) return false;
  if (!read_ue_max(reader, 9, "slice_type", value, error)) return false;
  header.raw_slice_type = static_cast<uint8_t>(value);
  header.slice_type = static_cast<uint8_t>(value % 5);
  if (!read_ue_max(reader, 255, "pic_parameter_set_id", value, error)) return false;
  header.pic_parameter_set_id = static_cast<uint8_t>(value);
  if (context.separate_colour_plane) {
    header.colour_plane_id = static_cast<uint8_t>(reader.read_bits(2));
    if (!check_ok(reader, "colour_plane_id", error)) return false;
    if (header.colour_plane_id > 2) {
      error = "colour_plane_id = 3 is above 2";
      return false;
    }
  }
  if (context.log2_max_frame_num_minus4 > 12) {
    error = "log2_max_frame_num_minus4 > 12";
    return false;
  }
  header.frame_num = static_cast<uint16_t>(reader.read_bits(context.log2_max_frame_num_minus4 + 4u));
  if (!context.frame_mbs_only) {
    header.field_pic = reader.read_flag();
    if (header.field_pic) header.bottom_field = reader.read_flag();
  }
  if (!check_ok(reader, "frame_num/field_pic_flag", error)) return false;
  if (context.pic_size_in_map_units != 0) {
    // 7.4.3: first_mb_in_slice * (1 + MbaffFrameFlag) < PicSizeInMbs. A
    // frame of a !frame_mbs_only stream has two map-unit rows per MB pair.
    const uint64_t frame_mbs = uint64_t{context.pic_size_in_map_units} * (context.frame_mbs_only ? 1 : 2);
    const uint64_t pic_mbs = header.field_pic ? frame_mbs / 2 : frame_mbs;
    if (header.first_mb_in_slice >= pic_mbs) {
      error = "first_mb_in_slice = " + std::to_string(header.first_mb_in_slice) + " is beyond the picture";
      return false;
    }
  }
  if (header.is_idr()) {
    if (!read_ue_max(reader, 65535, "idr_pic_id", value, error)) return false;
    header.idr_pic_id = static_cast<uint16_t>(value);
  }

  const size_t pic_order_cnt_start = reader.bit_position();
  if (context.pic_order_cnt_type == 0) {
    if (context.log2_max_pic_order_cnt_lsb_minus4 > 12) {
      error = "log2_max_pic_order_cnt_lsb_minus4 > 12";
      return false;
    }
    header.pic_order_cnt_lsb = static_cast<uint16_t>(reader.read_bits(context.log2_max_pic_order_cnt_lsb_minus4 + 4u));
    if (context.bottom_field_pic_order_in_frame_present && !header.field_pic)
      header.delta_pic_order_cnt_bottom = reader.read_se();
  } else if (context.pic_order_cnt_type == 1 && !context.delta_pic_order_always_zero) {
    header.delta_pic_order_cnt[0] = reader.read_se();
    if (context.bottom_field_pic_order_in_frame_present && !header.field_pic)
      header.delta_pic_order_cnt[1] = reader.read_se();
  }
  if (!check_ok(reader, "pic_order_cnt", error)) return false;
  header.pic_order_cnt_bit_size = static_cast<uint32_t>(reader.bit_position() - pic_order_cnt_start);

  if (context.redundant_pic_cnt_present) {
    if (!read_ue_max(reader, 127, "redundant_pic_cnt", value, error)) return false;
    header.redundant_pic_cnt = static_cast<uint8_t>(value);
  }
  const bool is_b = header.slice_type == kSliceB;
  const bool is_p_or_sp = header.slice_type == kSliceP || header.slice_type == kSliceSP;
  if (is_b) header.direct_spatial_mv_pred = reader.read_flag();
  header.num_ref_idx_l0_active_minus1 = context.num_ref_idx_l0_default_active_minus1;
  header.num_ref_idx_l1_active_minus1 = context.num_ref_idx_l1_default_active_minus1;
  if (is_p_or_sp || is_b) {
    header.num_ref_idx_active_override = reader.read_flag();
    if (!check_ok(reader, "num_ref_idx_active_override_flag", error)) return false;
    if (header.num_ref_idx_active_override) {
      // 7.4.3: 0..15 for frames, 0..31 for fields.
      const uint32_t max = header.field_pic ? 31 : 15;
      if (!read_ue_max(reader, max, "num_ref_idx_l0_active_minus1", value, error)) return false;
      header.num_ref_idx_l0_active_minus1 = static_cast<uint8_t>(value);
      if (is_b) {
        if (!read_ue_max(reader, max, "num_ref_idx_l1_active_minus1", value, error)) return false;
        header.num_ref_idx_l1_active_minus1 = static_cast<uint8_t>(value);
      }
    }
  }
  if (header.num_ref_idx_l0_active_minus1 > 31 || header.num_ref_idx_l1_active_minus1 > 31) {
    error = "num_ref_idx default above 31";
    return false;
  }
  if (header.slice_type != kSliceI && header.slice_type != kSliceSI) {
    if (!skip_ref_pic_list_modification(reader, 0, header.num_ref_idx_l0_active_minus1, error)) return false;
    if (is_b && !skip_ref_pic_list_modification(reader, 1, header.num_ref_idx_l1_active_minus1, error)) return false;
  }
  const uint8_t chroma_array_type = context.separate_colour_plane ? 0 : context.chroma_format_idc;
  header.has_pred_weight_table =
      (context.weighted_pred && is_p_or_sp) || (context.weighted_bipred_idc == 1 && is_b);
  if (header.has_pred_weight_table &&
      !parse_pred_weight_table(reader, header, chroma_array_type, header.pred_weight_table, error))
    return false;
  if (header.nal_ref_idc != 0) {
    const size_t marking_start = reader.bit_position();
    if (!parse_dec_ref_pic_marking(reader, header, error)) return false;
    header.dec_ref_pic_marking_bit_size = static_cast<uint32_t>(reader.bit_position() - marking_start);
  }
  if (context.entropy_coding_mode && header.slice_type != kSliceI && header.slice_type != kSliceSI) {
    if (!read_ue_max(reader, 2, "cabac_init_idc", value, error)) return false;
    header.cabac_init_idc = static_cast<uint8_t>(value);
  }
  int32_t signed_value = 0;
  // 7.4.3: SliceQPY = 26 + pic_init_qp_minus26 + slice_qp_delta lies in
  // [-QpBdOffsetY, 51], pic_init_qp_minus26 in [-(26 + QpBdOffsetY), 25] and
  // QpBdOffsetY <= 36 (7.4.2.1.1, 7.4.2.2): so |slice_qp_delta| <= 87.
  if (!read_se_range(reader, -87, 87, "slice_qp_delta", signed_value, error)) return false;
  header.slice_qp_delta = static_cast<int8_t>(signed_value);
  if (header.slice_type == kSliceSP || header.slice_type == kSliceSI) {
    if (header.slice_type == kSliceSP) header.sp_for_switch = reader.read_flag();
    // QSY = 26 + pic_init_qs_minus26 + slice_qs_delta in [0, 51].
    if (!read_se_range(reader, -51, 51, "slice_qs_delta", signed_value, error)) return false;
    header.slice_qs_delta = static_cast<int8_t>(signed_value);
  }
  if (context.deblocking_filter_control_present) {
    if (!read_ue_max(reader, 2, "disable_deblocking_filter_idc", value, error)) return false;
    header.disable_deblocking_filter_idc = static_cast<uint8_t>(value);
    if (header.disable_deblocking_filter_idc != 1) {
      if (!read_se_range(reader, -6, 6, "slice_alpha_c0_offset_div2", signed_value, error)) return false;
      header.slice_alpha_c0_offset_div2 = static_cast<int8_t>(signed_value);
      if (!read_se_range(reader, -6, 6, "slice_beta_offset_div2", signed_value, error)) return false;
      header.slice_beta_offset_div2 = static_cast<int8_t>(signed_value);
    }
  }
  if (context.num_slice_groups_minus1 > 0 && context.slice_group_map_type >= 3 && context.slice_group_map_type <= 5) {
    const unsigned bits =
        slice_group_change_cycle_bits(context.pic_size_in_map_units, context.slice_group_change_rate_minus1 + 1u);
    if (bits > 32) {
      error = "slice_group_change_cycle wider than 32 bits";
      return false;
    }
    header.slice_group_change_cycle = reader.read_bits(bits);
    if (!check_ok(reader, "slice_group_change_cycle", error)) return false;
  }
  header.header_bit_size = static_cast<uint32_t>(reader.bit_position());
  header.header_emulation_prevention_bytes = static_cast<uint32_t>(reader.emulation_prevention_bytes());
  return true;
}

}  // namespace v4l2va::h264

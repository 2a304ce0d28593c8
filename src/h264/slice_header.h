// H.264 slice header parser (ITU-T H.264 7.3.3). It recovers what
// VA-API does not carry (idr_pic_id, nal_ref_idc, the POC syntax elements,
// the bit sizes the V4L2 controls need) from the slice NAL the client passed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace v4l2va::h264 {

// The SPS/PPS syntax elements the slice header syntax depends on. VA-API's
// picture parameter buffer carries all of them except the PPS defaults
// num_ref_idx_l0/l1_default_active_minus1 (see translate_picture).
struct SliceHeaderContext {
  uint8_t chroma_format_idc = 1;
  bool separate_colour_plane = false;
  uint8_t log2_max_frame_num_minus4 = 0;
  bool frame_mbs_only = true;
  uint8_t pic_order_cnt_type = 0;
  uint8_t log2_max_pic_order_cnt_lsb_minus4 = 0;
  bool delta_pic_order_always_zero = false;
  bool bottom_field_pic_order_in_frame_present = false;
  bool redundant_pic_cnt_present = false;
  bool weighted_pred = false;
  uint8_t weighted_bipred_idc = 0;
  bool entropy_coding_mode = false;
  bool deblocking_filter_control_present = false;
  uint8_t num_slice_groups_minus1 = 0;
  uint8_t slice_group_map_type = 0;
  uint16_t slice_group_change_rate_minus1 = 0;
  uint32_t pic_size_in_map_units = 0;  // PicWidthInMbs * PicHeightInMapUnits
  uint8_t num_ref_idx_l0_default_active_minus1 = 0;
  uint8_t num_ref_idx_l1_default_active_minus1 = 0;
};

enum SliceType : uint8_t { kSliceP = 0, kSliceB = 1, kSliceI = 2, kSliceSP = 3, kSliceSI = 4 };

struct PredWeightTable {
  uint8_t luma_log2_weight_denom = 0;
  uint8_t chroma_log2_weight_denom = 0;
  // [list][ref]; defaults (2^denom, 0) filled in where the flag was 0 (7.4.3.2).
  std::array<std::array<int16_t, 32>, 2> luma_weight{};
  std::array<std::array<int16_t, 32>, 2> luma_offset{};
  std::array<std::array<std::array<int16_t, 2>, 32>, 2> chroma_weight{};
  std::array<std::array<std::array<int16_t, 2>, 32>, 2> chroma_offset{};
};

struct SliceHeader {
  // NAL unit header (7.3.1).
  uint8_t nal_ref_idc = 0;
  uint8_t nal_unit_type = 0;

  uint32_t first_mb_in_slice = 0;
  uint8_t slice_type = 0;      // slice_type % 5, see SliceType
  uint8_t raw_slice_type = 0;  // as coded, 0..9
  uint8_t pic_parameter_set_id = 0;
  uint8_t colour_plane_id = 0;
  uint16_t frame_num = 0;
  bool field_pic = false;
  bool bottom_field = false;
  uint16_t idr_pic_id = 0;
  uint16_t pic_order_cnt_lsb = 0;
  int32_t delta_pic_order_cnt_bottom = 0;
  int32_t delta_pic_order_cnt[2] = {0, 0};
  uint8_t redundant_pic_cnt = 0;
  bool direct_spatial_mv_pred = false;
  bool num_ref_idx_active_override = false;
  uint8_t num_ref_idx_l0_active_minus1 = 0;  // the effective value (default when not overridden)
  uint8_t num_ref_idx_l1_active_minus1 = 0;
  bool has_pred_weight_table = false;
  PredWeightTable pred_weight_table;
  // dec_ref_pic_marking() (7.3.3.3)
  bool no_output_of_prior_pics = false;
  bool long_term_reference = false;
  bool adaptive_ref_pic_marking_mode = false;
  uint8_t cabac_init_idc = 0;
  int8_t slice_qp_delta = 0;
  bool sp_for_switch = false;
  int8_t slice_qs_delta = 0;
  uint8_t disable_deblocking_filter_idc = 0;
  int8_t slice_alpha_c0_offset_div2 = 0;
  int8_t slice_beta_offset_div2 = 0;
  uint32_t slice_group_change_cycle = 0;

  // Bit sizes, all in RBSP bits (emulation-prevention bytes excluded), as
  // GStreamer's v4l2codecs and FFmpeg's v4l2-request fill the V4L2 controls.
  // From the NAL header byte to the end of slice_header(): equals VA's
  // slice_data_bit_offset and V4L2 slice_params.header_bit_size.
  uint32_t header_bit_size = 0;
  uint32_t dec_ref_pic_marking_bit_size = 0;  // 0 when nal_ref_idc == 0
  // pic_order_cnt_lsb + delta_pic_order_cnt_bottom + delta_pic_order_cnt[0..1]
  uint32_t pic_order_cnt_bit_size = 0;
  // Emulation-prevention bytes inside the header (NAL header to end).
  uint32_t header_emulation_prevention_bytes = 0;

  bool is_idr() const { return nal_unit_type == 5; }
};

// Parses the NAL header and slice header of one coded slice NAL unit
// (nal_unit_type 1 or 5), `nal` starting at the NAL header byte. Returns
// false, with `error` saying what is wrong, on truncated or out-of-range
// input; never reads outside `nal`.
bool parse_slice_header(std::span<const uint8_t> nal, const SliceHeaderContext& context, SliceHeader& header,
                        std::string& error);

}  // namespace v4l2va::h264

#include "controls.h"

#include <gtest/gtest.h>

#include <cstring>
#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "bit_writer.h"
#include "kernel_rules.h"
#include "slice_header.h"
#include "test_data.h"

namespace v4l2va::h264 {
namespace {

using test::BitWriter;
using test::kernel_accepts_unchanged;

constexpr VASurfaceID kCurrentSurface = 100;

VAPictureH264 no_picture() {
  VAPictureH264 picture{};
  picture.picture_id = VA_INVALID_SURFACE;
  picture.flags = VA_PICTURE_H264_INVALID;
  return picture;
}

VAPictureH264 reference(VASurfaceID surface, uint32_t frame_idx, uint32_t flags, int32_t top_poc, int32_t bottom_poc) {
  VAPictureH264 picture{};
  picture.picture_id = surface;
  picture.frame_idx = frame_idx;
  picture.flags = flags;
  picture.TopFieldOrderCnt = top_poc;
  picture.BottomFieldOrderCnt = bottom_poc;
  return picture;
}

// A 176x144 progressive 4:2:0 stream: frame_num 4 bits, POC type 0 with a
// 6-bit pic_order_cnt_lsb, CAVLC, deblocking control present.
VAPictureParameterBufferH264 base_picture() {
  VAPictureParameterBufferH264 pic{};
  pic.CurrPic = reference(kCurrentSurface, 5, 0, 10, 11);
  for (auto& entry : pic.ReferenceFrames) entry = no_picture();
  pic.picture_width_in_mbs_minus1 = 10;
  pic.picture_height_in_mbs_minus1 = 8;
  pic.num_ref_frames = 4;
  pic.seq_fields.bits.chroma_format_idc = 1;
  pic.seq_fields.bits.frame_mbs_only_flag = 1;
  pic.seq_fields.bits.direct_8x8_inference_flag = 1;
  pic.seq_fields.bits.log2_max_frame_num_minus4 = 0;
  pic.seq_fields.bits.pic_order_cnt_type = 0;
  pic.seq_fields.bits.log2_max_pic_order_cnt_lsb_minus4 = 2;
  pic.pic_fields.bits.deblocking_filter_control_present_flag = 1;
  pic.pic_fields.bits.reference_pic_flag = 1;
  pic.frame_num = 5;
  return pic;
}

// What the slice header syntax of `pic` looks like (as translate_picture
// derives it), for writing test slices.
SliceHeaderContext context_of(const VAPictureParameterBufferH264& pic) {
  SliceHeaderContext context;
  const auto& seq = pic.seq_fields.bits;
  const auto& bits = pic.pic_fields.bits;
  context.chroma_format_idc = static_cast<uint8_t>(seq.chroma_format_idc);
  context.log2_max_frame_num_minus4 = static_cast<uint8_t>(seq.log2_max_frame_num_minus4);
  context.frame_mbs_only = seq.frame_mbs_only_flag;
  context.pic_order_cnt_type = static_cast<uint8_t>(seq.pic_order_cnt_type);
  context.log2_max_pic_order_cnt_lsb_minus4 = static_cast<uint8_t>(seq.log2_max_pic_order_cnt_lsb_minus4);
  context.delta_pic_order_always_zero = seq.delta_pic_order_always_zero_flag;
  context.bottom_field_pic_order_in_frame_present = bits.pic_order_present_flag;
  context.redundant_pic_cnt_present = bits.redundant_pic_cnt_present_flag;
  context.weighted_pred = bits.weighted_pred_flag;
  context.weighted_bipred_idc = static_cast<uint8_t>(bits.weighted_bipred_idc);
  context.entropy_coding_mode = bits.entropy_coding_mode_flag;
  context.deblocking_filter_control_present = bits.deblocking_filter_control_present_flag;
  return context;
}

struct SliceSpec {
  uint8_t nal_ref_idc = 2;
  bool idr = false;
  uint8_t slice_type = kSliceP;
  uint32_t first_mb = 0;
  uint8_t pps_id = 0;
  uint16_t frame_num = 5;
  bool field_pic = false;
  bool bottom_field = false;
  uint16_t idr_pic_id = 0;
  uint16_t poc_lsb = 10;
  bool direct_spatial = false;
  bool override = false;
  uint8_t l0 = 0;
  uint8_t l1 = 0;
  int8_t qp_delta = 0;
  uint8_t disable_deblocking = 0;
  int8_t alpha = 0;
  int8_t beta = 0;
};

// Writes the slice NAL described by `spec` (no list modification, no
// adaptive marking, every weight flag 0) followed by some slice data.
std::vector<uint8_t> encode_slice(const SliceHeaderContext& context, const SliceSpec& spec) {
  BitWriter w;
  w.bits(spec.nal_ref_idc, 3);  // forbidden_zero_bit + nal_ref_idc
  w.bits(spec.idr ? 5 : 1, 5);
  w.ue(spec.first_mb);
  w.ue(spec.slice_type + 5u);
  w.ue(spec.pps_id);
  w.bits(spec.frame_num, context.log2_max_frame_num_minus4 + 4u);
  if (!context.frame_mbs_only) {
    w.flag(spec.field_pic);
    if (spec.field_pic) w.flag(spec.bottom_field);
  }
  if (spec.idr) w.ue(spec.idr_pic_id);
  if (context.pic_order_cnt_type == 0) {
    w.bits(spec.poc_lsb, context.log2_max_pic_order_cnt_lsb_minus4 + 4u);
    if (context.bottom_field_pic_order_in_frame_present && !spec.field_pic) w.se(0);
  }
  const bool is_b = spec.slice_type == kSliceB;
  const bool is_p = spec.slice_type == kSliceP || spec.slice_type == kSliceSP;
  if (is_b) w.flag(spec.direct_spatial);
  if (is_p || is_b) {
    w.flag(spec.override);
    if (spec.override) {
      w.ue(spec.l0);
      if (is_b) w.ue(spec.l1);
    }
    w.flag(false);  // ref_pic_list_modification_flag_l0
    if (is_b) w.flag(false);
  }
  if ((context.weighted_pred && is_p) || (context.weighted_bipred_idc == 1 && is_b)) {
    w.ue(2);  // luma_log2_weight_denom
    if (context.chroma_format_idc != 0) w.ue(1);
    const unsigned lists = is_b ? 2 : 1;
    for (unsigned list = 0; list < lists; ++list) {
      const unsigned count = (list == 0 ? spec.l0 : spec.l1) + 1u;
      for (unsigned i = 0; i < count; ++i) {
        w.flag(false);
        if (context.chroma_format_idc != 0) w.flag(false);
      }
    }
  }
  if (spec.nal_ref_idc != 0) {
    if (spec.idr) {
      w.flag(false);
      w.flag(false);
    } else {
      w.flag(false);
    }
  }
  if (context.entropy_coding_mode && spec.slice_type != kSliceI) w.ue(0);
  w.se(spec.qp_delta);
  if (context.deblocking_filter_control_present) {
    w.ue(spec.disable_deblocking);
    if (spec.disable_deblocking != 1) {
      w.se(spec.alpha);
      w.se(spec.beta);
    }
  }
  w.trailing_bits();
  w.bytes({0x9e, 0x11, 0x42});
  return w.escaped();
}

// One picture's inputs, owning the buffers the SliceInputs point into.
struct PictureInput {
  VAPictureParameterBufferH264 pic = base_picture();
  std::vector<VASliceParameterBufferH264> params;
  std::vector<std::vector<uint8_t>> data;

  VASliceParameterBufferH264& add_slice(const SliceSpec& spec) {
    VASliceParameterBufferH264 param{};
    param.slice_type = spec.slice_type;
    param.first_mb_in_slice = static_cast<uint16_t>(spec.first_mb);
    // va.h: the effective count (the PPS default when not overridden).
    param.num_ref_idx_l0_active_minus1 = spec.l0;
    param.num_ref_idx_l1_active_minus1 = spec.l1;
    for (auto& entry : param.RefPicList0) entry = no_picture();
    for (auto& entry : param.RefPicList1) entry = no_picture();
    data.push_back(encode_slice(context_of(pic), spec));
    param.slice_data_size = static_cast<uint32_t>(data.back().size());
    params.push_back(param);
    return params.back();
  }

  std::vector<SliceInput> slices() const {
    std::vector<SliceInput> inputs;
    for (size_t i = 0; i < params.size(); ++i) inputs.push_back({&params[i], data[i].data(), data[i].size()});
    return inputs;
  }
};

// Timestamps as the driver would know them: 1000 ns per surface id.
const ReferenceTimestamp kTimestamps = [](VASurfaceID surface) -> std::optional<uint64_t> {
  if (surface >= 90) return std::nullopt;
  return uint64_t{surface} * 1000;
};

VAStatus translate(const PictureInput& input, StreamState& state, PictureControls& out, std::string& error,
                   const VAIQMatrixBufferH264* iq = nullptr) {
  const std::vector<SliceInput> slices = input.slices();
  return translate_picture(input.pic, iq, slices, kTimestamps, state, out, error);
}

void expect_kernel_accepts(const PictureControls& controls) {
  EXPECT_TRUE(kernel_accepts_unchanged(controls.sps));
  EXPECT_TRUE(kernel_accepts_unchanged(controls.pps));
  EXPECT_TRUE(kernel_accepts_unchanged(controls.decode_params));
  for (const auto& slice : controls.slice_params) EXPECT_TRUE(kernel_accepts_unchanged(slice));
  for (const auto& weights : controls.pred_weights) EXPECT_TRUE(kernel_accepts_unchanged(weights));
  // A valid DPB entry never has fields = 0 (rkvdec rejects P frames then).
  for (const auto& entry : controls.decode_params.dpb) {
    if (entry.flags & V4L2_H264_DPB_ENTRY_FLAG_VALID) {
      EXPECT_NE(entry.fields, 0);
    }
  }
}

TEST(Translate, SpsFromPictureParameters) {
  PictureInput input;
  auto& seq = input.pic.seq_fields.bits;
  seq.gaps_in_frame_num_value_allowed_flag = 1;
  seq.log2_max_frame_num_minus4 = 3;
  input.pic.num_ref_frames = 5;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  spec.idr = true;
  spec.nal_ref_idc = 3;
  spec.frame_num = 0;
  input.add_slice(spec);
  StreamState state(VAProfileH264Main);
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const v4l2_ctrl_h264_sps& sps = out.sps;
  EXPECT_EQ(sps.profile_idc, 77);
  EXPECT_EQ(sps.constraint_set_flags, 0);
  // 99-MB frames, 5 references: 495 MBs exceed level 1's MaxDpbMbs 396, fit
  // level 1.1's 900 (Table A-1).
  EXPECT_EQ(sps.level_idc, 11);
  EXPECT_EQ(sps.seq_parameter_set_id, 0);
  EXPECT_EQ(sps.chroma_format_idc, 1);
  EXPECT_EQ(sps.bit_depth_luma_minus8, 0);
  EXPECT_EQ(sps.bit_depth_chroma_minus8, 0);
  EXPECT_EQ(sps.log2_max_frame_num_minus4, 3);
  EXPECT_EQ(sps.pic_order_cnt_type, 0);
  EXPECT_EQ(sps.log2_max_pic_order_cnt_lsb_minus4, 2);
  EXPECT_EQ(sps.max_num_ref_frames, 5);
  EXPECT_EQ(sps.num_ref_frames_in_pic_order_cnt_cycle, 0);
  EXPECT_EQ(sps.pic_width_in_mbs_minus1, 10);
  EXPECT_EQ(sps.pic_height_in_map_units_minus1, 8);
  EXPECT_EQ(sps.flags, V4L2_H264_SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED | V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY |
                           V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE);
  expect_kernel_accepts(out);
}

TEST(Translate, InterlacedHeightIsInMapUnits) {
  PictureInput input;
  auto& seq = input.pic.seq_fields.bits;
  seq.frame_mbs_only_flag = 0;
  seq.mb_adaptive_frame_field_flag = 1;
  seq.pic_order_cnt_type = 2;
  seq.delta_pic_order_always_zero_flag = 1;
  input.pic.picture_height_in_mbs_minus1 = 17;  // 18 MB rows = 9 map-unit rows
  SliceSpec spec;
  spec.slice_type = kSliceI;
  input.add_slice(spec);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.sps.pic_height_in_map_units_minus1, 8);
  EXPECT_EQ(out.sps.pic_order_cnt_type, 2);
  EXPECT_EQ(out.sps.log2_max_pic_order_cnt_lsb_minus4, 0);  // absent for POC type 2
  EXPECT_EQ(out.sps.flags, V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD | V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE |
                               V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO);
  EXPECT_EQ(out.sps.profile_idc, 100);
  expect_kernel_accepts(out);

  input.pic.picture_height_in_mbs_minus1 = 16;  // 17 MB rows cannot be field pairs
  EXPECT_EQ(translate(input, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("picture_height_in_mbs_minus1"), std::string::npos) << error;
}

TEST(Translate, ProfileIdcFromContextProfileAndTools) {
  struct Case {
    VAProfile profile;
    bool cabac;
    bool transform_8x8;
    uint8_t chroma_format_idc;
    uint8_t bit_depth_minus8;
    uint8_t expected_profile_idc;
    uint8_t expected_constraints;
  };
  const Case cases[] = {
      {VAProfileH264ConstrainedBaseline, false, false, 1, 0, 66,
       V4L2_H264_SPS_CONSTRAINT_SET0_FLAG | V4L2_H264_SPS_CONSTRAINT_SET1_FLAG},
      {VAProfileH264ConstrainedBaseline, true, false, 1, 0, 77, 0},  // CABAC is not Baseline
      {VAProfileH264Main, false, false, 1, 0, 77, 0},
      {VAProfileH264Main, true, true, 1, 0, 100, 0},  // 8x8 transform needs High
      {VAProfileH264High, false, false, 1, 0, 100, 0},
      {VAProfileH264High, false, false, 0, 0, 100, 0},  // monochrome keeps chroma_format_idc 0
      {VAProfileH264High, false, false, 1, 2, 110, 0},
      {VAProfileH264High, false, false, 2, 0, 122, 0},
      {VAProfileH264High, false, false, 3, 0, 244, 0},
      {VAProfileH264StereoHigh, true, true, 1, 0, 128, 0},
  };
  for (const Case& c : cases) {
    PictureInput input;
    input.pic.pic_fields.bits.entropy_coding_mode_flag = c.cabac;
    input.pic.pic_fields.bits.transform_8x8_mode_flag = c.transform_8x8;
    input.pic.seq_fields.bits.chroma_format_idc = c.chroma_format_idc;
    input.pic.bit_depth_luma_minus8 = c.bit_depth_minus8;
    input.pic.bit_depth_chroma_minus8 = c.bit_depth_minus8;
    SliceSpec spec;
    spec.slice_type = kSliceI;
    input.add_slice(spec);
    StreamState state(c.profile);
    PictureControls out;
    std::string error;
    ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
    EXPECT_EQ(out.sps.profile_idc, c.expected_profile_idc) << c.profile;
    EXPECT_EQ(out.sps.constraint_set_flags, c.expected_constraints) << c.profile;
    EXPECT_EQ(out.sps.chroma_format_idc, c.chroma_format_idc) << c.profile;
    EXPECT_EQ(out.sps.bit_depth_luma_minus8, c.bit_depth_minus8) << c.profile;
    expect_kernel_accepts(out);  // e.g. 4:2:2 below profile_idc 122 would be EINVAL
  }
}

TEST(Translate, PpsFromPictureParametersAndSlice) {
  PictureInput input;
  auto& bits = input.pic.pic_fields.bits;
  bits.entropy_coding_mode_flag = 1;
  bits.pic_order_present_flag = 1;
  bits.weighted_pred_flag = 1;
  bits.weighted_bipred_idc = 2;
  bits.transform_8x8_mode_flag = 1;
  bits.constrained_intra_pred_flag = 1;
  bits.redundant_pic_cnt_present_flag = 0;
  input.pic.pic_init_qp_minus26 = -4;
  input.pic.pic_init_qs_minus26 = 3;
  input.pic.chroma_qp_index_offset = -2;
  input.pic.second_chroma_qp_index_offset = 5;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  spec.pps_id = 7;
  input.add_slice(spec);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const v4l2_ctrl_h264_pps& pps = out.pps;
  EXPECT_EQ(pps.pic_parameter_set_id, 7);
  EXPECT_EQ(pps.seq_parameter_set_id, 0);
  EXPECT_EQ(pps.num_slice_groups_minus1, 0);
  EXPECT_EQ(pps.weighted_bipred_idc, 2);
  EXPECT_EQ(pps.pic_init_qp_minus26, -4);
  EXPECT_EQ(pps.pic_init_qs_minus26, 3);
  EXPECT_EQ(pps.chroma_qp_index_offset, -2);
  EXPECT_EQ(pps.second_chroma_qp_index_offset, 5);
  EXPECT_EQ(pps.flags, V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE |
                           V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT |
                           V4L2_H264_PPS_FLAG_WEIGHTED_PRED | V4L2_H264_PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT |
                           V4L2_H264_PPS_FLAG_CONSTRAINED_INTRA_PRED | V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE);
  expect_kernel_accepts(out);
}

TEST(Translate, ScalingMatrixOrder) {
  PictureInput input;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  input.add_slice(spec);
  VAIQMatrixBufferH264 iq{};
  for (unsigned list = 0; list < 6; ++list)
    for (unsigned i = 0; i < 16; ++i) iq.ScalingList4x4[list][i] = static_cast<uint8_t>(list * 16 + i + 1);
  for (unsigned list = 0; list < 2; ++list)
    for (unsigned i = 0; i < 64; ++i) iq.ScalingList8x8[list][i] = static_cast<uint8_t>(100 + list * 64 + i);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error, &iq), VA_STATUS_SUCCESS) << error;
  EXPECT_TRUE(out.pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);
  // 4x4: same list order (Intra Y, Cb, Cr, Inter Y, Cb, Cr), same raster order.
  for (unsigned list = 0; list < 6; ++list)
    for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(out.scaling_matrix.scaling_list_4x4[list][i], list * 16 + i + 1);
  // 8x8: VA [0] Intra Y -> V4L2 [0], VA [1] Inter Y -> V4L2 [1] (not [3]).
  for (unsigned i = 0; i < 64; ++i) {
    EXPECT_EQ(out.scaling_matrix.scaling_list_8x8[0][i], 100 + i);
    EXPECT_EQ(out.scaling_matrix.scaling_list_8x8[1][i], 164 + i);
  }

  ASSERT_EQ(translate(input, state, out, error, nullptr), VA_STATUS_SUCCESS) << error;
  EXPECT_FALSE(out.pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);
  for (const auto& list : out.scaling_matrix.scaling_list_4x4)
    for (uint8_t value : list) EXPECT_EQ(value, 16);
  for (const auto& list : out.scaling_matrix.scaling_list_8x8)
    for (uint8_t value : list) EXPECT_EQ(value, 16);
}

// Clients send a flat IQ matrix with every picture, Baseline included. Only
// High profiles can carry a scaling matrix (7.3.2.2), so below High the PPS
// must not claim one; a custom matrix raises profile_idc to High instead.
TEST(Translate, FlatScalingMatrixBelowHighIsNotPresent) {
  PictureInput input;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  input.add_slice(spec);
  VAIQMatrixBufferH264 flat{};
  std::memset(&flat, 16, sizeof(flat));
  StreamState baseline(VAProfileH264ConstrainedBaseline);
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, baseline, out, error, &flat), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.sps.profile_idc, 66);
  EXPECT_FALSE(out.pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);

  StreamState high(VAProfileH264High);
  ASSERT_EQ(translate(input, high, out, error, &flat), VA_STATUS_SUCCESS) << error;
  EXPECT_TRUE(out.pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);

  VAIQMatrixBufferH264 custom = flat;
  custom.ScalingList4x4[0][0] = 6;
  StreamState main_profile(VAProfileH264Main);
  ASSERT_EQ(translate(input, main_profile, out, error, &custom), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.sps.profile_idc, 100);
  EXPECT_TRUE(out.pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);
}

TEST(Translate, DpbFromReferenceFrames) {
  PictureInput input;
  auto& refs = input.pic.ReferenceFrames;
  refs[0] = reference(40, 1, VA_PICTURE_H264_INVALID, 0, 0);  // flagged invalid: skipped
  refs[1] = reference(10, 3, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 6, 7);
  refs[2] = reference(VA_INVALID_SURFACE, 0, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 0);  // skipped
  refs[3] = reference(11, 1, VA_PICTURE_H264_LONG_TERM_REFERENCE, 2, 3);
  refs[4] = reference(12, 14, VA_PICTURE_H264_SHORT_TERM_REFERENCE, -4, -3);  // frame_num wrapped
  SliceSpec spec;  // P slice, frame_num 5
  input.add_slice(spec);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const auto& dpb = out.decode_params.dpb;
  constexpr uint32_t kShortTerm = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE;

  EXPECT_EQ(dpb[0].reference_ts, 10000u);
  EXPECT_EQ(dpb[0].frame_num, 3);
  EXPECT_EQ(dpb[0].pic_num, 3u);
  EXPECT_EQ(dpb[0].fields, V4L2_H264_FRAME_REF);  // neither VA field flag: a frame
  EXPECT_EQ(dpb[0].top_field_order_cnt, 6);
  EXPECT_EQ(dpb[0].bottom_field_order_cnt, 7);
  EXPECT_EQ(dpb[0].flags, kShortTerm);

  EXPECT_EQ(dpb[1].reference_ts, 11000u);
  EXPECT_EQ(dpb[1].frame_num, 1);  // LongTermFrameIdx
  EXPECT_EQ(dpb[1].pic_num, 1u);   // LongTermPicNum
  EXPECT_EQ(dpb[1].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(dpb[1].flags, kShortTerm | V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM);

  EXPECT_EQ(dpb[2].reference_ts, 12000u);
  EXPECT_EQ(dpb[2].frame_num, 14);
  EXPECT_EQ(static_cast<int32_t>(dpb[2].pic_num), 14 - 16);  // FrameNumWrap (8-27)
  EXPECT_EQ(dpb[2].top_field_order_cnt, -4);
  EXPECT_EQ(dpb[2].flags, kShortTerm);

  for (unsigned i = 3; i < V4L2_H264_NUM_DPB_ENTRIES; ++i) {
    const v4l2_h264_dpb_entry empty{};
    EXPECT_EQ(std::memcmp(&dpb[i], &empty, sizeof(empty)), 0) << i;
  }
  EXPECT_EQ(out.decode_params.flags, V4L2_H264_DECODE_PARAM_FLAG_PFRAME);
  expect_kernel_accepts(out);
}

TEST(Translate, PaffFieldReferences) {
  PictureInput input;
  input.pic.seq_fields.bits.frame_mbs_only_flag = 0;
  input.pic.picture_height_in_mbs_minus1 = 9;
  input.pic.pic_fields.bits.field_pic_flag = 1;
  input.pic.CurrPic.flags = VA_PICTURE_H264_BOTTOM_FIELD;
  auto& refs = input.pic.ReferenceFrames;
  // Both fields of surface 20; only the top field of 21; a long-term pair.
  refs[0] = reference(20, 2, VA_PICTURE_H264_SHORT_TERM_REFERENCE | VA_PICTURE_H264_TOP_FIELD |
                                 VA_PICTURE_H264_BOTTOM_FIELD, 4, 5);
  refs[1] = reference(21, 4, VA_PICTURE_H264_SHORT_TERM_REFERENCE | VA_PICTURE_H264_TOP_FIELD, 8, 0);
  refs[2] = reference(22, 0, VA_PICTURE_H264_LONG_TERM_REFERENCE, 0, 1);
  SliceSpec spec;
  spec.field_pic = true;
  spec.bottom_field = true;
  spec.override = true;
  spec.l0 = 2;
  VASliceParameterBufferH264& param = input.add_slice(spec);
  param.RefPicList0[0] = reference(21, 4, VA_PICTURE_H264_TOP_FIELD, 8, 0);
  param.RefPicList0[1] = reference(20, 2, VA_PICTURE_H264_BOTTOM_FIELD, 4, 5);
  param.RefPicList0[2] = reference(22, 0, VA_PICTURE_H264_TOP_FIELD | VA_PICTURE_H264_LONG_TERM_REFERENCE, 0, 1);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const auto& dpb = out.decode_params.dpb;
  constexpr uint32_t kFieldRef =
      V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE | V4L2_H264_DPB_ENTRY_FLAG_FIELD;
  EXPECT_EQ(dpb[0].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(dpb[0].pic_num, 5u);  // 2 * FrameNumWrap + 1 (same parity, 8-28)
  EXPECT_EQ(dpb[0].flags, kFieldRef);
  EXPECT_EQ(dpb[1].fields, V4L2_H264_TOP_FIELD_REF);
  EXPECT_EQ(dpb[1].pic_num, 9u);
  EXPECT_EQ(dpb[1].flags, kFieldRef);
  EXPECT_EQ(dpb[2].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(dpb[2].pic_num, 1u);  // 2 * LongTermFrameIdx + 1 (8-29)
  EXPECT_EQ(dpb[2].flags, kFieldRef | V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM);

  const v4l2_ctrl_h264_decode_params& decode = out.decode_params;
  EXPECT_EQ(decode.flags, V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC | V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD |
                              V4L2_H264_DECODE_PARAM_FLAG_PFRAME);
  const auto& list = out.slice_params[0].ref_pic_list0;
  EXPECT_EQ(list[0].fields, V4L2_H264_TOP_FIELD_REF);
  EXPECT_EQ(list[0].index, 1);
  EXPECT_EQ(list[1].fields, V4L2_H264_BOTTOM_FIELD_REF);
  EXPECT_EQ(list[1].index, 0);
  EXPECT_EQ(list[2].fields, V4L2_H264_TOP_FIELD_REF);
  EXPECT_EQ(list[2].index, 2);
  EXPECT_EQ(out.slice_params[0].num_ref_idx_l0_active_minus1, 2);
  expect_kernel_accepts(out);
}

TEST(Translate, SameSurfaceListedPerFieldBecomesOneEntry) {
  PictureInput input;
  input.pic.seq_fields.bits.frame_mbs_only_flag = 0;
  input.pic.picture_height_in_mbs_minus1 = 9;
  auto& refs = input.pic.ReferenceFrames;
  refs[0] = reference(20, 2, VA_PICTURE_H264_SHORT_TERM_REFERENCE | VA_PICTURE_H264_TOP_FIELD, 4, 0);
  refs[1] = reference(20, 2, VA_PICTURE_H264_SHORT_TERM_REFERENCE | VA_PICTURE_H264_BOTTOM_FIELD, 0, 5);
  SliceSpec spec;
  spec.field_pic = true;
  input.add_slice(spec).RefPicList0[0] = reference(20, 2, VA_PICTURE_H264_BOTTOM_FIELD, 0, 5);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.decode_params.dpb[0].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(out.decode_params.dpb[0].top_field_order_cnt, 4);
  EXPECT_EQ(out.decode_params.dpb[0].bottom_field_order_cnt, 5);
  EXPECT_FALSE(out.decode_params.dpb[1].flags & V4L2_H264_DPB_ENTRY_FLAG_VALID);
  EXPECT_EQ(out.slice_params[0].ref_pic_list0[0].index, 0);
  EXPECT_EQ(out.slice_params[0].ref_pic_list0[0].fields, V4L2_H264_BOTTOM_FIELD_REF);
}

// The FIELD flag says how the reference was coded, which only the history
// knows: a field pair decoded earlier keeps it in a later MBAFF frame.
TEST(Translate, FieldFlagFollowsHowTheReferenceWasCoded) {
  StreamState state;
  std::string error;
  PictureControls out;
  auto interlaced = [] {
    PictureInput input;
    input.pic.seq_fields.bits.frame_mbs_only_flag = 0;
    input.pic.seq_fields.bits.mb_adaptive_frame_field_flag = 1;
    input.pic.picture_height_in_mbs_minus1 = 9;
    return input;
  };
  PictureInput field = interlaced();
  field.pic.CurrPic.picture_id = 30;
  SliceSpec field_spec;
  field_spec.slice_type = kSliceI;
  field_spec.field_pic = true;
  field.add_slice(field_spec);
  ASSERT_EQ(translate(field, state, out, error), VA_STATUS_SUCCESS) << error;

  PictureInput frame = interlaced();
  frame.pic.CurrPic.picture_id = 31;
  SliceSpec frame_spec;
  frame_spec.slice_type = kSliceI;
  frame.add_slice(frame_spec);
  ASSERT_EQ(translate(frame, state, out, error), VA_STATUS_SUCCESS) << error;

  PictureInput later = interlaced();
  later.pic.ReferenceFrames[0] = reference(30, 5, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 1);
  later.pic.ReferenceFrames[1] = reference(31, 4, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 2, 3);
  SliceSpec later_spec;
  later_spec.frame_num = 6;
  later.add_slice(later_spec);
  ASSERT_EQ(translate(later, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_TRUE(out.decode_params.dpb[0].flags & V4L2_H264_DPB_ENTRY_FLAG_FIELD);
  EXPECT_FALSE(out.decode_params.dpb[1].flags & V4L2_H264_DPB_ENTRY_FLAG_FIELD);
  EXPECT_EQ(out.decode_params.dpb[0].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(out.decode_params.dpb[1].fields, V4L2_H264_FRAME_REF);
}

TEST(Translate, UnknownReferenceTimestampIsInvalidSurface) {
  PictureInput input;
  input.pic.ReferenceFrames[0] = reference(95, 1, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 0);
  input.add_slice(SliceSpec{});
  StreamState state;
  PictureControls out;
  std::string error;
  EXPECT_EQ(translate(input, state, out, error), VA_STATUS_ERROR_INVALID_SURFACE);
  EXPECT_NE(error.find("surface 95"), std::string::npos) << error;
}

TEST(Translate, RefListsMapSurfacesToDpbIndices) {
  PictureInput input;
  auto& refs = input.pic.ReferenceFrames;
  refs[0] = reference(10, 4, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 8, 8);
  refs[1] = reference(11, 3, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 6, 6);
  refs[2] = reference(12, 2, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 14, 14);
  SliceSpec spec;
  spec.slice_type = kSliceB;
  spec.override = true;
  spec.l0 = 2;
  spec.l1 = 1;
  spec.direct_spatial = true;
  VASliceParameterBufferH264& param = input.add_slice(spec);
  param.RefPicList0[0] = refs[1];
  param.RefPicList0[1] = refs[0];
  param.RefPicList0[2] = no_picture();  // a missing reference
  param.RefPicList1[0] = refs[2];
  param.RefPicList1[1] = refs[1];
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const v4l2_ctrl_h264_slice_params& slice = out.slice_params[0];
  EXPECT_EQ(slice.ref_pic_list0[0].index, 1);
  EXPECT_EQ(slice.ref_pic_list0[1].index, 0);
  EXPECT_EQ(slice.ref_pic_list0[2].index, 0xff);
  EXPECT_EQ(slice.ref_pic_list1[0].index, 2);
  EXPECT_EQ(slice.ref_pic_list1[1].index, 1);
  for (unsigned i = 0; i < 2; ++i) EXPECT_EQ(slice.ref_pic_list0[i].fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(slice.ref_pic_list1[0].fields, V4L2_H264_FRAME_REF);
  // Beyond num_ref_idx_active: untouched.
  EXPECT_EQ(slice.ref_pic_list0[3].fields, 0);
  EXPECT_EQ(slice.ref_pic_list1[2].index, 0);
  EXPECT_EQ(slice.num_ref_idx_l0_active_minus1, 2);
  EXPECT_EQ(slice.num_ref_idx_l1_active_minus1, 1);
  EXPECT_EQ(slice.slice_type, V4L2_H264_SLICE_TYPE_B);
  EXPECT_EQ(slice.flags, V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED);
  EXPECT_EQ(out.decode_params.flags, V4L2_H264_DECODE_PARAM_FLAG_BFRAME);
  expect_kernel_accepts(out);

  param.RefPicList1[1] = reference(13, 1, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 0);  // not in the DPB
  EXPECT_EQ(translate(input, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("slice 0 RefPicList1[1]"), std::string::npos) << error;
}

TEST(Translate, SliceParamsFromEachSlice) {
  PictureInput input;
  SliceSpec first;
  first.slice_type = kSliceI;
  first.qp_delta = -5;
  first.disable_deblocking = 2;
  first.alpha = -6;
  first.beta = 6;
  input.add_slice(first);
  SliceSpec second = first;
  second.first_mb = 44;
  second.slice_type = kSliceP;
  second.qp_delta = 3;
  second.disable_deblocking = 1;
  input.pic.ReferenceFrames[0] = reference(10, 4, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 8, 8);
  input.add_slice(second).RefPicList0[0] = input.pic.ReferenceFrames[0];
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  ASSERT_EQ(out.slice_params.size(), 2u);
  ASSERT_EQ(out.pred_weights.size(), 2u);
  const auto& s0 = out.slice_params[0];
  const auto& s1 = out.slice_params[1];
  SliceHeader h0;
  SliceHeader h1;
  ASSERT_TRUE(parse_slice_header(input.data[0], context_of(input.pic), h0, error));
  ASSERT_TRUE(parse_slice_header(input.data[1], context_of(input.pic), h1, error));
  EXPECT_EQ(s0.header_bit_size, h0.header_bit_size);
  EXPECT_EQ(s1.header_bit_size, h1.header_bit_size);
  EXPECT_EQ(s0.first_mb_in_slice, 0u);
  EXPECT_EQ(s0.slice_type, V4L2_H264_SLICE_TYPE_I);
  EXPECT_EQ(s0.slice_qp_delta, -5);
  EXPECT_EQ(s0.disable_deblocking_filter_idc, 2);
  EXPECT_EQ(s0.slice_alpha_c0_offset_div2, -6);
  EXPECT_EQ(s0.slice_beta_offset_div2, 6);
  EXPECT_EQ(s0.num_ref_idx_l0_active_minus1, 0);
  EXPECT_EQ(s1.first_mb_in_slice, 44u);
  EXPECT_EQ(s1.slice_type, V4L2_H264_SLICE_TYPE_P);
  EXPECT_EQ(s1.slice_qp_delta, 3);
  EXPECT_EQ(s1.disable_deblocking_filter_idc, 1);
  EXPECT_EQ(s1.ref_pic_list0[0].index, 0);
  EXPECT_EQ(out.decode_params.flags, V4L2_H264_DECODE_PARAM_FLAG_PFRAME);
  EXPECT_FALSE(out.needs_pred_weights);
  expect_kernel_accepts(out);
}

TEST(Translate, DecodeParamsFromFirstSliceHeader) {
  PictureInput input;
  input.pic.CurrPic.TopFieldOrderCnt = 0;
  input.pic.CurrPic.BottomFieldOrderCnt = 0;
  input.pic.frame_num = 0;
  SliceSpec spec;
  spec.idr = true;
  spec.nal_ref_idc = 3;
  spec.slice_type = kSliceI;
  spec.frame_num = 0;
  spec.idr_pic_id = 7;
  spec.poc_lsb = 0;
  input.add_slice(spec);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  const v4l2_ctrl_h264_decode_params& decode = out.decode_params;
  EXPECT_EQ(decode.nal_ref_idc, 3);
  EXPECT_EQ(decode.idr_pic_id, 7);
  EXPECT_EQ(decode.frame_num, 0);
  EXPECT_EQ(decode.pic_order_cnt_lsb, 0);
  EXPECT_EQ(decode.pic_order_cnt_bit_size, 6u);
  EXPECT_EQ(decode.dec_ref_pic_marking_bit_size, 2u);
  EXPECT_EQ(decode.flags, V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC);

  input = PictureInput{};
  SliceSpec p;
  p.nal_ref_idc = 0;
  p.poc_lsb = 33;
  input.add_slice(p);
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.decode_params.nal_ref_idc, 0);
  EXPECT_EQ(out.decode_params.frame_num, 5);
  EXPECT_EQ(out.decode_params.pic_order_cnt_lsb, 33);
  EXPECT_EQ(out.decode_params.top_field_order_cnt, 10);
  EXPECT_EQ(out.decode_params.bottom_field_order_cnt, 11);
  EXPECT_EQ(out.decode_params.dec_ref_pic_marking_bit_size, 0u);
}

// num_ref_idx_l0/l1_default_active_minus1 are not in VA-API: learned per
// pic_parameter_set_id from slices that did not override them.
TEST(Translate, PpsDefaultsLearnedFromNonOverridingSlices) {
  StreamState state;
  PictureControls out;
  std::string error;
  auto picture_with = [](SliceSpec spec) {
    PictureInput input;
    input.add_slice(spec);
    return input;
  };
  SliceSpec overriding;
  overriding.override = true;
  overriding.l0 = 3;
  ASSERT_EQ(translate(picture_with(overriding), state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.num_ref_idx_l0_default_active_minus1, 0);  // not known yet, and unused
  EXPECT_EQ(out.slice_params[0].num_ref_idx_l0_active_minus1, 3);

  SliceSpec using_default;
  using_default.l0 = 2;  // the value VA reports when not overridden
  ASSERT_EQ(translate(picture_with(using_default), state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.num_ref_idx_l0_default_active_minus1, 2);
  EXPECT_EQ(out.slice_params[0].num_ref_idx_l0_active_minus1, 2);

  ASSERT_EQ(translate(picture_with(overriding), state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.num_ref_idx_l0_default_active_minus1, 2);  // remembered

  SliceSpec b_default;
  b_default.slice_type = kSliceB;
  b_default.l0 = 2;
  b_default.l1 = 1;
  ASSERT_EQ(translate(picture_with(b_default), state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.num_ref_idx_l1_default_active_minus1, 1);

  SliceSpec other_pps = overriding;
  other_pps.pps_id = 1;
  ASSERT_EQ(translate(picture_with(other_pps), state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.pic_parameter_set_id, 1);
  EXPECT_EQ(out.pps.num_ref_idx_l0_default_active_minus1, 0);  // per PPS id
  EXPECT_EQ(state.ref_idx_defaults(0).l0_minus1, 2);
  EXPECT_EQ(state.ref_idx_defaults(0).l1_minus1, 1);
  EXPECT_FALSE(state.ref_idx_defaults(1).l0_minus1.has_value());
}

TEST(Translate, ExplicitPredWeightsFromVaTables) {
  PictureInput input;
  input.pic.pic_fields.bits.weighted_pred_flag = 1;
  input.pic.pic_fields.bits.weighted_bipred_idc = 1;
  input.pic.ReferenceFrames[0] = reference(10, 4, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 8, 8);
  input.pic.ReferenceFrames[1] = reference(11, 3, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 12, 12);
  SliceSpec p;
  p.override = true;
  p.l0 = 1;
  VASliceParameterBufferH264& param = input.add_slice(p);
  param.RefPicList0[0] = input.pic.ReferenceFrames[0];
  param.RefPicList0[1] = input.pic.ReferenceFrames[1];
  param.luma_log2_weight_denom = 2;
  param.chroma_log2_weight_denom = 1;
  param.luma_weight_l0[0] = 5;
  param.luma_offset_l0[0] = -3;
  param.luma_weight_l0[1] = 4;
  param.chroma_weight_l0[1][1] = 7;
  param.chroma_offset_l0[1][1] = 9;
  param.luma_weight_l1[0] = 99;  // P slice: list 1 is not used
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_TRUE(out.needs_pred_weights);
  const v4l2_ctrl_h264_pred_weights& weights = out.pred_weights[0];
  EXPECT_EQ(weights.luma_log2_weight_denom, 2);
  EXPECT_EQ(weights.chroma_log2_weight_denom, 1);
  EXPECT_EQ(weights.weight_factors[0].luma_weight[0], 5);
  EXPECT_EQ(weights.weight_factors[0].luma_offset[0], -3);
  EXPECT_EQ(weights.weight_factors[0].luma_weight[1], 4);
  EXPECT_EQ(weights.weight_factors[0].chroma_weight[1][1], 7);
  EXPECT_EQ(weights.weight_factors[0].chroma_offset[1][1], 9);
  EXPECT_EQ(weights.weight_factors[1].luma_weight[0], 0);
  expect_kernel_accepts(out);

  // Implicit bi-prediction (weighted_bipred_idc 2) has no table.
  PictureInput implicit;
  implicit.pic.pic_fields.bits.weighted_bipred_idc = 2;
  SliceSpec b;
  b.slice_type = kSliceB;
  implicit.add_slice(b);
  ASSERT_EQ(translate(implicit, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_FALSE(out.needs_pred_weights);
  const v4l2_ctrl_h264_pred_weights zero{};
  EXPECT_EQ(std::memcmp(&out.pred_weights[0], &zero, sizeof(zero)), 0);
}

TEST(Translate, ExplicitBiPredWeightsFillBothLists) {
  PictureInput input;
  input.pic.pic_fields.bits.weighted_bipred_idc = 1;
  input.pic.seq_fields.bits.chroma_format_idc = 0;  // no chroma weights
  SliceSpec b;
  b.slice_type = kSliceB;
  VASliceParameterBufferH264& param = input.add_slice(b);
  param.luma_log2_weight_denom = 3;
  param.chroma_log2_weight_denom = 4;
  param.luma_weight_l1[0] = 12;
  param.luma_offset_l1[0] = 2;
  param.chroma_weight_l1[0][0] = 3;
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_TRUE(out.needs_pred_weights);
  EXPECT_EQ(out.pred_weights[0].weight_factors[1].luma_weight[0], 12);
  EXPECT_EQ(out.pred_weights[0].weight_factors[1].luma_offset[0], 2);
  EXPECT_EQ(out.pred_weights[0].chroma_log2_weight_denom, 0);
  EXPECT_EQ(out.pred_weights[0].weight_factors[1].chroma_weight[0][0], 0);
  expect_kernel_accepts(out);
}

TEST(Translate, ToleratesSliceDataWithStartCode) {
  PictureInput input;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  input.add_slice(spec);
  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(input.data[0], context_of(input.pic), header, error));
  input.data[0].insert(input.data[0].begin(), {0x00, 0x00, 0x00, 0x01});
  input.params[0].slice_data_size = static_cast<uint32_t>(input.data[0].size());
  StreamState state;
  PictureControls out;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.slice_params[0].header_bit_size, header.header_bit_size);
}

TEST(Translate, MalformedInputIsAnErrorNamingTheProblem) {
  StreamState state;
  PictureControls out;
  std::string error;
  PictureInput empty;
  EXPECT_EQ(translate(empty, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("no slices"), std::string::npos) << error;

  PictureInput truncated;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  truncated.add_slice(spec);
  truncated.add_slice(spec);
  truncated.data[1].resize(2);
  truncated.params[1].slice_data_size = 2;
  EXPECT_EQ(translate(truncated, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("slice 1"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;

  PictureInput mixed;
  mixed.add_slice(spec);
  SliceSpec other = spec;
  other.pps_id = 2;
  mixed.add_slice(other);
  EXPECT_EQ(translate(mixed, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("slice 1"), std::string::npos) << error;

  struct BadPicture {
    const char* field;
    void (*apply)(VAPictureParameterBufferH264&);
  };
  const BadPicture bad_pictures[] = {
      {"weighted_bipred_idc", [](VAPictureParameterBufferH264& pic) { pic.pic_fields.bits.weighted_bipred_idc = 3; }},
      {"chroma_qp_index_offset", [](VAPictureParameterBufferH264& pic) { pic.chroma_qp_index_offset = 13; }},
      {"pic_init_qp_minus26", [](VAPictureParameterBufferH264& pic) { pic.pic_init_qp_minus26 = 26; }},
      {"num_ref_frames", [](VAPictureParameterBufferH264& pic) { pic.num_ref_frames = 17; }},
      {"bit_depth", [](VAPictureParameterBufferH264& pic) { pic.bit_depth_luma_minus8 = 7; }},
      {"pic_order_cnt_type", [](VAPictureParameterBufferH264& pic) { pic.seq_fields.bits.pic_order_cnt_type = 3; }},
  };
  for (const BadPicture& bad : bad_pictures) {
    PictureInput input;
    input.add_slice(spec);
    bad.apply(input.pic);
    EXPECT_EQ(translate(input, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER) << bad.field;
    EXPECT_NE(error.find(bad.field), std::string::npos) << error;
  }

  PictureInput bad_reference;
  bad_reference.pic.ReferenceFrames[0] = reference(10, 16, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 0);
  bad_reference.add_slice(SliceSpec{});  // MaxFrameNum is 16
  EXPECT_EQ(translate(bad_reference, state, out, error), VA_STATUS_ERROR_INVALID_PARAMETER);
  EXPECT_NE(error.find("ReferenceFrames[0]"), std::string::npos) << error;

  PictureInput null_data;
  null_data.add_slice(spec);
  std::vector<SliceInput> slices = null_data.slices();
  slices[0].data = nullptr;
  EXPECT_EQ(translate_picture(null_data.pic, nullptr, slices, kTimestamps, state, out, error),
            VA_STATUS_ERROR_INVALID_PARAMETER);
}

// The model of std_validate_compound is itself meaningful: it rejects and
// normalises what the kernel does.
TEST(KernelRules, CatchWhatTheKernelRejectsOrRewrites) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 77;
  sps.chroma_format_idc = 0;  // normalised to 1 below High
  EXPECT_FALSE(test::kernel_accepts_unchanged(sps));
  sps.profile_idc = 100;
  EXPECT_TRUE(test::kernel_accepts_unchanged(sps));
  sps.chroma_format_idc = 2;  // 4:2:2 needs profile_idc >= 122
  EXPECT_FALSE(test::kernel_accepts_unchanged(sps));
  v4l2_ctrl_h264_slice_params slice{};
  slice.slice_type = V4L2_H264_SLICE_TYPE_P;
  slice.flags = V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
  EXPECT_FALSE(test::kernel_accepts_unchanged(slice));
  slice.flags = 0;
  slice.num_ref_idx_l1_active_minus1 = 1;  // zeroed for P slices
  EXPECT_FALSE(test::kernel_accepts_unchanged(slice));
  v4l2_ctrl_h264_pps pps{};
  pps.pic_init_qs_minus26 = -27;
  EXPECT_FALSE(test::kernel_accepts_unchanged(pps));
}

// A damaged PPS (software decoders go on with it) may carry a QS the kernel
// refuses; only SP/SI slices read it, so it is clamped, not fatal.
TEST(Translate, OutOfRangePicInitQsIsClampedForTheKernel) {
  PictureInput input;
  input.pic.pic_init_qs_minus26 = -40;
  SliceSpec spec;
  spec.slice_type = kSliceI;
  input.add_slice(spec);
  StreamState state;
  PictureControls out;
  std::string error;
  ASSERT_EQ(translate(input, state, out, error), VA_STATUS_SUCCESS) << error;
  EXPECT_EQ(out.pps.pic_init_qs_minus26, -26);
  EXPECT_TRUE(test::kernel_accepts_unchanged(out.pps));
}

// The VA picture parameters a client would send for the slice in `row`
// (from the SPS/PPS context FFmpeg traced): PicSizeInMapUnits MBs wide and
// one map-unit row tall, which keeps PicSizeInMapUnits; no references.
VAPictureParameterBufferH264 picture_from_row(const test::Row& first) {
  using test::cell;
  VAPictureParameterBufferH264 pic{};
  for (auto& entry : pic.ReferenceFrames) entry = no_picture();
  pic.CurrPic = reference(kCurrentSurface, 0, 0, 0, 0);
  const bool frame_mbs_only = cell(first, "frame_mbs_only") != 0;
  pic.picture_width_in_mbs_minus1 = static_cast<uint16_t>(cell(first, "pic_size_in_map_units") - 1);
  pic.picture_height_in_mbs_minus1 = frame_mbs_only ? 0 : 1;  // one map-unit row
  pic.num_ref_frames = 1;
  auto& seq = pic.seq_fields.bits;
  seq.chroma_format_idc = static_cast<uint32_t>(cell(first, "chroma_format_idc"));
  seq.frame_mbs_only_flag = frame_mbs_only;
  seq.log2_max_frame_num_minus4 = static_cast<uint32_t>(cell(first, "log2_max_frame_num_minus4"));
  seq.pic_order_cnt_type = static_cast<uint32_t>(cell(first, "pic_order_cnt_type"));
  seq.log2_max_pic_order_cnt_lsb_minus4 = static_cast<uint32_t>(cell(first, "log2_max_pic_order_cnt_lsb_minus4"));
  seq.delta_pic_order_always_zero_flag = static_cast<uint32_t>(cell(first, "delta_pic_order_always_zero"));
  auto& bits = pic.pic_fields.bits;
  bits.entropy_coding_mode_flag = static_cast<uint32_t>(cell(first, "entropy_coding_mode"));
  bits.pic_order_present_flag = static_cast<uint32_t>(cell(first, "bottom_field_pic_order_in_frame_present"));
  bits.weighted_pred_flag = static_cast<uint32_t>(cell(first, "weighted_pred"));
  bits.weighted_bipred_idc = static_cast<uint32_t>(cell(first, "weighted_bipred_idc"));
  bits.deblocking_filter_control_present_flag =
      static_cast<uint32_t>(cell(first, "deblocking_filter_control_present"));
  bits.redundant_pic_cnt_present_flag = static_cast<uint32_t>(cell(first, "redundant_pic_cnt_present"));
  bits.field_pic_flag = static_cast<uint32_t>(cell(first, "field_pic"));
  return pic;
}

// Real slices: every picture of the streams in slice_headers.tsv, fed as a
// VA client would (per-slice effective num_ref_idx, no references known).
TEST(TranslateConformance, RealSlicesGiveTracedValuesAndLearnPpsDefaults) {
  const std::vector<test::Row> rows = test::read_tsv(test::expectations_path());
  ASSERT_GT(rows.size(), 800u);
  std::map<std::string, std::vector<std::vector<uint8_t>>> streams;
  std::map<std::string, StreamState> states;
  size_t pictures = 0;
  size_t learned_checks = 0;
  for (size_t begin = 0; begin < rows.size();) {
    // A picture: the rows from a first_mb_in_slice == 0 slice to the next.
    size_t end = begin + 1;
    while (end < rows.size() && rows[end].at("stream") == rows[begin].at("stream") &&
           test::cell(rows[end], "first_mb_in_slice") != 0)
      ++end;
    const std::string& name = rows[begin].at("stream");
    auto found = streams.find(name);
    if (found == streams.end())
      found = streams.emplace(name, test::slice_nals(test::read_file(test::conformance_dir() + "/streams/" + name)))
                  .first;
    const test::Row& first = rows[begin];
    using test::cell;

    const VAPictureParameterBufferH264 pic = picture_from_row(first);
    std::vector<VASliceParameterBufferH264> params(end - begin);
    std::vector<SliceInput> slices;
    bool teaches_l0 = false;
    bool teaches_l1 = false;
    for (size_t n = begin; n < end; ++n) {
      VASliceParameterBufferH264& param = params[n - begin];
      param.num_ref_idx_l0_active_minus1 = static_cast<uint8_t>(cell(rows[n], "num_ref_idx_l0_active_minus1"));
      param.num_ref_idx_l1_active_minus1 = static_cast<uint8_t>(cell(rows[n], "num_ref_idx_l1_active_minus1"));
      param.slice_type = static_cast<uint8_t>(cell(rows[n], "slice_type"));
      for (auto& entry : param.RefPicList0) entry = no_picture();
      for (auto& entry : param.RefPicList1) entry = no_picture();
      const auto& nal = found->second.at(static_cast<size_t>(cell(rows[n], "slice_index")));
      slices.push_back({&param, nal.data(), nal.size()});
      const long type = cell(rows[n], "slice_type");
      if (cell(rows[n], "num_ref_idx_active_override") == 0) {
        teaches_l0 = teaches_l0 || type == kSliceP || type == kSliceSP || type == kSliceB;
        teaches_l1 = teaches_l1 || type == kSliceB;
      }
    }
    StreamState& state = states.try_emplace(name, VAProfileH264High).first->second;
    PictureControls out;
    std::string error;
    const std::string where = name + " slice " + first.at("slice_index");
    ASSERT_EQ(translate_picture(pic, nullptr, slices, kTimestamps, state, out, error), VA_STATUS_SUCCESS)
        << where << ": " << error;
    const v4l2_ctrl_h264_decode_params& decode = out.decode_params;
    EXPECT_EQ(decode.nal_ref_idc, cell(first, "nal_ref_idc")) << where;
    EXPECT_EQ(decode.frame_num, cell(first, "frame_num")) << where;
    EXPECT_EQ(decode.idr_pic_id, cell(first, "idr_pic_id")) << where;
    EXPECT_EQ(decode.pic_order_cnt_lsb, cell(first, "pic_order_cnt_lsb")) << where;
    EXPECT_EQ(decode.delta_pic_order_cnt_bottom, cell(first, "delta_pic_order_cnt_bottom")) << where;
    EXPECT_EQ(decode.dec_ref_pic_marking_bit_size, cell(first, "dec_ref_pic_marking_bit_size")) << where;
    EXPECT_EQ(decode.pic_order_cnt_bit_size, cell(first, "pic_order_cnt_bit_size")) << where;
    EXPECT_EQ((decode.flags & V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC) != 0, cell(first, "nal_unit_type") == 5) << where;
    EXPECT_EQ((decode.flags & V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC) != 0, cell(first, "field_pic") != 0) << where;
    EXPECT_EQ((decode.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD) != 0, cell(first, "bottom_field") != 0)
        << where;
    EXPECT_EQ(out.pps.pic_parameter_set_id, cell(first, "pic_parameter_set_id")) << where;
    if (teaches_l0) {
      EXPECT_EQ(out.pps.num_ref_idx_l0_default_active_minus1, cell(first, "num_ref_idx_l0_default_active_minus1"))
          << where;
      ++learned_checks;
    }
    if (teaches_l1) {
      EXPECT_EQ(out.pps.num_ref_idx_l1_default_active_minus1, cell(first, "num_ref_idx_l1_default_active_minus1"))
          << where;
      ++learned_checks;
    }
    for (size_t n = begin; n < end; ++n) {
      const v4l2_ctrl_h264_slice_params& slice = out.slice_params[n - begin];
      EXPECT_EQ(slice.header_bit_size, cell(rows[n], "header_bit_size")) << where;
      EXPECT_EQ(slice.first_mb_in_slice, cell(rows[n], "first_mb_in_slice")) << where;
      EXPECT_EQ(slice.slice_type, cell(rows[n], "slice_type")) << where;
      EXPECT_EQ(slice.slice_qp_delta, cell(rows[n], "slice_qp_delta")) << where;
      EXPECT_EQ(slice.cabac_init_idc, cell(rows[n], "cabac_init_idc")) << where;
      EXPECT_EQ(slice.disable_deblocking_filter_idc, cell(rows[n], "disable_deblocking_filter_idc")) << where;
    }
    EXPECT_EQ(out.needs_pred_weights, cell(first, "has_pred_weight_table") != 0) << where;
    expect_kernel_accepts(out);
    ++pictures;
    begin = end;
  }
  EXPECT_GT(pictures, 300u);
  EXPECT_GT(learned_checks, 100u);
}

// Damaged real slices (bit flips in the header, truncation) are errors
// with a message or translate to controls the kernel accepts; never a crash.
TEST(TranslateConformance, DamagedRealSlicesNeverCrash) {
  const std::vector<test::Row> rows = test::read_tsv(test::expectations_path());
  ASSERT_GT(rows.size(), 800u);
  std::map<std::string, std::vector<std::vector<uint8_t>>> streams;
  std::mt19937 random(20240601);
  unsigned translated = 0;
  unsigned rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    const test::Row& row = rows[random() % rows.size()];
    const std::string& name = row.at("stream");
    auto found = streams.find(name);
    if (found == streams.end())
      found = streams.emplace(name, test::slice_nals(test::read_file(test::conformance_dir() + "/streams/" + name)))
                  .first;
    std::vector<uint8_t> nal = found->second.at(static_cast<size_t>(test::cell(row, "slice_index")));
    if (round % 3 == 0) {
      nal.resize(random() % std::min<size_t>(nal.size(), 24) + 1);
    } else {
      const size_t span = std::min<size_t>(nal.size(), 16);
      for (unsigned flips = 1 + random() % 3; flips > 0; --flips) nal[random() % span] ^= uint8_t(1u << (random() % 8));
    }
    VAPictureParameterBufferH264 pic = picture_from_row(row);
    pic.ReferenceFrames[0] = reference(10, 0, VA_PICTURE_H264_SHORT_TERM_REFERENCE, 0, 0);
    VASliceParameterBufferH264 param{};
    param.num_ref_idx_l0_active_minus1 = static_cast<uint8_t>(test::cell(row, "num_ref_idx_l0_active_minus1"));
    param.num_ref_idx_l1_active_minus1 = static_cast<uint8_t>(test::cell(row, "num_ref_idx_l1_active_minus1"));
    for (auto& entry : param.RefPicList0) entry = pic.ReferenceFrames[0];
    for (auto& entry : param.RefPicList1) entry = pic.ReferenceFrames[0];
    const SliceInput slice{&param, nal.data(), nal.size()};
    StreamState state;
    PictureControls out;
    std::string error;
    const VAStatus status = translate_picture(pic, nullptr, std::span(&slice, 1), kTimestamps, state, out, error);
    if (status == VA_STATUS_SUCCESS) {
      ++translated;
      expect_kernel_accepts(out);
    } else {
      ++rejected;
      EXPECT_EQ(status, VA_STATUS_ERROR_INVALID_PARAMETER) << error;
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_GT(translated, 0u);
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace v4l2va::h264

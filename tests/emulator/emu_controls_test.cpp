// The payload rules modelled on std_validate_compound() and the drivers'
// try_ctrl, and the DPB bookkeeping, tested directly through the C++ API.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "controls.h"
#include "dpb_check.h"
#include "profiles.h"

namespace emu {
namespace {

TEST(ControlRules, PocType0ClearsTheType1FieldsLikeTheKernel) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 100;
  sps.chroma_format_idc = 1;
  sps.pic_order_cnt_type = 0;
  sps.log2_max_pic_order_cnt_lsb_minus4 = 3;
  sps.offset_for_non_ref_pic = 5;
  sps.offset_for_ref_frame[0] = 9;
  sps.num_ref_frames_in_pic_order_cnt_cycle = 1;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), 0);
  EXPECT_EQ(sps.log2_max_pic_order_cnt_lsb_minus4, 3);
  EXPECT_EQ(sps.offset_for_non_ref_pic, 0);
  EXPECT_EQ(sps.offset_for_ref_frame[0], 0);
  EXPECT_EQ(sps.num_ref_frames_in_pic_order_cnt_cycle, 0);
}

TEST(ControlRules, PocType1KeepsItsFieldsAndClearsTheLsbLength) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 77;
  sps.pic_order_cnt_type = 1;
  sps.log2_max_pic_order_cnt_lsb_minus4 = 3;
  sps.offset_for_non_ref_pic = 5;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), 0);
  EXPECT_EQ(sps.log2_max_pic_order_cnt_lsb_minus4, 0);
  EXPECT_EQ(sps.offset_for_non_ref_pic, 5);
}

TEST(ControlRules, SpsFlagNormalisationAndRanges) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 66;
  sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY | V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD |
              V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), 0);
  EXPECT_EQ(sps.flags, V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY);
  sps.max_num_ref_frames = V4L2_H264_REF_LIST_LEN + 1;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), -EINVAL);
  sps.max_num_ref_frames = 1;
  sps.log2_max_frame_num_minus4 = 13;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), -EINVAL);
  sps.log2_max_frame_num_minus4 = 0;
  sps.profile_idc = 122;  // High 4:2:2 may carry 4:2:2 but not 4:4:4
  sps.chroma_format_idc = 3;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), -EINVAL);
  sps.chroma_format_idc = 2;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SPS, &sps), 0);
}

TEST(ControlRules, SliceParamsNormalisation) {
  v4l2_ctrl_h264_slice_params slice{};
  slice.slice_type = V4L2_H264_SLICE_TYPE_I;
  slice.num_ref_idx_l0_active_minus1 = 40;  // cleared for I before the range check
  slice.num_ref_idx_l1_active_minus1 = 40;
  slice.flags = V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SLICE_PARAMS, &slice), 0);
  EXPECT_EQ(slice.num_ref_idx_l0_active_minus1, 0);
  EXPECT_EQ(slice.num_ref_idx_l1_active_minus1, 0);
  EXPECT_EQ(slice.flags, 0u);
  slice.slice_type = V4L2_H264_SLICE_TYPE_B;
  slice.num_ref_idx_l1_active_minus1 = 32;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SLICE_PARAMS, &slice), -EINVAL);
  slice.num_ref_idx_l1_active_minus1 = 0;
  slice.slice_beta_offset_div2 = 7;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_SLICE_PARAMS, &slice), -EINVAL);
}

TEST(ControlRules, DecodeParamsAndPredWeights) {
  v4l2_ctrl_h264_decode_params params{};
  params.nal_ref_idc = 4;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_DECODE_PARAMS, &params), -EINVAL);
  params.nal_ref_idc = 3;
  params.dpb[0].reserved[0] = 0xaa;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_DECODE_PARAMS, &params), 0);
  EXPECT_EQ(params.dpb[0].reserved[0], 0);  // zero_reserved()
  v4l2_ctrl_h264_pred_weights weights{};
  weights.chroma_log2_weight_denom = 8;
  EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_H264_PRED_WEIGHTS, &weights), -EINVAL);
}

// std_validate_compound() for V4L2_CTRL_TYPE_VP8_FRAME: 1, 2, 4 or 8 DCT
// partitions, the sub-structures' padding zeroed; std_init_compound() makes
// the default one partition.
TEST(ControlRules, Vp8FramePartitionsAndPadding) {
  v4l2_ctrl_vp8_frame frame{};
  init_compound_like_kernel(V4L2_CTRL_TYPE_VP8_FRAME, &frame);
  EXPECT_EQ(frame.num_dct_parts, 1);
  for (uint8_t parts : {1, 2, 4, 8}) {
    frame.num_dct_parts = parts;
    EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_VP8_FRAME, &frame), 0) << int(parts);
  }
  for (uint8_t parts : {0, 3, 5, 9}) {
    frame.num_dct_parts = parts;
    EXPECT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_VP8_FRAME, &frame), -EINVAL) << int(parts);
  }
  frame.num_dct_parts = 4;
  frame.segment.padding = 1;
  frame.lf.padding = 2;
  frame.quant.padding = 3;
  frame.entropy.padding[2] = 4;
  frame.coder_state.padding = 5;
  ASSERT_EQ(validate_compound_like_kernel(V4L2_CTRL_TYPE_VP8_FRAME, &frame), 0);
  EXPECT_EQ(frame.segment.padding, 0);
  EXPECT_EQ(frame.lf.padding, 0);
  EXPECT_EQ(frame.quant.padding, 0);
  EXPECT_EQ(frame.entropy.padding[2], 0);
  EXPECT_EQ(frame.coder_state.padding, 0);
}

// Which devices register the VP8 frame control: hantro's G1 and cedrus,
// not rkvdec or MT8183's decoder.
TEST(ControlRules, Vp8ControlOnlyWhereTheDriverDecodesVp8) {
  for (const char* name : {"hantro", "cedrus", "rkvdec", "mediatek"}) {
    const ControlTable table(*find_profile(name));
    const bool vp8 = std::string(name) == "hantro" || std::string(name) == "cedrus";
    EXPECT_EQ(table.find(V4L2_CID_STATELESS_VP8_FRAME) != nullptr, vp8) << name;
    if (!vp8) continue;
    const ControlValues defaults = table.defaults();
    const auto& payload = defaults.at(V4L2_CID_STATELESS_VP8_FRAME).payload;
    ASSERT_EQ(payload.size(), sizeof(v4l2_ctrl_vp8_frame));
    EXPECT_EQ(reinterpret_cast<const v4l2_ctrl_vp8_frame*>(payload.data())->num_dct_parts, 1) << name;
  }
}

TEST(ControlRules, RkvdecRejectsSpsLargerThanTheCodedFormat) {
  ValidationContext context{find_profile("rkvdec"), 176, 144};
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 77;
  sps.chroma_format_idc = 1;
  sps.pic_width_in_mbs_minus1 = 10;
  sps.pic_height_in_map_units_minus1 = 4;  // field map units: 2 * 5 MBs = 160 lines
  EXPECT_EQ(validate_for_driver(V4L2_CID_STATELESS_H264_SPS, &sps, context), -EINVAL);
  sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  EXPECT_EQ(validate_for_driver(V4L2_CID_STATELESS_H264_SPS, &sps, context), 0);
  ValidationContext hantro{find_profile("hantro"), 176, 144};
  sps.pic_width_in_mbs_minus1 = 119;
  EXPECT_EQ(validate_for_driver(V4L2_CID_STATELESS_H264_SPS, &sps, hantro), 0);
}

TEST(ControlRules, ProfilesTableDescribesTheDrivers) {
  const HardwareProfile* hantro = find_profile("hantro");
  ASSERT_NE(hantro, nullptr);
  EXPECT_EQ(hantro->max_width, 1920u);
  EXPECT_EQ(hantro->max_height, 1088u);
  EXPECT_EQ(hantro->decode_mode_max, V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED);
  EXPECT_FALSE(hantro->one_buffer_per_request);
  const HardwareProfile* rkvdec = find_profile("rkvdec");
  ASSERT_NE(rkvdec, nullptr);
  EXPECT_EQ(rkvdec->max_width, 4096u);
  EXPECT_TRUE(rkvdec->one_buffer_per_request);
  EXPECT_EQ(find_profile("nonexistent"), nullptr);
}

TEST(DpbCheck, FieldsAccumulateInOneBuffer) {
  v4l2_ctrl_h264_decode_params top{};
  top.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
  top.frame_num = 3;
  top.top_field_order_cnt = 6;
  PictureInfo picture = picture_after_decode({}, 50, top);
  EXPECT_EQ(picture.fields, V4L2_H264_TOP_FIELD_REF);
  v4l2_ctrl_h264_decode_params bottom = top;
  bottom.flags |= V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
  bottom.bottom_field_order_cnt = 7;
  picture = picture_after_decode(picture, 50, bottom);
  EXPECT_EQ(picture.fields, V4L2_H264_FRAME_REF);
  EXPECT_EQ(picture.top_poc, 6);
  EXPECT_EQ(picture.bottom_poc, 7);
  // A field with another timestamp starts a new picture.
  picture = picture_after_decode(picture, 60, bottom);
  EXPECT_EQ(picture.fields, V4L2_H264_BOTTOM_FIELD_REF);
}

TEST(DpbCheck, LongTermEntriesSkipFrameNumButCheckFields) {
  PictureInfo stored{true, 1000, 9, 4, 5, V4L2_H264_TOP_FIELD_REF};
  v4l2_ctrl_h264_decode_params params{};
  params.dpb[0].reference_ts = 1000;
  params.dpb[0].frame_num = 0;  // long_term_frame_idx
  params.dpb[0].fields = V4L2_H264_TOP_FIELD_REF;
  params.dpb[0].top_field_order_cnt = 4;
  params.dpb[0].flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM;
  EXPECT_TRUE(check_dpb(params, {stored}, 5, 2000).empty());
  params.dpb[0].fields = V4L2_H264_FRAME_REF;  // bottom field was never decoded
  EXPECT_EQ(check_dpb(params, {stored}, 5, 2000).size(), 1u);
  params.dpb[0].flags = 0;  // invalid entries are ignored
  EXPECT_TRUE(check_dpb(params, {stored}, 5, 2000).empty());
}

}  // namespace
}  // namespace emu

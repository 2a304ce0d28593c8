// The checks Linux 6.12 applies to H.264 compound controls in
// drivers/media/v4l2-core/v4l2-ctrls-core.c std_validate_compound():
// some fields are normalised (zeroed when the syntax makes them absent),
// some values rejected with -EINVAL. Written from that function so tests can
// assert that the translation's output passes unchanged.
#pragma once

#include <linux/v4l2-controls.h>

#include <cerrno>
#include <cstring>

namespace v4l2va::h264::test {

inline int kernel_validate(v4l2_ctrl_h264_sps& sps) {
  if (sps.pic_order_cnt_type != 0) {
    sps.log2_max_pic_order_cnt_lsb_minus4 = 0;
  } else if (sps.pic_order_cnt_type != 1) {
    sps.num_ref_frames_in_pic_order_cnt_cycle = 0;
    sps.offset_for_non_ref_pic = 0;
    sps.offset_for_top_to_bottom_field = 0;
    std::memset(sps.offset_for_ref_frame, 0, sizeof(sps.offset_for_ref_frame));
  }
  if (!V4L2_H264_SPS_HAS_CHROMA_FORMAT(&sps)) {
    sps.chroma_format_idc = 1;
    sps.bit_depth_luma_minus8 = 0;
    sps.bit_depth_chroma_minus8 = 0;
    sps.flags &= ~V4L2_H264_SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS;
  }
  if (sps.chroma_format_idc < 3) sps.flags &= ~V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE;
  if (sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY) sps.flags &= ~V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD;
  if (sps.profile_idc < 122 && sps.chroma_format_idc > 1) return -EINVAL;
  if (sps.profile_idc < 244 && sps.chroma_format_idc > 2) return -EINVAL;
  if (sps.chroma_format_idc > 3) return -EINVAL;
  if (sps.bit_depth_luma_minus8 > 6 || sps.bit_depth_chroma_minus8 > 6) return -EINVAL;
  if (sps.log2_max_frame_num_minus4 > 12) return -EINVAL;
  if (sps.pic_order_cnt_type > 2) return -EINVAL;
  if (sps.log2_max_pic_order_cnt_lsb_minus4 > 12) return -EINVAL;
  if (sps.max_num_ref_frames > V4L2_H264_REF_LIST_LEN) return -EINVAL;
  return 0;
}

inline int kernel_validate(v4l2_ctrl_h264_pps& pps) {
  if (pps.num_slice_groups_minus1 > 7) return -EINVAL;
  if (pps.num_ref_idx_l0_default_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
  if (pps.num_ref_idx_l1_default_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
  if (pps.weighted_bipred_idc > 2) return -EINVAL;
  if (pps.pic_init_qp_minus26 < -62 || pps.pic_init_qp_minus26 > 25) return -EINVAL;
  if (pps.pic_init_qs_minus26 < -26 || pps.pic_init_qs_minus26 > 25) return -EINVAL;
  if (pps.chroma_qp_index_offset < -12 || pps.chroma_qp_index_offset > 12) return -EINVAL;
  if (pps.second_chroma_qp_index_offset < -12 || pps.second_chroma_qp_index_offset > 12) return -EINVAL;
  return 0;
}

inline int kernel_validate(v4l2_ctrl_h264_pred_weights& weights) {
  if (weights.luma_log2_weight_denom > 7 || weights.chroma_log2_weight_denom > 7) return -EINVAL;
  return 0;
}

inline int kernel_validate(v4l2_ctrl_h264_slice_params& slice) {
  if (slice.slice_type != V4L2_H264_SLICE_TYPE_B) slice.flags &= ~V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
  if (slice.colour_plane_id > 2 || slice.cabac_init_idc > 2 || slice.disable_deblocking_filter_idc > 2)
    return -EINVAL;
  if (slice.slice_alpha_c0_offset_div2 < -6 || slice.slice_alpha_c0_offset_div2 > 6) return -EINVAL;
  if (slice.slice_beta_offset_div2 < -6 || slice.slice_beta_offset_div2 > 6) return -EINVAL;
  if (slice.slice_type == V4L2_H264_SLICE_TYPE_I || slice.slice_type == V4L2_H264_SLICE_TYPE_SI)
    slice.num_ref_idx_l0_active_minus1 = 0;
  if (slice.slice_type != V4L2_H264_SLICE_TYPE_B) slice.num_ref_idx_l1_active_minus1 = 0;
  if (slice.num_ref_idx_l0_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
  if (slice.num_ref_idx_l1_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
  slice.reserved = 0;  // zero_reserved()
  return 0;
}

inline int kernel_validate(v4l2_ctrl_h264_decode_params& decode) {
  if (decode.nal_ref_idc > 3) return -EINVAL;
  for (auto& entry : decode.dpb) std::memset(entry.reserved, 0, sizeof(entry.reserved));
  decode.reserved = 0;
  return 0;
}

// Validates a copy; true when the kernel would accept `control` and leave
// it unchanged.
template <typename Control>
bool kernel_accepts_unchanged(const Control& control) {
  Control copy = control;
  return kernel_validate(copy) == 0 && std::memcmp(&copy, &control, sizeof(control)) == 0;
}

}  // namespace v4l2va::h264::test

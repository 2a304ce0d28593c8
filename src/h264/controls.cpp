#include "controls.h"

#include "slice_header.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace v4l2va::h264 {
namespace {

// libva marks VAProfileH264Baseline deprecated; naming the enumerator would
// warn, so it is matched by value.
constexpr int kVaProfileH264BaselineValue = 5;

constexpr uint8_t kProfileBaseline = 66;
constexpr uint8_t kProfileMain = 77;
constexpr uint8_t kProfileHigh = 100;
constexpr uint8_t kProfileHigh10 = 110;
constexpr uint8_t kProfileHigh422 = 122;
constexpr uint8_t kProfileHigh444 = 244;
constexpr uint8_t kProfileMultiviewHigh = 118;
constexpr uint8_t kProfileStereoHigh = 128;

// No reference in this ref_pic_list slot (the client had none, e.g. a lost
// picture): outside dpb[], which slice-based drivers (cedrus) skip.
constexpr uint8_t kNoDpbIndex = 0xff;

// Error texts are built only when something is wrong: this runs per slice.
std::string slice_text(size_t slice) { return "slice " + std::to_string(slice); }

VAStatus fail(std::string& error, std::string message) {
  error = std::move(message);
  return VA_STATUS_ERROR_INVALID_PARAMETER;
}

bool is_valid_va_picture(const VAPictureH264& picture) {
  return picture.picture_id != VA_INVALID_SURFACE && !(picture.flags & VA_PICTURE_H264_INVALID);
}

// VA marks FMO's fields deprecated (no VA driver supports FMO), but the
// slice header still depends on them.
struct SliceGroupFields {
  uint8_t num_slice_groups_minus1;
  uint8_t slice_group_map_type;
  uint16_t slice_group_change_rate_minus1;
};
SliceGroupFields slice_group_fields(const VAPictureParameterBufferH264& pic) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return {pic.num_slice_groups_minus1, pic.slice_group_map_type, pic.slice_group_change_rate_minus1};
#pragma GCC diagnostic pop
}

// What the picture uses, to raise a too-low profile_idc (a client may create
// a ConstrainedBaseline context for a Main stream; hantro enables direct-mode
// motion vector storage only for profile_idc > 66).
struct ToolUse {
  bool b_slices = false;
  bool custom_scaling = false;  // an IQ matrix that is not flat 16
};

// True when the client's IQ matrix differs from Flat_4x4_16 / Flat_8x8_16
// (7.4.2.1.1), i.e. only High profiles can have signalled it.
bool is_custom_scaling(const VAIQMatrixBufferH264* iq) {
  if (!iq) return false;
  for (const auto& list : iq->ScalingList4x4)
    for (uint8_t v : list)
      if (v != 16) return true;
  for (const auto& list : iq->ScalingList8x8)
    for (uint8_t v : list)
      if (v != 16) return true;
  return false;
}

// VA-API has no profile_idc: derive it from the context's VAProfile, raised
// to the lowest profile that allows the tools this picture uses (A.2).
uint8_t derive_profile_idc(VAProfile profile, const VAPictureParameterBufferH264& pic, const ToolUse& tools) {
  uint8_t profile_idc = kProfileHigh;
  switch (static_cast<int>(profile)) {
    case kVaProfileH264BaselineValue:
    case VAProfileH264ConstrainedBaseline:
      profile_idc = kProfileBaseline;
      break;
    case VAProfileH264Main:
      profile_idc = kProfileMain;
      break;
    case VAProfileH264High:
      profile_idc = kProfileHigh;
      break;
    case VAProfileH264MultiviewHigh:
      profile_idc = kProfileMultiviewHigh;
      break;
    case VAProfileH264StereoHigh:
      profile_idc = kProfileStereoHigh;
      break;
    default:
      profile_idc = kProfileHigh;
      break;
  }
  const auto& seq = pic.seq_fields.bits;
  const auto& pps = pic.pic_fields.bits;
  if (profile_idc == kProfileBaseline &&
      (pps.entropy_coding_mode_flag || tools.b_slices || !seq.frame_mbs_only_flag || pps.weighted_pred_flag ||
       pps.weighted_bipred_idc != 0))
    profile_idc = kProfileMain;
  // The multiview/stereo profiles are High-based and already allow 8x8.
  if (profile_idc < kProfileHigh &&
      (pps.transform_8x8_mode_flag || seq.chroma_format_idc != 1 || tools.custom_scaling))
    profile_idc = kProfileHigh;
  // v4l2-ctrls-core.c rejects chroma 4:2:2 below profile_idc 122 and 4:4:4
  // below 244; high bit depths need High 10 or above.
  if (seq.chroma_format_idc == 3) {
    profile_idc = kProfileHigh444;
  } else if (seq.chroma_format_idc == 2) {
    if (profile_idc < kProfileHigh422) profile_idc = kProfileHigh422;
  } else if ((pic.bit_depth_luma_minus8 != 0 || pic.bit_depth_chroma_minus8 != 0) &&
             (profile_idc == kProfileBaseline || profile_idc == kProfileMain || profile_idc == kProfileHigh)) {
    profile_idc = kProfileHigh10;
  }
  return profile_idc;
}

// VA-API has no level_idc either: the lowest level (Table A-1) whose frame
// size and DPB size limits admit this stream. No driver programs it.
uint8_t derive_level_idc(uint32_t frame_size_in_mbs, uint32_t max_num_ref_frames) {
  struct Level {
    uint8_t level_idc;
    uint32_t max_frame_size_mbs;
    uint32_t max_dpb_mbs;
  };
  static constexpr Level kLevels[] = {
      {10, 99, 396},       {11, 396, 900},      {12, 396, 2376},     {13, 396, 2376},     {20, 396, 2376},
      {21, 792, 4752},     {22, 1620, 8100},    {30, 1620, 8100},    {31, 3600, 18000},   {32, 5120, 20480},
      {40, 8192, 32768},   {41, 8192, 32768},   {42, 8704, 34816},   {50, 22080, 110400}, {51, 36864, 184320},
      {52, 36864, 184320}, {60, 139264, 696320}, {61, 139264, 696320}, {62, 139264, 696320},
  };
  const uint64_t dpb_mbs = uint64_t{frame_size_in_mbs} * std::max<uint32_t>(max_num_ref_frames, 1);
  for (const Level& level : kLevels) {
    if (frame_size_in_mbs <= level.max_frame_size_mbs && dpb_mbs <= level.max_dpb_mbs) return level.level_idc;
  }
  return 62;
}

VAStatus fill_sps(const VAPictureParameterBufferH264& pic, VAProfile profile, const ToolUse& tools,
                  v4l2_ctrl_h264_sps& sps, std::string& error) {
  const auto& seq = pic.seq_fields.bits;
  sps = {};
  if (pic.bit_depth_luma_minus8 > 6 || pic.bit_depth_chroma_minus8 > 6)
    return fail(error, "bit_depth_luma/chroma_minus8 above 6");
  if (seq.log2_max_frame_num_minus4 > 12) return fail(error, "log2_max_frame_num_minus4 above 12");
  if (seq.pic_order_cnt_type > 2) return fail(error, "pic_order_cnt_type above 2");
  if (seq.log2_max_pic_order_cnt_lsb_minus4 > 12) return fail(error, "log2_max_pic_order_cnt_lsb_minus4 above 12");
  // 7.4.2.1.1: max_num_ref_frames <= MaxDpbFrames <= 16.
  if (pic.num_ref_frames > V4L2_H264_NUM_DPB_ENTRIES) return fail(error, "num_ref_frames above 16");

  sps.profile_idc = derive_profile_idc(profile, pic, tools);
  if (sps.profile_idc == kProfileBaseline && profile == VAProfileH264ConstrainedBaseline)
    sps.constraint_set_flags = V4L2_H264_SPS_CONSTRAINT_SET0_FLAG | V4L2_H264_SPS_CONSTRAINT_SET1_FLAG;
  // VA-API does not carry seq_parameter_set_id; no driver programs it.
  sps.seq_parameter_set_id = 0;
  sps.chroma_format_idc = static_cast<uint8_t>(seq.chroma_format_idc);
  sps.bit_depth_luma_minus8 = pic.bit_depth_luma_minus8;
  sps.bit_depth_chroma_minus8 = pic.bit_depth_chroma_minus8;
  sps.log2_max_frame_num_minus4 = static_cast<uint8_t>(seq.log2_max_frame_num_minus4);
  sps.pic_order_cnt_type = static_cast<uint8_t>(seq.pic_order_cnt_type);
  // v4l2-ctrls-core.c std_validate_compound zeroes it unless POC type 0.
  sps.log2_max_pic_order_cnt_lsb_minus4 =
      seq.pic_order_cnt_type == 0 ? static_cast<uint8_t>(seq.log2_max_pic_order_cnt_lsb_minus4) : 0;
  sps.max_num_ref_frames = pic.num_ref_frames;
  // POC type 1's offset_for_non_ref_pic, offset_for_top_to_bottom_field and
  // offset_for_ref_frame[] exist only in the SPS, which VA-API does not pass.
  // They stay 0: the client computes the POCs (CurrPic/ReferenceFrames field
  // order counts), and hantro, rkvdec and cedrus read only those.
  sps.num_ref_frames_in_pic_order_cnt_cycle = 0;

  sps.pic_width_in_mbs_minus1 = pic.picture_width_in_mbs_minus1;
  // VA carries the frame height in MBs; V4L2 wants PicHeightInMapUnits,
  // which is half of it when frame_mbs_only_flag = 0 (7.4.2.1.1, (7-18)).
  if (seq.frame_mbs_only_flag) {
    sps.pic_height_in_map_units_minus1 = pic.picture_height_in_mbs_minus1;
  } else {
    const uint32_t frame_height_in_mbs = pic.picture_height_in_mbs_minus1 + 1u;
    if (frame_height_in_mbs % 2 != 0)
      return fail(error, "picture_height_in_mbs_minus1 + 1 is odd with frame_mbs_only_flag = 0");
    sps.pic_height_in_map_units_minus1 = static_cast<uint16_t>(frame_height_in_mbs / 2 - 1);
  }
  const uint32_t frame_size_in_mbs = (pic.picture_width_in_mbs_minus1 + 1u) * (pic.picture_height_in_mbs_minus1 + 1u);
  sps.level_idc = derive_level_idc(frame_size_in_mbs, pic.num_ref_frames);

  uint32_t flags = 0;
  // separate_colour_plane_flag exists only for chroma_format_idc 3 (7.3.2.1.1).
  if (seq.residual_colour_transform_flag && seq.chroma_format_idc == 3)
    flags |= V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE;
  // qpprime_y_zero_transform_bypass_flag is not in VA-API (lossless coding,
  // High 4:4:4 Predictive only, which these decoders do not support).
  if (seq.delta_pic_order_always_zero_flag) flags |= V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO;
  if (seq.gaps_in_frame_num_value_allowed_flag) flags |= V4L2_H264_SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED;
  if (seq.frame_mbs_only_flag) {
    flags |= V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  } else if (seq.mb_adaptive_frame_field_flag) {
    flags |= V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD;
  }
  if (seq.direct_8x8_inference_flag) flags |= V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE;
  sps.flags = flags;
  return VA_STATUS_SUCCESS;
}

VAStatus fill_pps(const VAPictureParameterBufferH264& pic, bool has_iq_matrix, uint8_t pps_id,
                  const StreamState::RefIdxDefaults& defaults, v4l2_ctrl_h264_pps& pps, std::string& error) {
  const auto& bits = pic.pic_fields.bits;
  pps = {};
  // Ranges checked by v4l2-ctrls-core.c std_validate_compound (7.4.2.2).
  const SliceGroupFields groups = slice_group_fields(pic);
  if (groups.num_slice_groups_minus1 > 7) return fail(error, "num_slice_groups_minus1 above 7");
  if (bits.weighted_bipred_idc > 2) return fail(error, "weighted_bipred_idc above 2");
  if (pic.pic_init_qp_minus26 < -62 || pic.pic_init_qp_minus26 > 25)
    return fail(error, "pic_init_qp_minus26 outside [-62, 25]");
  if (pic.chroma_qp_index_offset < -12 || pic.chroma_qp_index_offset > 12)
    return fail(error, "chroma_qp_index_offset outside [-12, 12]");
  if (pic.second_chroma_qp_index_offset < -12 || pic.second_chroma_qp_index_offset > 12)
    return fail(error, "second_chroma_qp_index_offset outside [-12, 12]");

  pps.pic_parameter_set_id = pps_id;
  pps.seq_parameter_set_id = 0;  // matches the SPS control (VA-API has no SPS id)
  pps.num_slice_groups_minus1 = groups.num_slice_groups_minus1;
  // Not in VA-API: learned from slices that did not override them. When
  // every slice so far overrode them the default is never used in decoding.
  pps.num_ref_idx_l0_default_active_minus1 = defaults.l0_minus1.value_or(0);
  pps.num_ref_idx_l1_default_active_minus1 = defaults.l1_minus1.value_or(0);
  pps.weighted_bipred_idc = static_cast<uint8_t>(bits.weighted_bipred_idc);
  pps.pic_init_qp_minus26 = pic.pic_init_qp_minus26;
  // The kernel refuses a value outside [-26, 25]. It is read only by SP and
  // SI slices (Extended profile, which no stateless decoder takes), so a
  // damaged PPS carrying one (software decoders go on with it) is clamped
  // rather than lose every picture that uses the PPS.
  pps.pic_init_qs_minus26 = static_cast<int8_t>(std::clamp<int>(pic.pic_init_qs_minus26, -26, 25));
  pps.chroma_qp_index_offset = pic.chroma_qp_index_offset;
  pps.second_chroma_qp_index_offset = pic.second_chroma_qp_index_offset;
  uint16_t flags = 0;
  if (bits.entropy_coding_mode_flag) flags |= V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE;
  if (bits.pic_order_present_flag) flags |= V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT;
  if (bits.weighted_pred_flag) flags |= V4L2_H264_PPS_FLAG_WEIGHTED_PRED;
  if (bits.deblocking_filter_control_present_flag) flags |= V4L2_H264_PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT;
  if (bits.constrained_intra_pred_flag) flags |= V4L2_H264_PPS_FLAG_CONSTRAINED_INTRA_PRED;
  if (bits.redundant_pic_cnt_present_flag) flags |= V4L2_H264_PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT;
  if (bits.transform_8x8_mode_flag) flags |= V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE;
  // ext-ctrls-codec-stateless.rst: with this flag the SCALING_MATRIX control
  // "must be used for this picture"; drivers ignore the matrix without it.
  if (has_iq_matrix) flags |= V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT;
  pps.flags = flags;
  return VA_STATUS_SUCCESS;
}

void fill_scaling_matrix(const VAIQMatrixBufferH264* iq, v4l2_ctrl_h264_scaling_matrix& matrix) {
  if (iq == nullptr) {
    // Flat_4x4_16 / Flat_8x8_16 (Table 7-2) is what no matrix means.
    std::memset(&matrix, 16, sizeof(matrix));
    return;
  }
  // Both APIs use raster order. 4x4 lists share the order Intra Y/Cb/Cr,
  // Inter Y/Cb/Cr; V4L2's 8x8 order is Intra Y, Inter Y, Intra Cb, Inter Cb,
  // Intra Cr, Inter Cr, so VA's [0] (Intra Y) and [1] (Inter Y) map to V4L2
  // [0] and [1] (ext-ctrls-codec-stateless.rst, scaling_list_8x8).
  static_assert(sizeof(matrix.scaling_list_4x4) == sizeof(iq->ScalingList4x4));
  std::memcpy(matrix.scaling_list_4x4, iq->ScalingList4x4, sizeof(matrix.scaling_list_4x4));
  // The chroma 8x8 lists exist only for 4:4:4, which VA-API cannot send;
  // fall-back rule A (Table 7-2) makes them copies of the luma lists.
  for (unsigned list = 0; list < 6; ++list)
    std::memcpy(matrix.scaling_list_8x8[list], iq->ScalingList8x8[list % 2], sizeof(matrix.scaling_list_8x8[list]));
}

uint8_t fields_of(const VAPictureH264& picture) {
  uint8_t fields = 0;
  if (picture.flags & VA_PICTURE_H264_TOP_FIELD) fields |= V4L2_H264_TOP_FIELD_REF;
  if (picture.flags & VA_PICTURE_H264_BOTTOM_FIELD) fields |= V4L2_H264_BOTTOM_FIELD_REF;
  // VA-API (FFmpeg, GStreamer) marks a frame or a complementary field pair
  // used for reference with neither flag; a valid entry never has fields = 0.
  return fields == 0 ? V4L2_H264_FRAME_REF : fields;
}

struct DpbBuild {
  std::array<VASurfaceID, V4L2_H264_NUM_DPB_ENTRIES> surfaces{};
  unsigned count = 0;

  int find(VASurfaceID surface) const {
    for (unsigned i = 0; i < count; ++i)
      if (surfaces[i] == surface) return static_cast<int>(i);
    return -1;
  }
};

VAStatus fill_dpb(const VAPictureParameterBufferH264& pic, const SliceHeader& first, const ReferenceTimestamp& ts,
                  const StreamState& state, v4l2_ctrl_h264_decode_params& decode, DpbBuild& build,
                  std::string& error) {
  const auto& seq = pic.seq_fields.bits;
  const int64_t max_frame_num = int64_t{1} << (seq.log2_max_frame_num_minus4 + 4);
  const bool field_pic = first.field_pic;
  for (unsigned i = 0; i < V4L2_H264_NUM_DPB_ENTRIES; ++i) {
    const VAPictureH264& ref = pic.ReferenceFrames[i];
    if (!is_valid_va_picture(ref)) continue;
    const uint8_t fields = fields_of(ref);
    const bool long_term = ref.flags & VA_PICTURE_H264_LONG_TERM_REFERENCE;

    // A client listing the two fields of one surface separately gets one
    // entry with both fields.
    const int existing = build.find(ref.picture_id);
    if (existing >= 0) {
      v4l2_h264_dpb_entry& entry = decode.dpb[existing];
      entry.fields |= fields;
      if (ref.flags & VA_PICTURE_H264_TOP_FIELD) entry.top_field_order_cnt = ref.TopFieldOrderCnt;
      if (ref.flags & VA_PICTURE_H264_BOTTOM_FIELD) entry.bottom_field_order_cnt = ref.BottomFieldOrderCnt;
      continue;
    }

    const std::optional<uint64_t> timestamp = ts ? ts(ref.picture_id) : std::nullopt;
    if (!timestamp) {
      error = "ReferenceFrames[" + std::to_string(i) + "]: surface " + std::to_string(ref.picture_id) +
              " has no decoded picture (unknown reference timestamp)";
      return VA_STATUS_ERROR_INVALID_SURFACE;
    }
    // A short-term frame_idx is a frame_num, below MaxFrameNum (7.4.3); the
    // long-term index is passed through as the client gives it.
    if (!long_term && ref.frame_idx >= max_frame_num)
      return fail(error, "ReferenceFrames[" + std::to_string(i) + "]: frame_idx not below MaxFrameNum");

    v4l2_h264_dpb_entry& entry = decode.dpb[build.count];
    entry.reference_ts = *timestamp;
    // frame_num: FrameNum for short-term, LongTermFrameIdx for long-term
    // references; VA's frame_idx holds exactly that.
    entry.frame_num = static_cast<uint16_t>(ref.frame_idx);
    // pic_num: PicNum (8-28) / LongTermPicNum (8-29). For fields, a field
    // of the same parity as the current one (2 * n + 1). The uAPI has one
    // value per entry; no 6.12 driver reads it.
    int64_t pic_num = ref.frame_idx;
    if (!long_term && ref.frame_idx > first.frame_num) pic_num -= max_frame_num;  // FrameNumWrap (8-27)
    if (field_pic) pic_num = 2 * pic_num + 1;
    entry.pic_num = static_cast<uint32_t>(pic_num);
    entry.fields = fields;
    entry.top_field_order_cnt = ref.TopFieldOrderCnt;
    entry.bottom_field_order_cnt = ref.BottomFieldOrderCnt;
    // Every VA ReferenceFrames entry is a picture marked "used for
    // reference" (short- or long-term), so it is ACTIVE.
    uint32_t flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE;
    if (long_term) flags |= V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM;
    // FIELD: the reference was coded as field picture(s). Known when this
    // StreamState saw it decoded; otherwise a single referenced field, or a
    // field-coded current picture, says so.
    const std::optional<bool> coded_as_fields = state.field_coded(ref.picture_id);
    const bool field_coded = coded_as_fields.value_or(fields != V4L2_H264_FRAME_REF || field_pic);
    if (field_coded && !seq.frame_mbs_only_flag) flags |= V4L2_H264_DPB_ENTRY_FLAG_FIELD;
    entry.flags = flags;
    build.surfaces[build.count] = ref.picture_id;
    ++build.count;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus fill_ref_list(const VAPictureH264 (&va_list)[32], unsigned count, bool field_pic, const DpbBuild& build,
                       v4l2_h264_reference (&list)[V4L2_H264_REF_LIST_LEN], size_t slice, const char* list_name,
                       std::string& error) {
  for (unsigned i = 0; i < count; ++i) {
    const VAPictureH264& ref = va_list[i];
    if (!is_valid_va_picture(ref)) {
      list[i] = {V4L2_H264_FRAME_REF, kNoDpbIndex};
      continue;
    }
    const int index = build.find(ref.picture_id);
    if (index < 0)
      return fail(error, slice_text(slice) + " " + list_name + "[" + std::to_string(i) + "]: surface " +
                             std::to_string(ref.picture_id) +
                             " is not in ReferenceFrames");
    uint8_t fields = V4L2_H264_FRAME_REF;
    if (field_pic) {
      // A field picture references single fields (8.2.4.2.5).
      const bool top = ref.flags & VA_PICTURE_H264_TOP_FIELD;
      const bool bottom = ref.flags & VA_PICTURE_H264_BOTTOM_FIELD;
      if (top == bottom)
        return fail(error, slice_text(slice) + " " + list_name + "[" + std::to_string(i) +
                               "]: a field picture's reference names no single field");
      fields = top ? V4L2_H264_TOP_FIELD_REF : V4L2_H264_BOTTOM_FIELD_REF;
    }
    list[i] = {fields, static_cast<uint8_t>(index)};
  }
  return VA_STATUS_SUCCESS;
}

void fill_pred_weights(const VASliceParameterBufferH264& va, const SliceHeader& header, uint8_t chroma_array_type,
                       v4l2_ctrl_h264_pred_weights& weights) {
  weights = {};
  weights.luma_log2_weight_denom = va.luma_log2_weight_denom;
  weights.chroma_log2_weight_denom = chroma_array_type != 0 ? va.chroma_log2_weight_denom : 0;
  const unsigned lists = header.slice_type == kSliceB ? 2 : 1;
  for (unsigned list = 0; list < lists; ++list) {
    const unsigned count =
        (list == 0 ? header.num_ref_idx_l0_active_minus1 : header.num_ref_idx_l1_active_minus1) + 1u;
    v4l2_h264_weight_factors& factors = weights.weight_factors[list];
    for (unsigned i = 0; i < count; ++i) {
      factors.luma_weight[i] = list == 0 ? va.luma_weight_l0[i] : va.luma_weight_l1[i];
      factors.luma_offset[i] = list == 0 ? va.luma_offset_l0[i] : va.luma_offset_l1[i];
      if (chroma_array_type == 0) continue;
      for (unsigned j = 0; j < 2; ++j) {
        factors.chroma_weight[i][j] = list == 0 ? va.chroma_weight_l0[i][j] : va.chroma_weight_l1[i][j];
        factors.chroma_offset[i][j] = list == 0 ? va.chroma_offset_l0[i][j] : va.chroma_offset_l1[i][j];
      }
    }
  }
}

// Clients pass the NAL without start code; tolerate one that kept it.
std::span<const uint8_t> strip_start_code(std::span<const uint8_t> data) {
  if (data.size() >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1) return data.subspan(4);
  if (data.size() >= 3 && data[0] == 0 && data[1] == 0 && data[2] == 1) return data.subspan(3);
  return data;
}

}  // namespace

VAStatus translate_picture(const VAPictureParameterBufferH264& pic, const VAIQMatrixBufferH264* iq,
                           std::span<const SliceInput> slices, const ReferenceTimestamp& ts, StreamState& state,
                           PictureControls& out, std::string& error) {
  out = PictureControls{};
  error.clear();
  if (slices.empty()) return fail(error, "picture has no slices");

  const auto& seq = pic.seq_fields.bits;
  const auto& bits = pic.pic_fields.bits;
  const SliceGroupFields groups = slice_group_fields(pic);
  SliceHeaderContext context;
  context.chroma_format_idc = static_cast<uint8_t>(seq.chroma_format_idc);
  context.separate_colour_plane = seq.chroma_format_idc == 3 && seq.residual_colour_transform_flag;
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
  context.num_slice_groups_minus1 = groups.num_slice_groups_minus1;
  context.slice_group_map_type = groups.slice_group_map_type;
  context.slice_group_change_rate_minus1 = groups.slice_group_change_rate_minus1;
  const uint32_t frame_height_in_mbs = pic.picture_height_in_mbs_minus1 + 1u;
  context.pic_size_in_map_units =
      (pic.picture_width_in_mbs_minus1 + 1u) * (seq.frame_mbs_only_flag ? frame_height_in_mbs : frame_height_in_mbs / 2);

  // Parse every slice header. VA's num_ref_idx_lX_active_minus1 is the
  // default when the slice does not override it (va.h), so it serves as the
  // default the parser needs for pred_weight_table and the lists.
  std::vector<SliceHeader> headers(slices.size());
  ToolUse tools;
  for (size_t n = 0; n < slices.size(); ++n) {
    const SliceInput& slice = slices[n];
    if (slice.param == nullptr || slice.data == nullptr || slice.size == 0)
      return fail(error, slice_text(n) + ": missing parameters or data");
    if (slice.param->num_ref_idx_l0_active_minus1 > 31 || slice.param->num_ref_idx_l1_active_minus1 > 31)
      return fail(error, slice_text(n) + ": num_ref_idx_lX_active_minus1 above 31");
    context.num_ref_idx_l0_default_active_minus1 = slice.param->num_ref_idx_l0_active_minus1;
    context.num_ref_idx_l1_default_active_minus1 = slice.param->num_ref_idx_l1_active_minus1;
    std::string parse_error;
    if (!parse_slice_header(strip_start_code({slice.data, slice.size}), context, headers[n], parse_error))
      return fail(error, slice_text(n) + ": " + parse_error);
    const SliceHeader& header = headers[n];
    if (n > 0) {
      // 7.4.3: these are equal in all slice headers of a picture.
      const SliceHeader& first = headers[0];
      if (header.pic_parameter_set_id != first.pic_parameter_set_id || header.frame_num != first.frame_num ||
          header.field_pic != first.field_pic || header.bottom_field != first.bottom_field ||
          header.nal_unit_type != first.nal_unit_type)
        return fail(error, slice_text(n) + ": pic_parameter_set_id/frame_num/field/NAL type differ from slice 0");
    }
    if (header.slice_type == kSliceB) tools.b_slices = true;
  }
  const SliceHeader& first = headers[0];

  // Learn the PPS defaults from the slices that did not override them.
  StreamState::RefIdxDefaults& defaults = state.ref_idx_defaults(first.pic_parameter_set_id);
  for (const SliceHeader& header : headers) {
    if (header.num_ref_idx_active_override) continue;
    if (header.slice_type == kSliceP || header.slice_type == kSliceSP || header.slice_type == kSliceB)
      defaults.l0_minus1 = header.num_ref_idx_l0_active_minus1;
    if (header.slice_type == kSliceB) defaults.l1_minus1 = header.num_ref_idx_l1_active_minus1;
  }

  tools.custom_scaling = is_custom_scaling(iq);
  VAStatus status = fill_sps(pic, state.profile(), tools, out.sps, error);
  if (status != VA_STATUS_SUCCESS) return status;
  // Clients send an IQ matrix for every picture (flat for Baseline/Main). A
  // scaling matrix exists only in High profiles (7.3.2.2): below them the
  // flat default applies and the PPS must not claim one.
  const bool scaling_present = iq != nullptr && (tools.custom_scaling || out.sps.profile_idc >= kProfileHigh);
  status = fill_pps(pic, scaling_present, first.pic_parameter_set_id, defaults, out.pps, error);
  if (status != VA_STATUS_SUCCESS) return status;
  fill_scaling_matrix(iq, out.scaling_matrix);

  v4l2_ctrl_h264_decode_params& decode = out.decode_params;
  DpbBuild build;
  status = fill_dpb(pic, first, ts, state, decode, build, error);
  if (status != VA_STATUS_SUCCESS) return status;
  decode.nal_ref_idc = first.nal_ref_idc;
  decode.frame_num = first.frame_num;
  decode.top_field_order_cnt = pic.CurrPic.TopFieldOrderCnt;
  decode.bottom_field_order_cnt = pic.CurrPic.BottomFieldOrderCnt;
  decode.idr_pic_id = first.idr_pic_id;
  decode.pic_order_cnt_lsb = first.pic_order_cnt_lsb;
  decode.delta_pic_order_cnt_bottom = first.delta_pic_order_cnt_bottom;
  decode.delta_pic_order_cnt0 = first.delta_pic_order_cnt[0];
  decode.delta_pic_order_cnt1 = first.delta_pic_order_cnt[1];
  decode.dec_ref_pic_marking_bit_size = first.dec_ref_pic_marking_bit_size;
  decode.pic_order_cnt_bit_size = first.pic_order_cnt_bit_size;
  decode.slice_group_change_cycle = first.slice_group_change_cycle;
  uint32_t decode_flags = 0;
  if (first.is_idr()) decode_flags |= V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
  if (first.field_pic) decode_flags |= V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
  if (first.bottom_field) decode_flags |= V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
  // As GStreamer's v4l2codecs: PFRAME if any slice is P, BFRAME if any is B.
  for (const SliceHeader& header : headers) {
    if (header.slice_type == kSliceP) decode_flags |= V4L2_H264_DECODE_PARAM_FLAG_PFRAME;
    if (header.slice_type == kSliceB) decode_flags |= V4L2_H264_DECODE_PARAM_FLAG_BFRAME;
  }
  decode.flags = decode_flags;

  const uint8_t chroma_array_type = context.separate_colour_plane ? 0 : context.chroma_format_idc;
  out.slice_params.resize(slices.size());
  out.pred_weights.resize(slices.size());
  for (size_t n = 0; n < slices.size(); ++n) {
    const SliceHeader& header = headers[n];
    const VASliceParameterBufferH264& va = *slices[n].param;
    v4l2_ctrl_h264_slice_params& params = out.slice_params[n];
    // ext-ctrls-codec-stateless.rst: "Offset in bits to slice_data() from
    // the beginning of this slice", i.e. from the NAL header byte, in RBSP
    // bits like VA's slice_data_bit_offset (cedrus skips that many bits).
    params.header_bit_size = header.header_bit_size;
    params.first_mb_in_slice = header.first_mb_in_slice;
    params.slice_type = header.slice_type;
    params.colour_plane_id = header.colour_plane_id;
    params.redundant_pic_cnt = header.redundant_pic_cnt;
    params.cabac_init_idc = header.cabac_init_idc;
    params.slice_qp_delta = header.slice_qp_delta;
    params.slice_qs_delta = header.slice_qs_delta;
    params.disable_deblocking_filter_idc = header.disable_deblocking_filter_idc;
    params.slice_alpha_c0_offset_div2 = header.slice_alpha_c0_offset_div2;
    params.slice_beta_offset_div2 = header.slice_beta_offset_div2;
    // std_validate_compound zeroes the counts of lists the slice type lacks.
    const bool has_l0 = header.slice_type == kSliceP || header.slice_type == kSliceSP || header.slice_type == kSliceB;
    const bool has_l1 = header.slice_type == kSliceB;
    params.num_ref_idx_l0_active_minus1 = has_l0 ? header.num_ref_idx_l0_active_minus1 : 0;
    params.num_ref_idx_l1_active_minus1 = has_l1 ? header.num_ref_idx_l1_active_minus1 : 0;
    uint32_t slice_flags = 0;
    if (has_l1 && header.direct_spatial_mv_pred) slice_flags |= V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
    if (header.sp_for_switch) slice_flags |= V4L2_H264_SLICE_FLAG_SP_FOR_SWITCH;
    params.flags = slice_flags;
    if (has_l0) {
      status = fill_ref_list(va.RefPicList0, params.num_ref_idx_l0_active_minus1 + 1u, header.field_pic, build,
                             params.ref_pic_list0, n, "RefPicList0", error);
      if (status != VA_STATUS_SUCCESS) return status;
    }
    if (has_l1) {
      status = fill_ref_list(va.RefPicList1, params.num_ref_idx_l1_active_minus1 + 1u, header.field_pic, build,
                             params.ref_pic_list1, n, "RefPicList1", error);
      if (status != VA_STATUS_SUCCESS) return status;
    }
    if (header.has_pred_weight_table) {
      if (va.luma_log2_weight_denom > 7 || va.chroma_log2_weight_denom > 7)
        return fail(error, slice_text(n) + ": luma/chroma_log2_weight_denom above 7");
      fill_pred_weights(va, header, chroma_array_type, out.pred_weights[n]);
      out.needs_pred_weights = true;
    }
  }

  state.note_decoded(pic.CurrPic.picture_id, first.field_pic);
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::h264

// VA-API H.264 picture/slice buffers -> V4L2 stateless H.264 controls.
//
// Pure translation: no ioctls. The picture module of the driver fills the
// request's controls from PictureControls.
#pragma once

#include <linux/v4l2-controls.h>
#include <va/va.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace v4l2va::h264 {

// One VA slice: its parameter buffer and its bytes.
struct SliceInput {
  const VASliceParameterBufferH264* param;
  // Slice data as the client gave it, already advanced by slice_data_offset:
  // starts at the NAL header byte (no start code).
  const uint8_t* data;
  size_t size;  // slice_data_size
};

// Timestamp of the picture last decoded into a reference surface (the V4L2
// timestamp in ns as v4l2_timeval_to_ns would give); nullopt if unknown.
using ReferenceTimestamp = std::function<std::optional<uint64_t>(VASurfaceID)>;

struct PictureControls {
  v4l2_ctrl_h264_sps sps{};
  v4l2_ctrl_h264_pps pps{};
  // Always filled (flat 16 when the client sent no IQ matrix).
  v4l2_ctrl_h264_scaling_matrix scaling_matrix{};
  v4l2_ctrl_h264_decode_params decode_params{};
  std::vector<v4l2_ctrl_h264_slice_params> slice_params;  // one per slice, same order
  std::vector<v4l2_ctrl_h264_pred_weights> pred_weights;  // one per slice (zeroed when the slice has no table)
  bool needs_pred_weights = false;  // any slice uses explicit weighted prediction
};

// What is learned across the pictures of one VA context. Create one per
// context with the VAProfile the context was created with: VA-API does not
// carry profile_idc, so the SPS control's profile_idc is derived from it.
class StreamState {
 public:
  explicit StreamState(VAProfile profile = VAProfileH264High) : profile_(profile) {}

  VAProfile profile() const { return profile_; }
  void set_profile(VAProfile profile) { profile_ = profile; }

  // PPS num_ref_idx_l0/l1_default_active_minus1 per pic_parameter_set_id,
  // learned from slices that did not override them; nullopt until seen.
  struct RefIdxDefaults {
    std::optional<uint8_t> l0_minus1;
    std::optional<uint8_t> l1_minus1;
  };
  const RefIdxDefaults& ref_idx_defaults(uint8_t pps_id) const { return defaults_[pps_id]; }
  RefIdxDefaults& ref_idx_defaults(uint8_t pps_id) { return defaults_[pps_id]; }

  static constexpr size_t kMaxPpsId = 255;  // pic_parameter_set_id is 0..255 (7.4.2.2)

  // Whether the picture last decoded into `surface` was coded as field(s)
  // (field_pic_flag): the DPB entry flag FIELD that hardware needs for
  // co-located motion vectors. translate_picture records it for CurrPic.
  void note_decoded(VASurfaceID surface, bool field_coded) { field_coded_[surface] = field_coded; }
  void forget(VASurfaceID surface) { field_coded_.erase(surface); }
  std::optional<bool> field_coded(VASurfaceID surface) const {
    const auto found = field_coded_.find(surface);
    if (found == field_coded_.end()) return std::nullopt;
    return found->second;
  }

 private:
  VAProfile profile_;
  RefIdxDefaults defaults_[kMaxPpsId + 1];
  std::unordered_map<VASurfaceID, bool> field_coded_;
};

// Fills `out`. Returns VA_STATUS_SUCCESS, or a VA error with `error` naming
// the field/slice that is wrong. The profile_idc comes from state.profile().
VAStatus translate_picture(const VAPictureParameterBufferH264& pic, const VAIQMatrixBufferH264* iq /*nullable*/,
                           std::span<const SliceInput> slices, const ReferenceTimestamp& ts, StreamState& state,
                           PictureControls& out, std::string& error);

}  // namespace v4l2va::h264

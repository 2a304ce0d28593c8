#include "controls.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace emu {
namespace {

constexpr uint32_t kClassFlags = V4L2_CTRL_FLAG_READ_ONLY | V4L2_CTRL_FLAG_WRITE_ONLY;

ControlDef class_control(uint32_t id, const char* name) {
  return {id, name, V4L2_CTRL_TYPE_CTRL_CLASS, 0, 0, 0, 0, 0, kClassFlags, 0};
}

ControlDef compound(uint32_t id, const char* name, uint32_t type, uint32_t size) {
  return {id, name, type, 0, 0, 1, 0, 0, 0, size};
}

ControlDef menu(uint32_t id, const char* name, int64_t min, int64_t max, int64_t def,
                uint64_t skip) {
  return {id, name, V4L2_CTRL_TYPE_MENU, min, max, 1, def, skip, 0, 4};
}

template <size_t N>
const char* pick(const char* const (&names)[N], int64_t index) {
  return index >= 0 && static_cast<size_t>(index) < N ? names[index] : nullptr;
}

// Control classes (V4L2_CTRL_ID2WHICH) are the top bits of an id.
uint32_t control_class(uint32_t id) { return id & 0x0fff0000; }

bool write_payload(const v4l2_ext_control& c, const ControlValue& value, const ControlDef& def) {
  std::memcpy(c.ptr, value.payload.data(), def.elem_size);
  return true;
}

}  // namespace

const char* menu_item_name(uint32_t id, int64_t index) {
  // Menu strings as v4l2-ctrls-defs.c spells them.
  static const char* const profiles[] = {
      "Baseline", "Constrained Baseline", "Main", "Extended", "High", "High 10", "High 422",
      "High 444 Predictive", "High 10 Intra", "High 422 Intra", "High 444 Intra",
      "CAVLC 444 Intra", "Scalable Baseline", "Scalable High", "Scalable High Intra",
      "Stereo High", "Multiview High", "Constrained High"};
  static const char* const levels[] = {"1",   "1b",  "1.1", "1.2", "1.3", "2",   "2.1",
                                       "2.2", "3",   "3.1", "3.2", "4",   "4.1", "4.2",
                                       "5",   "5.1", "5.2", "6.0", "6.1", "6.2"};
  static const char* const decode_modes[] = {"Slice-Based", "Frame-Based"};
  static const char* const start_codes[] = {"No Start Code", "Annex B Start Code"};
  switch (id) {
    case V4L2_CID_MPEG_VIDEO_H264_PROFILE: return pick(profiles, index);
    case V4L2_CID_MPEG_VIDEO_H264_LEVEL: return pick(levels, index);
    case V4L2_CID_STATELESS_H264_DECODE_MODE: return pick(decode_modes, index);
    case V4L2_CID_STATELESS_H264_START_CODE: return pick(start_codes, index);
    default: return nullptr;
  }
}

ControlTable::ControlTable(const HardwareProfile& profile) : profile_(profile) {
  defs_.push_back(class_control(V4L2_CID_CODEC_CLASS, "Codec Controls"));
  defs_.push_back(menu(V4L2_CID_MPEG_VIDEO_H264_PROFILE, "H264 Profile", profile.h264_profile_min,
                       profile.h264_profile_max, profile.h264_profile_def,
                       profile.h264_profile_skip_mask));
  if (profile.h264_level_max)
    defs_.push_back(menu(V4L2_CID_MPEG_VIDEO_H264_LEVEL, "H264 Level",
                         V4L2_MPEG_VIDEO_H264_LEVEL_1_0, *profile.h264_level_max,
                         profile.h264_level_def, 0));
  defs_.push_back(class_control(V4L2_CID_CODEC_STATELESS_CLASS, "Stateless Codec Controls"));
  defs_.push_back(menu(V4L2_CID_STATELESS_H264_DECODE_MODE, "H264 Decode Mode",
                       profile.decode_mode_min, profile.decode_mode_max, profile.decode_mode_def, 0));
  defs_.push_back(menu(V4L2_CID_STATELESS_H264_START_CODE, "H264 Start Code",
                       profile.start_code_min, profile.start_code_max, profile.start_code_def, 0));
  defs_.push_back(compound(V4L2_CID_STATELESS_H264_SPS, "H264 Sequence Parameter Set",
                           V4L2_CTRL_TYPE_H264_SPS, sizeof(v4l2_ctrl_h264_sps)));
  defs_.push_back(compound(V4L2_CID_STATELESS_H264_PPS, "H264 Picture Parameter Set",
                           V4L2_CTRL_TYPE_H264_PPS, sizeof(v4l2_ctrl_h264_pps)));
  defs_.push_back(compound(V4L2_CID_STATELESS_H264_SCALING_MATRIX, "H264 Scaling Matrix",
                           V4L2_CTRL_TYPE_H264_SCALING_MATRIX,
                           sizeof(v4l2_ctrl_h264_scaling_matrix)));
  if (profile.slice_controls) {
    defs_.push_back(compound(V4L2_CID_STATELESS_H264_PRED_WEIGHTS, "H264 Prediction Weight Table",
                             V4L2_CTRL_TYPE_H264_PRED_WEIGHTS,
                             sizeof(v4l2_ctrl_h264_pred_weights)));
    defs_.push_back(compound(V4L2_CID_STATELESS_H264_SLICE_PARAMS, "H264 Slice Parameters",
                             V4L2_CTRL_TYPE_H264_SLICE_PARAMS,
                             sizeof(v4l2_ctrl_h264_slice_params)));
  }
  defs_.push_back(compound(V4L2_CID_STATELESS_H264_DECODE_PARAMS, "H264 Decode Parameters",
                           V4L2_CTRL_TYPE_H264_DECODE_PARAMS,
                           sizeof(v4l2_ctrl_h264_decode_params)));
  // hantro_drv.c controls[] (HANTRO_VP8_DECODER), cedrus.c cedrus_controls[]
  // (CEDRUS_CODEC_VP8): one compound control, no menu.
  if (profile.vp8_max_width)
    defs_.push_back(compound(V4L2_CID_STATELESS_VP8_FRAME, "VP8 Frame Parameters",
                             V4L2_CTRL_TYPE_VP8_FRAME, sizeof(v4l2_ctrl_vp8_frame)));
  std::sort(defs_.begin(), defs_.end(),
            [](const ControlDef& a, const ControlDef& b) { return a.id < b.id; });
}

const ControlDef* ControlTable::find(uint32_t id) const {
  for (const auto& def : defs_)
    if (def.id == id) return &def;
  return nullptr;
}

ControlValues ControlTable::defaults() const {
  ControlValues values;
  for (const auto& def : defs_) {
    if (def.type == V4L2_CTRL_TYPE_CTRL_CLASS) continue;
    ControlValue value;
    value.integer = static_cast<int32_t>(def.default_value);
    if (def.is_compound()) {
      value.payload.assign(def.elem_size, 0);
      init_compound_like_kernel(def.type, value.payload.data());
    }
    values.emplace(def.id, std::move(value));
  }
  return values;
}

int ControlTable::query_ext_ctrl(v4l2_query_ext_ctrl& query) const {
  // vidioc-queryctrl.rst: NEXT_CTRL enumerates non-compound controls,
  // NEXT_COMPOUND compound ones, both flags together enumerate all.
  const uint32_t next_flags = query.id & (V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
  const uint32_t id = query.id & ~(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
  const ControlDef* found = nullptr;
  if (next_flags == 0) {
    found = find(id);
  } else {
    for (const auto& def : defs_) {
      if (def.id <= id) continue;
      const bool want = def.is_compound() ? (next_flags & V4L2_CTRL_FLAG_NEXT_COMPOUND)
                                          : (next_flags & V4L2_CTRL_FLAG_NEXT_CTRL);
      if (want) {
        found = &def;
        break;
      }
    }
  }
  if (!found) return -EINVAL;
  std::memset(&query, 0, sizeof(query));
  query.id = found->id;
  query.type = found->type;
  std::strncpy(query.name, found->name, sizeof(query.name) - 1);
  query.minimum = found->minimum;
  query.maximum = found->maximum;
  query.step = static_cast<uint64_t>(found->step);
  query.default_value = found->default_value;
  query.flags = found->flags;
  if (found->is_compound()) query.flags |= V4L2_CTRL_FLAG_HAS_PAYLOAD;
  query.elem_size = found->elem_size;
  query.elems = 1;
  query.nr_of_dims = 0;
  return 0;
}

int ControlTable::query_ctrl(v4l2_queryctrl& query) const {
  v4l2_query_ext_ctrl ext{};
  ext.id = query.id;
  if (const int ret = query_ext_ctrl(ext)) return ret;
  std::memset(&query, 0, sizeof(query));
  query.id = ext.id;
  query.type = ext.type;
  std::memcpy(query.name, ext.name, sizeof(query.name));
  query.minimum = static_cast<int32_t>(ext.minimum);
  query.maximum = static_cast<int32_t>(ext.maximum);
  query.step = static_cast<int32_t>(ext.step);
  query.default_value = static_cast<int32_t>(ext.default_value);
  query.flags = ext.flags;
  return 0;
}

int ControlTable::query_menu(v4l2_querymenu& query) const {
  const ControlDef* def = find(query.id);
  // vidioc-queryctrl.rst: QUERYMENU is EINVAL for non-menu controls, indices
  // outside minimum..maximum and items in the skip mask.
  if (!def || def->type != V4L2_CTRL_TYPE_MENU) return -EINVAL;
  const int64_t index = query.index;
  if (index < def->minimum || index > def->maximum) return -EINVAL;
  if (index < 64 && (def->menu_skip_mask & (1ull << index))) return -EINVAL;
  const char* name = menu_item_name(def->id, index);
  if (!name) return -EINVAL;
  const uint32_t id = query.id, idx = query.index;
  std::memset(&query, 0, sizeof(query));
  query.id = id;
  query.index = idx;
  std::strncpy(reinterpret_cast<char*>(query.name), name, sizeof(query.name) - 1);
  return 0;
}

// prepare_ext_ctrls() in v4l2-ctrls-api.c: id, class and size checks.
int ControlTable::prepare(v4l2_ext_controls& controls, bool get) const {
  for (uint32_t i = 0; i < controls.count; ++i) {
    v4l2_ext_control& c = controls.controls[i];
    controls.error_idx = i;
    const uint32_t id = c.id & V4L2_CTRL_ID_MASK;
    const uint32_t which = controls.which;
    if (which != V4L2_CTRL_WHICH_CUR_VAL && which != V4L2_CTRL_WHICH_DEF_VAL &&
        which != V4L2_CTRL_WHICH_REQUEST_VAL && control_class(id) != which)
      return -EINVAL;
    if (id >= V4L2_CID_PRIVATE_BASE) return -EINVAL;
    const ControlDef* def = find(id);
    if (!def) return -EINVAL;
    if (def->is_compound()) {
      if (c.size < def->elem_size) {
        // In the get case the size tells the application how much to allocate.
        if (get) {
          c.size = def->elem_size;
          return -ENOSPC;
        }
        return -EFAULT;
      }
      if (!c.ptr) return -EFAULT;
    }
  }
  return 0;
}

int ControlTable::try_ext_ctrls(v4l2_ext_controls& controls, bool set,
                                const ValidationContext& context, ControlValues& out) const {
  // try_set_ext_ctrls_common(): the default value cannot be changed.
  controls.error_idx = controls.count;
  if (controls.which == V4L2_CTRL_WHICH_DEF_VAL) return -EINVAL;
  if (controls.count == 0) return 0;
  if (!controls.controls) return -EFAULT;
  int ret = prepare(controls, false);
  ControlValues staged;
  for (uint32_t i = 0; ret == 0 && i < controls.count; ++i) {
    const v4l2_ext_control& c = controls.controls[i];
    const ControlDef& def = *find(c.id & V4L2_CTRL_ID_MASK);
    controls.error_idx = i;
    // validate_ctrls(): read-only controls (the class controls) -> EACCES.
    if (def.flags & V4L2_CTRL_FLAG_READ_ONLY) {
      ret = -EACCES;
      break;
    }
    ControlValue value;
    if (def.is_compound()) {
      value.payload.assign(static_cast<const uint8_t*>(c.ptr),
                           static_cast<const uint8_t*>(c.ptr) + def.elem_size);
      ret = validate_compound_like_kernel(def.type, value.payload.data());
      if (ret == 0) ret = validate_for_driver(def.id, value.payload.data(), context);
    } else {
      // std_validate_elem(): a menu value outside min..max is ERANGE, a
      // skipped item EINVAL.
      value.integer = c.value;
      if (c.value < def.minimum || c.value > def.maximum) ret = -ERANGE;
      else if (c.value < 64 && (def.menu_skip_mask & (1ull << c.value))) ret = -EINVAL;
    }
    if (ret == 0) staged[def.id] = std::move(value);
  }
  if (ret != 0) {
    if (set) controls.error_idx = controls.count;
    return ret;
  }
  // The kernel copies the normalised payload back to userspace on TRY and SET.
  for (uint32_t i = 0; i < controls.count; ++i) {
    const v4l2_ext_control& c = controls.controls[i];
    const ControlDef& def = *find(c.id & V4L2_CTRL_ID_MASK);
    if (def.is_compound()) write_payload(c, staged[def.id], def);
  }
  for (auto& [id, value] : staged) out[id] = std::move(value);
  return 0;
}

int ControlTable::get_ext_ctrls(v4l2_ext_controls& controls, const ControlValues& values) const {
  controls.error_idx = controls.count;
  if (controls.count == 0) return 0;
  if (!controls.controls) return -EFAULT;
  if (const int ret = prepare(controls, true)) return ret;
  const ControlValues fallback = defaults();
  for (uint32_t i = 0; i < controls.count; ++i) {
    v4l2_ext_control& c = controls.controls[i];
    const ControlDef& def = *find(c.id & V4L2_CTRL_ID_MASK);
    // v4l2-ctrls-api.c: write-only controls (the class controls) -> EACCES.
    if (def.flags & V4L2_CTRL_FLAG_WRITE_ONLY) {
      controls.error_idx = i;
      return -EACCES;
    }
  }
  for (uint32_t i = 0; i < controls.count; ++i) {
    v4l2_ext_control& c = controls.controls[i];
    const ControlDef& def = *find(c.id & V4L2_CTRL_ID_MASK);
    const bool want_default = controls.which == V4L2_CTRL_WHICH_DEF_VAL;
    auto it = values.find(def.id);
    const ControlValue& value =
        (want_default || it == values.end()) ? fallback.at(def.id) : it->second;
    if (def.is_compound()) {
      write_payload(c, value, def);
      c.size = def.elem_size;
    } else {
      c.value = value.integer;
    }
  }
  return 0;
}

void init_compound_like_kernel(uint32_t type, void* payload) {
  // std_init_compound() in v4l2-ctrls-core.c: the defaults that are not zero.
  if (type == V4L2_CTRL_TYPE_VP8_FRAME) static_cast<v4l2_ctrl_vp8_frame*>(payload)->num_dct_parts = 1;
}

int validate_compound_like_kernel(uint32_t type, void* payload) {
  // Mirrors std_validate_compound() in drivers/media/v4l2-core/v4l2-ctrls-core.c
  // (Linux 6.12), including its normalisations of conditional fields.
  switch (type) {
    case V4L2_CTRL_TYPE_H264_SPS: {
      auto* sps = static_cast<v4l2_ctrl_h264_sps*>(payload);
      // The kernel's else-branch also runs for pic_order_cnt_type 0 (its
      // condition is always true there), so the type-1 fields are cleared
      // for type 0 and kept for type 2. Modelled as written.
      if (sps->pic_order_cnt_type != 0) {
        sps->log2_max_pic_order_cnt_lsb_minus4 = 0;
      } else {
        sps->num_ref_frames_in_pic_order_cnt_cycle = 0;
        sps->offset_for_non_ref_pic = 0;
        sps->offset_for_top_to_bottom_field = 0;
        std::memset(sps->offset_for_ref_frame, 0, sizeof(sps->offset_for_ref_frame));
      }
      if (!V4L2_H264_SPS_HAS_CHROMA_FORMAT(sps)) {
        sps->chroma_format_idc = 1;
        sps->bit_depth_luma_minus8 = 0;
        sps->bit_depth_chroma_minus8 = 0;
        sps->flags &= ~V4L2_H264_SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS;
      }
      if (sps->chroma_format_idc < 3) sps->flags &= ~V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE;
      if (sps->flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY)
        sps->flags &= ~V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD;
      if (sps->profile_idc < 122 && sps->chroma_format_idc > 1) return -EINVAL;
      if (sps->profile_idc < 244 && sps->chroma_format_idc > 2) return -EINVAL;
      if (sps->chroma_format_idc > 3) return -EINVAL;
      if (sps->bit_depth_luma_minus8 > 6 || sps->bit_depth_chroma_minus8 > 6) return -EINVAL;
      if (sps->log2_max_frame_num_minus4 > 12) return -EINVAL;
      if (sps->pic_order_cnt_type > 2) return -EINVAL;
      if (sps->log2_max_pic_order_cnt_lsb_minus4 > 12) return -EINVAL;
      if (sps->max_num_ref_frames > V4L2_H264_REF_LIST_LEN) return -EINVAL;
      return 0;
    }
    case V4L2_CTRL_TYPE_H264_PPS: {
      const auto* pps = static_cast<const v4l2_ctrl_h264_pps*>(payload);
      if (pps->num_slice_groups_minus1 > 7) return -EINVAL;
      if (pps->num_ref_idx_l0_default_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
      if (pps->num_ref_idx_l1_default_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
      if (pps->weighted_bipred_idc > 2) return -EINVAL;
      if (pps->pic_init_qp_minus26 < -62 || pps->pic_init_qp_minus26 > 25) return -EINVAL;
      if (pps->pic_init_qs_minus26 < -26 || pps->pic_init_qs_minus26 > 25) return -EINVAL;
      if (pps->chroma_qp_index_offset < -12 || pps->chroma_qp_index_offset > 12) return -EINVAL;
      if (pps->second_chroma_qp_index_offset < -12 || pps->second_chroma_qp_index_offset > 12)
        return -EINVAL;
      return 0;
    }
    case V4L2_CTRL_TYPE_H264_SCALING_MATRIX:
      return 0;
    case V4L2_CTRL_TYPE_H264_PRED_WEIGHTS: {
      const auto* weights = static_cast<const v4l2_ctrl_h264_pred_weights*>(payload);
      if (weights->luma_log2_weight_denom > 7 || weights->chroma_log2_weight_denom > 7)
        return -EINVAL;
      return 0;
    }
    case V4L2_CTRL_TYPE_H264_SLICE_PARAMS: {
      auto* slice = static_cast<v4l2_ctrl_h264_slice_params*>(payload);
      if (slice->slice_type != V4L2_H264_SLICE_TYPE_B)
        slice->flags &= ~V4L2_H264_SLICE_FLAG_DIRECT_SPATIAL_MV_PRED;
      if (slice->colour_plane_id > 2 || slice->cabac_init_idc > 2 ||
          slice->disable_deblocking_filter_idc > 2)
        return -EINVAL;
      if (slice->slice_alpha_c0_offset_div2 < -6 || slice->slice_alpha_c0_offset_div2 > 6)
        return -EINVAL;
      if (slice->slice_beta_offset_div2 < -6 || slice->slice_beta_offset_div2 > 6) return -EINVAL;
      if (slice->slice_type == V4L2_H264_SLICE_TYPE_I || slice->slice_type == V4L2_H264_SLICE_TYPE_SI)
        slice->num_ref_idx_l0_active_minus1 = 0;
      if (slice->slice_type != V4L2_H264_SLICE_TYPE_B) slice->num_ref_idx_l1_active_minus1 = 0;
      if (slice->num_ref_idx_l0_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
      if (slice->num_ref_idx_l1_active_minus1 > V4L2_H264_REF_LIST_LEN - 1) return -EINVAL;
      std::memset(&slice->reserved, 0, sizeof(slice->reserved));  // zero_reserved()
      return 0;
    }
    case V4L2_CTRL_TYPE_H264_DECODE_PARAMS: {
      auto* params = static_cast<v4l2_ctrl_h264_decode_params*>(payload);
      if (params->nal_ref_idc > 3) return -EINVAL;
      for (auto& entry : params->dpb) std::memset(&entry.reserved, 0, sizeof(entry.reserved));
      std::memset(&params->reserved, 0, sizeof(params->reserved));
      return 0;
    }
    case V4L2_CTRL_TYPE_VP8_FRAME: {
      auto* frame = static_cast<v4l2_ctrl_vp8_frame*>(payload);
      switch (frame->num_dct_parts) {
        case 1: case 2: case 4: case 8: break;
        default: return -EINVAL;
      }
      // zero_padding() of each sub-structure.
      frame->segment.padding = 0;
      frame->lf.padding = 0;
      frame->quant.padding = 0;
      std::memset(frame->entropy.padding, 0, sizeof(frame->entropy.padding));
      frame->coder_state.padding = 0;
      return 0;
    }
    default:
      return 0;
  }
}

int validate_for_driver(uint32_t id, const void* payload, const ValidationContext& context) {
  if (id != V4L2_CID_STATELESS_H264_SPS || !context.profile) return 0;
  const auto* sps = static_cast<const v4l2_ctrl_h264_sps*>(payload);
  switch (context.profile->sps_check) {
    case SpsCheck::Mediatek:  // no try_ctrl: mtk_vdec_s_ctrl() checks when the SPS is applied
      return 0;
    case SpsCheck::Hantro:  // hantro_try_ctrl()
    case SpsCheck::Rkvdec:  // rkvdec_h264_validate_sps()
      if (sps->chroma_format_idc > 1) return -EINVAL;
      break;
    case SpsCheck::Cedrus:  // cedrus_try_ctrl()
      if (sps->chroma_format_idc != 1) return -EINVAL;
      break;
  }
  if (sps->bit_depth_luma_minus8 != sps->bit_depth_chroma_minus8) return -EINVAL;
  if (sps->bit_depth_luma_minus8 != 0) return -EINVAL;
  if (context.profile->sps_check == SpsCheck::Rkvdec) {
    const uint32_t width = (sps->pic_width_in_mbs_minus1 + 1u) * 16u;
    uint32_t height = (sps->pic_height_in_map_units_minus1 + 1u) * 16u;
    // (7-18): without frame_mbs_only the map units are field macroblock pairs.
    if (!(sps->flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY)) height *= 2;
    if (width > context.output_width || height > context.output_height) return -EINVAL;
  }
  return 0;
}

}  // namespace emu

#include "record.h"

#include <string>

namespace emu {
namespace {

class JsonObject {
 public:
  template <typename T>
  JsonObject& field(const char* name, T value) {
    key(name);
    text_ += std::to_string(value);
    return *this;
  }
  template <typename T, size_t N>
  JsonObject& array(const char* name, const T (&values)[N]) {
    key(name);
    text_ += '[';
    for (size_t i = 0; i < N; ++i) text_ += (i ? "," : "") + std::to_string(values[i]);
    text_ += ']';
    return *this;
  }
  JsonObject& raw(const char* name, const std::string& json) {
    key(name);
    text_ += json;
    return *this;
  }
  std::string str() const { return "{" + text_ + "}"; }

 private:
  void key(const char* name) {
    if (!text_.empty()) text_ += ',';
    text_ += '"';
    text_ += name;
    text_ += "\":";
  }
  std::string text_;
};

template <typename T, size_t N, size_t M>
std::string nested(const T (&values)[N][M]) {
  std::string out = "[";
  for (size_t i = 0; i < N; ++i) {
    out += i ? ",[" : "[";
    for (size_t j = 0; j < M; ++j) out += (j ? "," : "") + std::to_string(values[i][j]);
    out += ']';
  }
  return out + "]";
}

std::string sps_json(const v4l2_ctrl_h264_sps& s) {
  return JsonObject()
      .field("profile_idc", s.profile_idc)
      .field("constraint_set_flags", s.constraint_set_flags)
      .field("level_idc", s.level_idc)
      .field("seq_parameter_set_id", s.seq_parameter_set_id)
      .field("chroma_format_idc", s.chroma_format_idc)
      .field("bit_depth_luma_minus8", s.bit_depth_luma_minus8)
      .field("bit_depth_chroma_minus8", s.bit_depth_chroma_minus8)
      .field("log2_max_frame_num_minus4", s.log2_max_frame_num_minus4)
      .field("pic_order_cnt_type", s.pic_order_cnt_type)
      .field("log2_max_pic_order_cnt_lsb_minus4", s.log2_max_pic_order_cnt_lsb_minus4)
      .field("max_num_ref_frames", s.max_num_ref_frames)
      .field("num_ref_frames_in_pic_order_cnt_cycle", s.num_ref_frames_in_pic_order_cnt_cycle)
      .array("offset_for_ref_frame", s.offset_for_ref_frame)
      .field("offset_for_non_ref_pic", s.offset_for_non_ref_pic)
      .field("offset_for_top_to_bottom_field", s.offset_for_top_to_bottom_field)
      .field("pic_width_in_mbs_minus1", s.pic_width_in_mbs_minus1)
      .field("pic_height_in_map_units_minus1", s.pic_height_in_map_units_minus1)
      .field("flags", s.flags)
      .str();
}

std::string pps_json(const v4l2_ctrl_h264_pps& p) {
  return JsonObject()
      .field("pic_parameter_set_id", p.pic_parameter_set_id)
      .field("seq_parameter_set_id", p.seq_parameter_set_id)
      .field("num_slice_groups_minus1", p.num_slice_groups_minus1)
      .field("num_ref_idx_l0_default_active_minus1", p.num_ref_idx_l0_default_active_minus1)
      .field("num_ref_idx_l1_default_active_minus1", p.num_ref_idx_l1_default_active_minus1)
      .field("weighted_bipred_idc", p.weighted_bipred_idc)
      .field("pic_init_qp_minus26", p.pic_init_qp_minus26)
      .field("pic_init_qs_minus26", p.pic_init_qs_minus26)
      .field("chroma_qp_index_offset", p.chroma_qp_index_offset)
      .field("second_chroma_qp_index_offset", p.second_chroma_qp_index_offset)
      .field("flags", p.flags)
      .str();
}

std::string dpb_json(const v4l2_h264_dpb_entry& e) {
  return JsonObject()
      .field("reference_ts", e.reference_ts)
      .field("pic_num", e.pic_num)
      .field("frame_num", e.frame_num)
      .field("fields", e.fields)
      .field("top_field_order_cnt", e.top_field_order_cnt)
      .field("bottom_field_order_cnt", e.bottom_field_order_cnt)
      .field("flags", e.flags)
      .str();
}

std::string decode_params_json(const v4l2_ctrl_h264_decode_params& d) {
  std::string dpb = "[";
  for (size_t i = 0; i < V4L2_H264_NUM_DPB_ENTRIES; ++i) dpb += (i ? "," : "") + dpb_json(d.dpb[i]);
  dpb += "]";
  return JsonObject()
      .raw("dpb", dpb)
      .field("nal_ref_idc", d.nal_ref_idc)
      .field("frame_num", d.frame_num)
      .field("top_field_order_cnt", d.top_field_order_cnt)
      .field("bottom_field_order_cnt", d.bottom_field_order_cnt)
      .field("idr_pic_id", d.idr_pic_id)
      .field("pic_order_cnt_lsb", d.pic_order_cnt_lsb)
      .field("delta_pic_order_cnt_bottom", d.delta_pic_order_cnt_bottom)
      .field("delta_pic_order_cnt0", d.delta_pic_order_cnt0)
      .field("delta_pic_order_cnt1", d.delta_pic_order_cnt1)
      .field("dec_ref_pic_marking_bit_size", d.dec_ref_pic_marking_bit_size)
      .field("pic_order_cnt_bit_size", d.pic_order_cnt_bit_size)
      .field("slice_group_change_cycle", d.slice_group_change_cycle)
      .field("flags", d.flags)
      .str();
}

std::string reference_list_json(const v4l2_h264_reference (&list)[V4L2_H264_REF_LIST_LEN]) {
  std::string out = "[";
  for (size_t i = 0; i < V4L2_H264_REF_LIST_LEN; ++i)
    out += (i ? "," : "") +
           JsonObject().field("fields", list[i].fields).field("index", list[i].index).str();
  return out + "]";
}

std::string slice_params_json(const v4l2_ctrl_h264_slice_params& s) {
  return JsonObject()
      .field("header_bit_size", s.header_bit_size)
      .field("first_mb_in_slice", s.first_mb_in_slice)
      .field("slice_type", s.slice_type)
      .field("colour_plane_id", s.colour_plane_id)
      .field("redundant_pic_cnt", s.redundant_pic_cnt)
      .field("cabac_init_idc", s.cabac_init_idc)
      .field("slice_qp_delta", s.slice_qp_delta)
      .field("slice_qs_delta", s.slice_qs_delta)
      .field("disable_deblocking_filter_idc", s.disable_deblocking_filter_idc)
      .field("slice_alpha_c0_offset_div2", s.slice_alpha_c0_offset_div2)
      .field("slice_beta_offset_div2", s.slice_beta_offset_div2)
      .field("num_ref_idx_l0_active_minus1", s.num_ref_idx_l0_active_minus1)
      .field("num_ref_idx_l1_active_minus1", s.num_ref_idx_l1_active_minus1)
      .raw("ref_pic_list0", reference_list_json(s.ref_pic_list0))
      .raw("ref_pic_list1", reference_list_json(s.ref_pic_list1))
      .field("flags", s.flags)
      .str();
}

std::string weight_factors_json(const v4l2_h264_weight_factors& w) {
  return JsonObject()
      .array("luma_weight", w.luma_weight)
      .array("luma_offset", w.luma_offset)
      .raw("chroma_weight", nested(w.chroma_weight))
      .raw("chroma_offset", nested(w.chroma_offset))
      .str();
}

std::string pred_weights_json(const v4l2_ctrl_h264_pred_weights& p) {
  return JsonObject()
      .field("luma_log2_weight_denom", p.luma_log2_weight_denom)
      .field("chroma_log2_weight_denom", p.chroma_log2_weight_denom)
      .raw("weight_factors", "[" + weight_factors_json(p.weight_factors[0]) + "," +
                                 weight_factors_json(p.weight_factors[1]) + "]")
      .str();
}

}  // namespace

std::string record_json(unsigned device_index, uint64_t timestamp_ns,
                        const H264RequestControls& controls, bool decoded_ok, size_t dpb_problems) {
  JsonObject line;
  line.field("device", device_index)
      .field("timestamp", timestamp_ns)
      .field("decoded", decoded_ok ? 1 : 0)
      .field("dpb_mismatches", dpb_problems)
      .raw("sps", sps_json(controls.sps))
      .raw("pps", pps_json(controls.pps));
  if (controls.scaling_matrix)
    line.raw("scaling_matrix",
             JsonObject()
                 .raw("scaling_list_4x4", nested(controls.scaling_matrix->scaling_list_4x4))
                 .raw("scaling_list_8x8", nested(controls.scaling_matrix->scaling_list_8x8))
                 .str());
  line.raw("decode_params", decode_params_json(controls.decode_params));
  if (controls.slice_params) line.raw("slice_params", slice_params_json(*controls.slice_params));
  if (controls.pred_weights) line.raw("pred_weights", pred_weights_json(*controls.pred_weights));
  return line.str();
}

}  // namespace emu

#include "dpb_check.h"

#include <string>

namespace emu {

PictureInfo picture_after_decode(const PictureInfo& previous, uint64_t timestamp_ns,
                                 const v4l2_ctrl_h264_decode_params& params) {
  PictureInfo picture;
  picture.valid = true;
  picture.timestamp_ns = timestamp_ns;
  picture.frame_num = params.frame_num;
  if (!(params.flags & V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC)) {
    picture.fields = V4L2_H264_FRAME_REF;
    picture.top_poc = params.top_field_order_cnt;
    picture.bottom_poc = params.bottom_field_order_cnt;
    return picture;
  }
  // ext-ctrls-codec-stateless.rst: both fields of a frame share the
  // timestamp, so a field with the buffer's current timestamp is its second field.
  if (previous.valid && previous.timestamp_ns == timestamp_ns &&
      previous.fields != V4L2_H264_FRAME_REF) {
    picture.fields = previous.fields;
    picture.top_poc = previous.top_poc;
    picture.bottom_poc = previous.bottom_poc;
  }
  if (params.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD) {
    picture.fields |= V4L2_H264_BOTTOM_FIELD_REF;
    picture.bottom_poc = params.bottom_field_order_cnt;
  } else {
    picture.fields |= V4L2_H264_TOP_FIELD_REF;
    picture.top_poc = params.top_field_order_cnt;
  }
  return picture;
}

std::vector<std::string> check_dpb(const v4l2_ctrl_h264_decode_params& params,
                                   const std::vector<PictureInfo>& capture_pictures,
                                   size_t target_index, uint64_t timestamp_ns) {
  std::vector<std::string> problems;
  for (size_t i = 0; i < V4L2_H264_NUM_DPB_ENTRIES; ++i) {
    const v4l2_h264_dpb_entry& entry = params.dpb[i];
    if (!(entry.flags & V4L2_H264_DPB_ENTRY_FLAG_VALID)) continue;
    const std::string where = "dpb[" + std::to_string(i) + "] reference_ts " +
                              std::to_string(entry.reference_ts) + ": ";
    size_t found = capture_pictures.size();
    for (size_t b = 0; b < capture_pictures.size(); ++b) {
      if (capture_pictures[b].valid && capture_pictures[b].timestamp_ns == entry.reference_ts) {
        found = b;
        break;
      }
    }
    if (found == capture_pictures.size()) {
      problems.push_back(where + "no CAPTURE buffer holds a picture with this timestamp");
      continue;
    }
    const PictureInfo& picture = capture_pictures[found];
    if (found == target_index && picture.timestamp_ns != timestamp_ns) {
      problems.push_back(where + "names the buffer being decoded into (its picture is overwritten)");
      continue;
    }
    // frame_num holds long_term_frame_idx for long-term entries: not comparable.
    if (!(entry.flags & V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM) && entry.frame_num != picture.frame_num)
      problems.push_back(where + "frame_num " + std::to_string(entry.frame_num) +
                         " but the buffer holds frame_num " + std::to_string(picture.frame_num));
    const uint8_t wanted_fields = entry.fields & V4L2_H264_FRAME_REF;
    if (wanted_fields & ~picture.fields)
      problems.push_back(where + "fields " + std::to_string(wanted_fields) +
                         " but the buffer holds fields " + std::to_string(picture.fields));
    if ((wanted_fields & picture.fields & V4L2_H264_TOP_FIELD_REF) &&
        entry.top_field_order_cnt != picture.top_poc)
      problems.push_back(where + "top POC " + std::to_string(entry.top_field_order_cnt) +
                         " but the buffer holds " + std::to_string(picture.top_poc));
    if ((wanted_fields & picture.fields & V4L2_H264_BOTTOM_FIELD_REF) &&
        entry.bottom_field_order_cnt != picture.bottom_poc)
      problems.push_back(where + "bottom POC " + std::to_string(entry.bottom_field_order_cnt) +
                         " but the buffer holds " + std::to_string(picture.bottom_poc));
  }
  return problems;
}

}  // namespace emu

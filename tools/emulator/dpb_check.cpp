#include "dpb_check.h"

#include <optional>
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

std::vector<DpbProblem> check_dpb_entries(const v4l2_ctrl_h264_decode_params& params,
                                          const std::vector<PictureInfo>& capture_pictures,
                                          size_t target_index, uint64_t timestamp_ns) {
  std::vector<DpbProblem> problems;
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
      problems.push_back({i, where + "no CAPTURE buffer holds a picture with this timestamp"});
      continue;
    }
    const PictureInfo& picture = capture_pictures[found];
    if (found == target_index && picture.timestamp_ns != timestamp_ns) {
      problems.push_back({i, where + "names the buffer being decoded into (its picture is overwritten)"});
      continue;
    }
    // frame_num holds long_term_frame_idx for long-term entries: not comparable.
    if (!(entry.flags & V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM) && entry.frame_num != picture.frame_num)
      problems.push_back({i, where + "frame_num " + std::to_string(entry.frame_num) +
                         " but the buffer holds frame_num " + std::to_string(picture.frame_num)});
    const uint8_t wanted_fields = entry.fields & V4L2_H264_FRAME_REF;
    if (wanted_fields & ~picture.fields)
      problems.push_back({i, where + "fields " + std::to_string(wanted_fields) +
                         " but the buffer holds fields " + std::to_string(picture.fields)});
    if ((wanted_fields & picture.fields & V4L2_H264_TOP_FIELD_REF) &&
        entry.top_field_order_cnt != picture.top_poc)
      problems.push_back({i, where + "top POC " + std::to_string(entry.top_field_order_cnt) +
                         " but the buffer holds " + std::to_string(picture.top_poc)});
    if ((wanted_fields & picture.fields & V4L2_H264_BOTTOM_FIELD_REF) &&
        entry.bottom_field_order_cnt != picture.bottom_poc)
      problems.push_back({i, where + "bottom POC " + std::to_string(entry.bottom_field_order_cnt) +
                         " but the buffer holds " + std::to_string(picture.bottom_poc)});
  }
  return problems;
}

std::vector<std::string> check_dpb(const v4l2_ctrl_h264_decode_params& params,
                                   const std::vector<PictureInfo>& capture_pictures,
                                   size_t target_index, uint64_t timestamp_ns) {
  std::vector<std::string> messages;
  for (DpbProblem& problem : check_dpb_entries(params, capture_pictures, target_index, timestamp_ns))
    messages.push_back(std::move(problem.message));
  return messages;
}

ReferenceLookup reference_lookup_for(std::string_view profile_name) {
  return profile_name == "cedrus" ? ReferenceLookup::CedrusFrameList : ReferenceLookup::DestinationBuffer;
}

namespace {

// vb2_find_buffer() as the driver calls it, after device_run() copied the
// new timestamp into the destination (v4l2_m2m_buf_copy_metadata): the
// buffer whose copied timestamp is `reference_ts`, or none.
std::optional<size_t> find_buffer(const std::vector<PictureInfo>& pictures, size_t target_index,
                                  uint64_t timestamp_ns, uint64_t reference_ts) {
  if (reference_ts == timestamp_ns) return target_index;
  for (size_t b = 0; b < pictures.size(); ++b)
    if (b != target_index && pictures[b].valid && pictures[b].timestamp_ns == reference_ts) return b;
  return std::nullopt;
}

constexpr unsigned kCedrusFrames = 18;  // CEDRUS_H264_FRAME_NUM

}  // namespace

HardwareReferencePlan plan_hardware_references(const v4l2_ctrl_h264_decode_params& params,
                                               const std::vector<PictureInfo>& capture_pictures,
                                               size_t target_index, uint64_t timestamp_ns,
                                               ReferenceLookup lookup,
                                               const std::vector<DpbProblem>& problems) {
  HardwareReferencePlan plan;
  // cedrus_write_frame_list(): positions in use this decode, and the one
  // the destination takes.
  std::optional<size_t> position_zero;
  if (lookup == ReferenceLookup::CedrusFrameList) {
    uint32_t used = 0;
    std::optional<unsigned> output;
    for (const v4l2_h264_dpb_entry& entry : params.dpb) {
      if (!(entry.flags & V4L2_H264_DPB_ENTRY_FLAG_VALID)) continue;
      const auto found = find_buffer(capture_pictures, target_index, timestamp_ns, entry.reference_ts);
      if (!found) continue;
      const unsigned position = capture_pictures[*found].cedrus_position % kCedrusFrames;
      used |= 1u << position;
      if (*found == target_index) {
        output = position;
        continue;
      }
      if ((entry.flags & V4L2_H264_DPB_ENTRY_FLAG_ACTIVE) && position == 0) position_zero = *found;
    }
    if (output) {
      plan.output_position = *output;
    } else {
      unsigned free_position = 0;
      while (free_position < kCedrusFrames && (used & (1u << free_position))) ++free_position;
      plan.output_position = free_position;
    }
    if (plan.output_position == 0) position_zero = target_index;
  }
  for (const DpbProblem& problem : problems) {
    // One entry can have several problems (frame_num and POC): one substitution.
    if (!plan.substituted.empty() && plan.substituted.back().entry == problem.entry) continue;
    const v4l2_h264_dpb_entry& entry = params.dpb[problem.entry];
    // Only ACTIVE entries are references (v4l2_h264_init_reflist_builder()).
    if (!(entry.flags & V4L2_H264_DPB_ENTRY_FLAG_ACTIVE)) continue;
    const auto found = find_buffer(capture_pictures, target_index, timestamp_ns, entry.reference_ts);
    size_t source = found.value_or(target_index);
    // Cedrus: an entry with no buffer is frame-list position 0. With no
    // picture there the frame list holds zeros (address 0, whatever memory
    // that is); the model reads the destination buffer then.
    if (!found && lookup == ReferenceLookup::CedrusFrameList) source = position_zero.value_or(target_index);
    plan.substituted.push_back({problem.entry, source});
  }
  return plan;
}

}  // namespace emu

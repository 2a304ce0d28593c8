// The reference check hardware cannot do but a model can: every valid DPB
// entry of a decode must name (by reference_ts) the CAPTURE buffer that holds
// exactly that picture (frame_num, POCs, field parity).
#pragma once

#include <linux/v4l2-controls.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace emu {

// V4L2_EMU_DPB_CHECK. Strict (the default): a DPB entry that does not name
// the buffer holding its picture fails the job (V4L2_BUF_FLAG_ERROR), so a
// client's mistake is seen. Hardware: the job decodes as the modelled
// driver programs the hardware (hantro, rkvdec: the destination buffer
// stands in for a reference_ts that matches no buffer; cedrus: frame-list
// position 0), without ERROR; mismatches are still counted.
enum class DpbCheckMode { Strict, Hardware };

// What was last decoded into one CAPTURE buffer.
struct PictureInfo {
  bool valid = false;
  uint64_t timestamp_ns = 0;
  uint32_t frame_num = 0;
  int32_t top_poc = 0;
  int32_t bottom_poc = 0;
  uint8_t fields = 0;  // V4L2_H264_TOP_FIELD_REF | V4L2_H264_BOTTOM_FIELD_REF
  // cedrus_buffer.codec.h264.position: the buffer's frame-list slot, kept
  // across decodes (0 for a buffer never decoded into: kzalloc'd).
  unsigned cedrus_position = 0;
  // Which decode made the picture (VP8: what a reference timestamp names).
  uint64_t serial = 0;
};

// The picture after decoding `params` with `timestamp_ns` into a buffer that
// held `previous` (a second field joins its first field).
PictureInfo picture_after_decode(const PictureInfo& previous, uint64_t timestamp_ns,
                                 const v4l2_ctrl_h264_decode_params& params);

struct DpbProblem {
  size_t entry;         // index into decode_params.dpb
  std::string message;
};

// Checks the DPB of `params` against the CAPTURE buffers' pictures.
// `target_index` is the buffer being decoded into, `timestamp_ns` the new
// picture's timestamp. One problem per mismatching entry.
std::vector<DpbProblem> check_dpb_entries(const v4l2_ctrl_h264_decode_params& params,
                                          const std::vector<PictureInfo>& capture_pictures,
                                          size_t target_index, uint64_t timestamp_ns);
// The same, as messages.
std::vector<std::string> check_dpb(const v4l2_ctrl_h264_decode_params& params,
                                   const std::vector<PictureInfo>& capture_pictures,
                                   size_t target_index, uint64_t timestamp_ns);

// How a driver finds the buffer behind a DPB entry, and what the hardware
// reads when it finds none.
enum class ReferenceLookup {
  // hantro_h264_get_ref_buf() (hantro_h264.c), rkvdec-h264.c
  // lookup_ref_buf_idx()/config_registers(): an ACTIVE entry is looked up
  // with vb2_find_buffer(reference_ts); no match (or an inactive entry):
  // the destination buffer's address.
  DestinationBuffer,
  // cedrus_write_frame_list()/_cedrus_write_ref_list() (cedrus_h264.c):
  // VALID entries found by vb2_find_buffer() fill the frame list at their
  // buffer's position; a reference whose buffer is not found leaves its
  // reference-list byte 0, i.e. frame-list position 0. The destination
  // takes the position of the entry naming its own timestamp, else the
  // first free one.
  CedrusFrameList,
};
ReferenceLookup reference_lookup_for(std::string_view profile_name);

// For V4L2_EMU_DPB_CHECK=hardware: a reference the hardware reads from
// another buffer than the one holding the picture the entry names.
struct HardwareReference {
  size_t entry;          // index into decode_params.dpb
  size_t source_buffer;  // the CAPTURE buffer it reads instead
};
struct HardwareReferencePlan {
  std::vector<HardwareReference> substituted;
  unsigned output_position = 0;  // cedrus: the destination's new frame-list position
};

// Which buffers the modelled hardware reads for the references of
// `params` listed in `problems` (entries check_dpb_entries flagged).
// `capture_pictures` as in check_dpb_entries (before the decode).
HardwareReferencePlan plan_hardware_references(const v4l2_ctrl_h264_decode_params& params,
                                               const std::vector<PictureInfo>& capture_pictures,
                                               size_t target_index, uint64_t timestamp_ns,
                                               ReferenceLookup lookup,
                                               const std::vector<DpbProblem>& problems);

}  // namespace emu

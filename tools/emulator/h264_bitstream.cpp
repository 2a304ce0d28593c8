#include "h264_bitstream.h"

#include <algorithm>

namespace emu::h264 {

const std::array<uint8_t, 16> kZigzag4x4 = {0, 1, 4, 8, 5, 2, 3, 6, 9, 12, 13, 10, 7, 11, 14, 15};

const std::array<uint8_t, 64> kZigzag8x8 = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

const std::array<uint8_t, 16> kDefault4x4Intra = {6,  13, 13, 20, 20, 20, 28, 28,
                                                  28, 28, 32, 32, 32, 37, 37, 42};
const std::array<uint8_t, 16> kDefault4x4Inter = {10, 14, 14, 20, 20, 20, 24, 24,
                                                  24, 24, 27, 27, 27, 30, 30, 34};
const std::array<uint8_t, 64> kDefault8x8Intra = {
    6,  10, 10, 13, 11, 13, 16, 16, 16, 16, 18, 18, 18, 18, 18, 23,
    23, 23, 23, 23, 23, 25, 25, 25, 25, 25, 25, 25, 27, 27, 27, 27,
    27, 27, 27, 27, 29, 29, 29, 29, 29, 29, 29, 31, 31, 31, 31, 31,
    31, 33, 33, 33, 33, 33, 36, 36, 36, 36, 38, 38, 38, 40, 40, 42};
const std::array<uint8_t, 64> kDefault8x8Inter = {
    9,  13, 13, 15, 13, 15, 17, 17, 17, 17, 19, 19, 19, 19, 19, 21,
    21, 21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 24, 24, 24, 24,
    24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25, 27, 27, 27, 27, 27,
    27, 28, 28, 28, 28, 28, 30, 30, 30, 30, 32, 32, 32, 33, 33, 35};

// ---------------------------------------------------------------- BitWriter

void BitWriter::put_bits(uint32_t value, unsigned count) {
  for (unsigned i = count; i-- > 0;) {
    if (bit_count_ % 8 == 0) bytes_.push_back(0);
    if ((value >> i) & 1) bytes_.back() |= static_cast<uint8_t>(0x80u >> (bit_count_ % 8));
    ++bit_count_;
  }
}

void BitWriter::put_ue(uint32_t value) {
  // Exp-Golomb (9.1): leading zeros, then value + 1 in binary.
  const uint64_t code = static_cast<uint64_t>(value) + 1;
  unsigned length = 0;
  while ((code >> length) > 1) ++length;
  put_bits(0, length);
  if (length + 1 > 32) {
    put_bits(static_cast<uint32_t>(code >> 32), length + 1 - 32);
    put_bits(static_cast<uint32_t>(code), 32);
  } else {
    put_bits(static_cast<uint32_t>(code), length + 1);
  }
}

void BitWriter::put_se(int32_t value) {
  // 9.1.1: k > 0 maps to 2k - 1, k <= 0 maps to -2k.
  const int64_t v = value;
  put_ue(static_cast<uint32_t>(v > 0 ? 2 * v - 1 : -2 * v));
}

void BitWriter::put_trailing_bits() {
  put_bits(1, 1);
  while (bit_count_ % 8 != 0) put_bits(0, 1);
}

// ---------------------------------------------------------------- BitReader

uint32_t BitReader::read_bits(unsigned count) {
  uint32_t value = 0;
  for (unsigned i = 0; i < count; ++i) {
    uint32_t bit = 0;
    if (position_ < rbsp_.size() * 8) {
      bit = (rbsp_[position_ / 8] >> (7 - position_ % 8)) & 1;
    } else {
      overrun_ = true;
    }
    ++position_;
    value = (value << 1) | bit;
  }
  return value;
}

uint32_t BitReader::read_ue() {
  unsigned leading_zeros = 0;
  while (!read_flag()) {
    if (overrun_ || ++leading_zeros > 32) {
      overrun_ = true;
      return 0;
    }
  }
  if (leading_zeros == 32) {  // only 2^32 - 1 is representable with 32 zeros
    const uint32_t rest = read_bits(32);
    if (rest != 0) overrun_ = true;
    return 0xffffffffu;
  }
  return ((1u << leading_zeros) - 1) + read_bits(leading_zeros);
}

int32_t BitReader::read_se() {
  const uint32_t code = read_ue();
  const int64_t magnitude = (static_cast<int64_t>(code) + 1) / 2;
  return static_cast<int32_t>(code % 2 ? magnitude : -magnitude);
}

void BitReader::skip_bits(size_t count) {
  position_ += count;
  if (position_ > rbsp_.size() * 8) overrun_ = true;
}

bool BitReader::more_rbsp_data() const {
  // The last 1 bit of the RBSP is the rbsp_stop_one_bit (7.2).
  size_t last = rbsp_.size();
  while (last > 0 && rbsp_[last - 1] == 0) --last;
  if (last == 0) return false;
  const uint8_t byte = rbsp_[last - 1];
  unsigned trailing_zero_bits = 0;
  while (((byte >> trailing_zero_bits) & 1) == 0) ++trailing_zero_bits;
  const size_t stop_bit_position = (last - 1) * 8 + (7 - trailing_zero_bits);
  return position_ < stop_bit_position;
}

// ---------------------------------------------------------- NAL framing

std::vector<uint8_t> escape_rbsp(std::span<const uint8_t> rbsp) {
  std::vector<uint8_t> out;
  out.reserve(rbsp.size() + rbsp.size() / 64 + 4);
  unsigned zeros = 0;
  for (uint8_t byte : rbsp) {
    // 7.4.1: 0x000000..0x000003 must not occur inside a NAL unit.
    if (zeros >= 2 && byte <= 3) {
      out.push_back(3);
      zeros = 0;
    }
    out.push_back(byte);
    zeros = byte == 0 ? zeros + 1 : 0;
  }
  // A payload ending in 0x00 would merge with a following start code.
  if (!out.empty() && out.back() == 0) out.push_back(3);
  return out;
}

std::vector<uint8_t> unescape_rbsp(std::span<const uint8_t> payload) {
  std::vector<uint8_t> out;
  out.reserve(payload.size());
  unsigned zeros = 0;
  for (uint8_t byte : payload) {
    if (zeros >= 2 && byte == 3) {
      zeros = 0;
      continue;
    }
    out.push_back(byte);
    zeros = byte == 0 ? zeros + 1 : 0;
  }
  return out;
}

std::vector<std::span<const uint8_t>> split_annex_b(std::span<const uint8_t> stream) {
  std::vector<std::span<const uint8_t>> units;
  const size_t size = stream.size();
  auto start_code_at = [&](size_t i) {
    return i + 2 < size && stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1;
  };
  size_t i = 0;
  while (i < size && !start_code_at(i)) ++i;
  while (i < size) {
    const size_t begin = i + 3;
    size_t end = begin;
    while (end < size && !start_code_at(end)) ++end;
    size_t next = end;
    // Zero bytes before the next start code are its leading zero_byte or
    // trailing_zero_8bits of this unit (B.2), never NAL payload.
    while (end > begin && stream[end - 1] == 0) --end;
    if (end > begin) units.push_back(stream.subspan(begin, end - begin));
    i = next;
  }
  return units;
}

std::vector<uint8_t> make_nal_unit(uint8_t nal_ref_idc, uint8_t nal_unit_type,
                                   std::span<const uint8_t> rbsp) {
  std::vector<uint8_t> nal;
  nal.push_back(static_cast<uint8_t>(((nal_ref_idc & 3) << 5) | (nal_unit_type & 0x1f)));
  const std::vector<uint8_t> payload = escape_rbsp(rbsp);
  nal.insert(nal.end(), payload.begin(), payload.end());
  return nal;
}

// ------------------------------------------------------- parameter sets

namespace {

bool profile_has_chroma_format(uint8_t profile_idc) {
  v4l2_ctrl_h264_sps probe{};
  probe.profile_idc = profile_idc;
  return V4L2_H264_SPS_HAS_CHROMA_FORMAT(&probe);
}

// scaling_list() of 7.3.2.1.1.1 with every value explicit. `raster` is in
// raster order; the syntax carries zig-zag order.
bool put_scaling_list(BitWriter& writer, const uint8_t* raster, const uint8_t* zigzag,
                      size_t count) {
  int last_scale = 8;
  for (size_t k = 0; k < count; ++k) {
    const int value = raster[zigzag[k]];
    // A value of 0 cannot be coded: nextScale == 0 means "repeat" or "default".
    if (value == 0) return false;
    int delta = value - last_scale;
    if (delta > 127) delta -= 256;
    if (delta < -128) delta += 256;
    writer.put_se(delta);
    last_scale = value;
  }
  return true;
}

}  // namespace

RebuiltRbsp rebuild_sps(const v4l2_ctrl_h264_sps& sps) {
  RebuiltRbsp result;
  BitWriter w;
  w.put_bits(sps.profile_idc, 8);
  // constraint_set0_flag is the first bit written; V4L2 keeps it in bit 0.
  for (unsigned flag = 0; flag < 6; ++flag) w.put_flag((sps.constraint_set_flags >> flag) & 1);
  w.put_bits(0, 2);  // reserved_zero_2bits
  w.put_bits(sps.level_idc, 8);
  w.put_ue(sps.seq_parameter_set_id);
  if (profile_has_chroma_format(sps.profile_idc)) {
    w.put_ue(sps.chroma_format_idc);
    if (sps.chroma_format_idc == 3) w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE);
    w.put_ue(sps.bit_depth_luma_minus8);
    w.put_ue(sps.bit_depth_chroma_minus8);
    w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS);
    w.put_flag(false);  // seq_scaling_matrix_present_flag: the PPS carries the resolved lists
  } else if (sps.chroma_format_idc != 1 || sps.bit_depth_luma_minus8 != 0 ||
             sps.bit_depth_chroma_minus8 != 0 ||
             (sps.flags & V4L2_H264_SPS_FLAG_QPPRIME_Y_ZERO_TRANSFORM_BYPASS)) {
    result.error = "SPS profile_idc " + std::to_string(sps.profile_idc) +
                   " has no chroma_format_idc/bit depth syntax, but the control sets "
                   "non-default values";
    return result;
  }
  w.put_ue(sps.log2_max_frame_num_minus4);
  w.put_ue(sps.pic_order_cnt_type);
  if (sps.pic_order_cnt_type == 0) {
    w.put_ue(sps.log2_max_pic_order_cnt_lsb_minus4);
  } else if (sps.pic_order_cnt_type == 1) {
    w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_DELTA_PIC_ORDER_ALWAYS_ZERO);
    w.put_se(sps.offset_for_non_ref_pic);
    w.put_se(sps.offset_for_top_to_bottom_field);
    w.put_ue(sps.num_ref_frames_in_pic_order_cnt_cycle);
    for (unsigned i = 0; i < sps.num_ref_frames_in_pic_order_cnt_cycle; ++i)
      w.put_se(sps.offset_for_ref_frame[i]);
  }
  w.put_ue(sps.max_num_ref_frames);
  w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_GAPS_IN_FRAME_NUM_VALUE_ALLOWED);
  w.put_ue(sps.pic_width_in_mbs_minus1);
  w.put_ue(sps.pic_height_in_map_units_minus1);
  const bool frame_mbs_only = sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  w.put_flag(frame_mbs_only);
  if (!frame_mbs_only) w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_MB_ADAPTIVE_FRAME_FIELD);
  w.put_flag(sps.flags & V4L2_H264_SPS_FLAG_DIRECT_8X8_INFERENCE);
  w.put_flag(false);  // frame_cropping_flag: the CAPTURE buffer holds the coded size
  w.put_flag(false);  // vui_parameters_present_flag
  w.put_trailing_bits();
  result.rbsp = w.bytes();
  return result;
}

RebuiltRbsp rebuild_pps(const v4l2_ctrl_h264_pps& pps, const v4l2_ctrl_h264_sps& sps,
                        const v4l2_ctrl_h264_scaling_matrix& scaling_matrix, uint8_t pps_id) {
  RebuiltRbsp result;
  if (pps.num_slice_groups_minus1 != 0) {
    // The slice group map syntax is not carried by the V4L2 controls.
    result.error = "PPS num_slice_groups_minus1 " + std::to_string(pps.num_slice_groups_minus1) +
                   " (FMO) cannot be expressed";
    return result;
  }
  BitWriter w;
  w.put_ue(pps_id);
  w.put_ue(sps.seq_parameter_set_id);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT);
  w.put_ue(0);  // num_slice_groups_minus1
  w.put_ue(pps.num_ref_idx_l0_default_active_minus1);
  w.put_ue(pps.num_ref_idx_l1_default_active_minus1);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_WEIGHTED_PRED);
  w.put_bits(pps.weighted_bipred_idc, 2);
  w.put_se(pps.pic_init_qp_minus26);
  w.put_se(pps.pic_init_qs_minus26);
  w.put_se(pps.chroma_qp_index_offset);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_DEBLOCKING_FILTER_CONTROL_PRESENT);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_CONSTRAINED_INTRA_PRED);
  w.put_flag(pps.flags & V4L2_H264_PPS_FLAG_REDUNDANT_PIC_CNT_PRESENT);

  const bool transform_8x8 = pps.flags & V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE;
  const bool scaling = pps.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT;
  const bool second_offset_differs = pps.second_chroma_qp_index_offset != pps.chroma_qp_index_offset;
  // Without the trailing part, second_chroma_qp_index_offset equals
  // chroma_qp_index_offset and transform/scaling are off (7.4.2.2).
  if (transform_8x8 || scaling || second_offset_differs) {
    const bool constrained_low_profile =
        (sps.profile_idc == 66 || sps.profile_idc == 77 || sps.profile_idc == 88) &&
        (sps.constraint_set_flags & 7);
    if (constrained_low_profile) {
      // Such a stream cannot carry the High-profile PPS part, and decoders
      // (libavcodec among them) stop reading the PPS before it.
      result.error = "PPS sets transform_8x8_mode, a scaling matrix or a second chroma QP "
                     "offset under SPS profile_idc " + std::to_string(sps.profile_idc) +
                     " with constraint flags, which cannot signal them";
      return result;
    }
    w.put_flag(transform_8x8);
    w.put_flag(scaling);
    if (scaling) {
      const unsigned lists_8x8 = transform_8x8 ? (sps.chroma_format_idc == 3 ? 6 : 2) : 0;
      for (unsigned i = 0; i < 6 + lists_8x8; ++i) {
        w.put_flag(true);  // pic_scaling_list_present_flag[i]
        const bool ok = i < 6 ? put_scaling_list(w, scaling_matrix.scaling_list_4x4[i],
                                                 kZigzag4x4.data(), 16)
                              : put_scaling_list(w, scaling_matrix.scaling_list_8x8[i - 6],
                                                 kZigzag8x8.data(), 64);
        if (!ok) {
          result.error = "scaling matrix list " + std::to_string(i) +
                         " holds a 0 entry, which H.264 cannot code";
          return result;
        }
      }
    }
    w.put_se(pps.second_chroma_qp_index_offset);
  }
  w.put_trailing_bits();
  result.rbsp = w.bytes();
  return result;
}

std::optional<SliceHeaderStart> parse_slice_header_start(std::span<const uint8_t> nal,
                                                         const v4l2_ctrl_h264_sps& sps,
                                                         std::string* error) {
  if (nal.size() < 2) {
    *error = "slice NAL unit shorter than 2 bytes";
    return std::nullopt;
  }
  SliceHeaderStart header;
  header.nal_ref_idc = (nal[0] >> 5) & 3;
  header.nal_unit_type = nal[0] & 0x1f;
  // The header fields sit in the first few bytes; unescape only those.
  const std::vector<uint8_t> rbsp = unescape_rbsp(nal.subspan(1, std::min<size_t>(nal.size() - 1, 64)));
  BitReader r(rbsp);
  header.first_mb_in_slice = r.read_ue();
  header.slice_type = r.read_ue();
  header.pic_parameter_set_id = r.read_ue();
  if (sps.flags & V4L2_H264_SPS_FLAG_SEPARATE_COLOUR_PLANE) r.skip_bits(2);  // colour_plane_id
  header.frame_num = r.read_bits(sps.log2_max_frame_num_minus4 + 4u);
  if (!(sps.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY)) {
    header.field_pic = r.read_flag();
    if (header.field_pic) header.bottom_field = r.read_flag();
  }
  if (header.nal_unit_type == kNalIdrSlice) header.idr_pic_id = r.read_ue();
  if (r.overrun() || header.slice_type > 9 || header.pic_parameter_set_id > 255) {
    *error = "slice header does not parse with the SPS control";
    return std::nullopt;
  }
  return header;
}

}  // namespace emu::h264

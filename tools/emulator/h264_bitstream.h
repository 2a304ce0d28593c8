// H.264 bitstream helpers for the emulator's decoding backend: an RBSP bit
// writer and reader, emulation prevention, Annex-B splitting, the rebuilding
// of SPS/PPS NAL units from the V4L2 stateless controls, and the start of a
// slice header (the part a decoder needs to place the slice).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <linux/v4l2-controls.h>

namespace emu::h264 {

// NAL unit types used here (H.264 Table 7-1).
enum NalUnitType : uint8_t {
  kNalSlice = 1,
  kNalSliceDataPartitionA = 2,
  kNalSliceDataPartitionC = 4,
  kNalIdrSlice = 5,
  kNalSei = 6,
  kNalSps = 7,
  kNalPps = 8,
  kNalAccessUnitDelimiter = 9,
};

// Scan tables: entry k is the raster index (row * size + column) of the k-th
// coefficient in zig-zag (frame) order. Scaling lists are always transmitted
// in this order, also for field pictures (H.264 8.5.6).
extern const std::array<uint8_t, 16> kZigzag4x4;
extern const std::array<uint8_t, 64> kZigzag8x8;

// Default scaling lists of H.264 Table 7-3 / 7-4, in zig-zag order.
extern const std::array<uint8_t, 16> kDefault4x4Intra;
extern const std::array<uint8_t, 16> kDefault4x4Inter;
extern const std::array<uint8_t, 64> kDefault8x8Intra;
extern const std::array<uint8_t, 64> kDefault8x8Inter;

// Writes an RBSP MSB first (H.264 7.2 descriptors u(n), ue(v), se(v)).
class BitWriter {
 public:
  void put_bits(uint32_t value, unsigned count);  // count <= 32
  void put_flag(bool value) { put_bits(value ? 1 : 0, 1); }
  void put_ue(uint32_t value);
  void put_se(int32_t value);
  // rbsp_trailing_bits(): a stop bit, then zero bits up to a byte boundary.
  void put_trailing_bits();
  size_t bit_count() const { return bit_count_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
  size_t bit_count_ = 0;
};

// Reads an RBSP MSB first. Reading past the end yields zero bits and sets
// overrun(), so a caller checks once after parsing a structure.
class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> rbsp) : rbsp_(rbsp) {}
  uint32_t read_bits(unsigned count);  // count <= 32
  bool read_flag() { return read_bits(1) != 0; }
  uint32_t read_ue();
  int32_t read_se();
  void skip_bits(size_t count);
  // more_rbsp_data() of H.264 7.2: true while bits other than the
  // rbsp_trailing_bits remain.
  bool more_rbsp_data() const;
  size_t position() const { return position_; }
  size_t bits_left() const { return position_ >= rbsp_.size() * 8 ? 0 : rbsp_.size() * 8 - position_; }
  bool overrun() const { return overrun_; }

 private:
  std::span<const uint8_t> rbsp_;
  size_t position_ = 0;
  bool overrun_ = false;
};

// Inserts emulation_prevention_three_byte where H.264 7.4.1 requires it.
std::vector<uint8_t> escape_rbsp(std::span<const uint8_t> rbsp);
// Removes emulation_prevention_three_byte (the NAL payload after the header).
std::vector<uint8_t> unescape_rbsp(std::span<const uint8_t> payload);

// Splits an Annex-B byte stream (B.1) into NAL units, without their start
// codes and without trailing_zero_8bits. Bytes before the first start code
// are ignored.
std::vector<std::span<const uint8_t>> split_annex_b(std::span<const uint8_t> stream);

// A NAL unit (header byte + escaped payload) from an RBSP.
std::vector<uint8_t> make_nal_unit(uint8_t nal_ref_idc, uint8_t nal_unit_type,
                                   std::span<const uint8_t> rbsp);

// Result of rebuilding a parameter set: the RBSP, or why the controls cannot
// be expressed as one.
struct RebuiltRbsp {
  std::vector<uint8_t> rbsp;
  std::string error;
  bool ok() const { return error.empty(); }
};

// seq_parameter_set_rbsp() (7.3.2.1.1) from the SPS control: every syntax
// element the control carries, no VUI, no frame cropping, and
// seq_scaling_matrix_present_flag = 0 (the resolved matrix goes in the PPS).
RebuiltRbsp rebuild_sps(const v4l2_ctrl_h264_sps& sps);

// pic_parameter_set_rbsp() (7.3.2.2) from the PPS control, with
// pic_parameter_set_id = `pps_id` and seq_parameter_set_id taken from `sps`.
// When the PPS flag SCALING_MATRIX_PRESENT is set, `scaling_matrix` (raster
// order, as V4L2 defines it) is written as explicit lists for every list
// index, so no fall-back rule of Table 7-2 applies on the decoder side.
RebuiltRbsp rebuild_pps(const v4l2_ctrl_h264_pps& pps, const v4l2_ctrl_h264_sps& sps,
                        const v4l2_ctrl_h264_scaling_matrix& scaling_matrix, uint8_t pps_id);

// The slice header fields up to idr_pic_id (7.3.3), which need only the SPS.
struct SliceHeaderStart {
  uint8_t nal_unit_type = 0;
  uint8_t nal_ref_idc = 0;
  uint32_t first_mb_in_slice = 0;
  uint32_t slice_type = 0;  // 0..9 as coded
  uint32_t pic_parameter_set_id = 0;
  uint32_t frame_num = 0;
  bool field_pic = false;
  bool bottom_field = false;
  uint32_t idr_pic_id = 0;
};

// Parses a slice NAL unit (header byte included, start code excluded).
std::optional<SliceHeaderStart> parse_slice_header_start(std::span<const uint8_t> nal,
                                                         const v4l2_ctrl_h264_sps& sps,
                                                         std::string* error);

}  // namespace emu::h264

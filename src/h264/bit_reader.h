// Bit reader over an H.264 NAL unit that removes emulation-prevention bytes
// (ITU-T H.264 7.4.1: 0x000003 -> 0x0000) on the fly, so positions count RBSP
// bits, which is how the V4L2 H.264 controls count their bit sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace v4l2va::h264 {

class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> escaped_bytes) : bytes_(escaped_bytes) {}

  // All reads are sticky on failure: after the data runs out (or an
  // exp-Golomb code is longer than 32 bits) ok() turns false and every
  // further read returns 0. Callers check ok() at the points that matter.
  uint32_t read_bits(unsigned count);  // count <= 32
  bool read_flag() { return read_bits(1) != 0; }
  uint32_t read_ue();  // ue(v), 9.1
  int32_t read_se();   // se(v), 9.1.1
  void skip_bits(size_t count);

  bool ok() const { return ok_; }
  // RBSP bits consumed so far (emulation-prevention bytes not counted).
  size_t bit_position() const { return rbsp_bits_consumed_; }
  // Emulation-prevention bytes skipped so far.
  size_t emulation_prevention_bytes() const { return emulation_prevention_bytes_; }
  // Whether any bit is left to read.
  bool has_more_bits() const { return bits_in_current_ > 0 || next_index_ < bytes_.size(); }

 private:
  bool load_next_byte();

  std::span<const uint8_t> bytes_;
  size_t next_index_ = 0;        // next escaped byte to load
  unsigned zero_run_ = 0;        // consecutive 0x00 bytes just loaded
  uint8_t current_ = 0;          // RBSP byte being consumed
  unsigned bits_in_current_ = 0; // bits of current_ not yet consumed
  size_t rbsp_bits_consumed_ = 0;
  size_t emulation_prevention_bytes_ = 0;
  bool ok_ = true;
};

}  // namespace v4l2va::h264

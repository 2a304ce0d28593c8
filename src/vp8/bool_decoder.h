// The boolean entropy decoder of VP8 (RFC 6386, section 7), which VP9 also
// uses for its compressed header (VP9 bitstream spec, 9.2). Reads past the
// end of its data as zeros and says so, so a truncated header is an error
// the caller reports, never a read out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace v4l2va::vpx {

class BoolDecoder {
 public:
  BoolDecoder(const uint8_t* data, size_t size);

  bool read_bool(uint8_t probability);
  bool read_flag() { return read_bool(128); }
  // An n-bit unsigned literal, most significant bit first (RFC 6386 8.1 L(n)).
  uint32_t read_literal(unsigned bits);
  // A magnitude of `bits` bits followed by a sign flag (RFC 6386 9.3, 9.6).
  int32_t read_signed(unsigned bits);

  // Whether a read went past the data.
  bool overrun() const { return overrun_; }
  // Bytes of the data the decoder has loaded into its window.
  size_t bytes_consumed() const { return position_; }

 private:
  uint8_t next_byte();

  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  uint32_t value_ = 0;  // two bytes of window, the "value" of RFC 6386 7.3
  uint32_t range_ = 255;
  unsigned bit_count_ = 0;
  bool overrun_ = false;
};

}  // namespace v4l2va::vpx

#include "bit_reader.h"

namespace v4l2va::h264 {

bool BitReader::load_next_byte() {
  if (next_index_ >= bytes_.size()) return false;
  // H.264 7.4.1: within a NAL unit, 0x03 following two 0x00 bytes is an
  // emulation_prevention_three_byte and is not part of the RBSP.
  if (zero_run_ >= 2 && bytes_[next_index_] == 0x03) {
    ++next_index_;
    ++emulation_prevention_bytes_;
    zero_run_ = 0;
    if (next_index_ >= bytes_.size()) return false;
  }
  current_ = bytes_[next_index_++];
  zero_run_ = current_ == 0 ? zero_run_ + 1 : 0;
  bits_in_current_ = 8;
  return true;
}

uint32_t BitReader::read_bits(unsigned count) {
  if (!ok_ || count > 32) {
    ok_ = false;
    return 0;
  }
  uint32_t value = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (bits_in_current_ == 0 && !load_next_byte()) {
      ok_ = false;
      return 0;
    }
    --bits_in_current_;
    value = (value << 1) | ((current_ >> bits_in_current_) & 1u);
    ++rbsp_bits_consumed_;
  }
  return value;
}

void BitReader::skip_bits(size_t count) {
  for (size_t i = 0; i < count && ok_; ++i) read_bits(1);
}

uint32_t BitReader::read_ue() {
  unsigned leading_zeros = 0;
  while (ok_ && read_bits(1) == 0) {
    if (!ok_) return 0;
    // A codeNum beyond 2^32-2 cannot occur in a conforming stream (9.1).
    if (++leading_zeros > 31) {
      ok_ = false;
      return 0;
    }
  }
  if (!ok_) return 0;
  const uint64_t suffix = read_bits(leading_zeros);
  if (!ok_) return 0;
  return static_cast<uint32_t>((uint64_t{1} << leading_zeros) - 1 + suffix);
}

int32_t BitReader::read_se() {
  const uint32_t code = read_ue();
  // 9.1.1, Table 9-3: codeNum k maps to (-1)^(k+1) * Ceil(k / 2).
  const int64_t magnitude = (static_cast<int64_t>(code) + 1) / 2;
  return static_cast<int32_t>((code & 1u) ? magnitude : -magnitude);
}

}  // namespace v4l2va::h264

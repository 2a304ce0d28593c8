// Test helper: writes H.264 syntax elements MSB first and produces an
// escaped NAL unit (emulation-prevention bytes inserted as 7.4.1 requires).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace v4l2va::h264::test {

class BitWriter {
 public:
  void bits(uint64_t value, unsigned count) {
    for (unsigned i = count; i-- > 0;) push((value >> i) & 1u);
  }
  void flag(bool value) { push(value ? 1 : 0); }
  // ue(v): codeNum = value, written as leadingZeros 0s, a 1, then the
  // leadingZeros low bits of value + 1 (9.1).
  void ue(uint32_t value) {
    const uint64_t code = uint64_t{value} + 1;
    unsigned length = 0;
    while ((code >> length) > 1) ++length;
    bits(0, length);
    bits(code, length + 1);
  }
  void se(int32_t value) {
    // 9.1.1: positive k -> 2k - 1, non-positive k -> -2k.
    ue(value > 0 ? static_cast<uint32_t>(2 * int64_t{value} - 1) : static_cast<uint32_t>(-2 * int64_t{value}));
  }
  size_t bit_count() const { return bit_count_; }

  // rbsp_trailing_bits(): a 1 then zeros to the byte boundary.
  void trailing_bits() {
    push(1);
    while (bit_count_ % 8 != 0) push(0);
  }
  void bytes(std::initializer_list<uint8_t> values) {
    for (uint8_t value : values) bits(value, 8);
  }

  const std::vector<uint8_t>& rbsp() const { return rbsp_; }

  // The NAL unit as transmitted: 0x03 inserted after two zero bytes when
  // the next byte is 0x00..0x03.
  std::vector<uint8_t> escaped() const {
    std::vector<uint8_t> out;
    unsigned zeros = 0;
    for (uint8_t byte : rbsp_) {
      if (zeros >= 2 && byte <= 3) {
        out.push_back(3);
        zeros = 0;
      }
      out.push_back(byte);
      zeros = byte == 0 ? zeros + 1 : 0;
    }
    return out;
  }

 private:
  void push(unsigned bit) {
    if (bit_count_ % 8 == 0) rbsp_.push_back(0);
    if (bit) rbsp_.back() |= static_cast<uint8_t>(0x80u >> (bit_count_ % 8));
    ++bit_count_;
  }

  std::vector<uint8_t> rbsp_;
  size_t bit_count_ = 0;
};

}  // namespace v4l2va::h264::test

// A boolean entropy encoder (RFC 6386, section 7.3, "the encoder"), written
// for the tests: headers built with it are what the parser must read back.
#pragma once

#include <cstdint>
#include <vector>

namespace vp8_test {

class BoolEncoder {
 public:
  void write_bool(bool bit, uint8_t probability) {
    const uint32_t split = 1 + (((range_ - 1) * probability) >> 8);
    if (bit) {
      bottom_ += split;
      range_ -= split;
    } else {
      range_ = split;
    }
    while (range_ < 128) {
      range_ <<= 1;
      if (bottom_ & (1u << 31)) carry();
      bottom_ <<= 1;
      if (!--bit_count_) {
        bytes_.push_back(static_cast<uint8_t>(bottom_ >> 24));
        bottom_ &= (1 << 24) - 1;
        bit_count_ = 8;
      }
    }
  }
  void write_flag(bool bit) { write_bool(bit, 128); }
  void write_literal(uint32_t value, unsigned bits) {
    while (bits--) write_flag((value >> bits) & 1);
  }
  // A magnitude then a sign (RFC 6386 9.3).
  void write_signed(int32_t value, unsigned bits) {
    write_literal(static_cast<uint32_t>(value < 0 ? -value : value), bits);
    write_flag(value < 0);
  }
  // A flag, then the signed value when it is not zero.
  void write_optional_signed(int32_t value, unsigned bits) {
    write_flag(value != 0);
    if (value) write_signed(value, bits);
  }
  std::vector<uint8_t> finish() {
    for (int i = 0; i < 32; ++i) write_flag(false);  // flush the window
    return bytes_;
  }

 private:
  void carry() {
    for (size_t i = bytes_.size(); i-- > 0;) {
      if (bytes_[i] != 0xff) {
        ++bytes_[i];
        return;
      }
      bytes_[i] = 0;
    }
  }
  std::vector<uint8_t> bytes_;
  uint32_t range_ = 255;
  uint32_t bottom_ = 0;
  int bit_count_ = 24;
};

}  // namespace vp8_test

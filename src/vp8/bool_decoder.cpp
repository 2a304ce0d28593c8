#include "vp8/bool_decoder.h"

namespace v4l2va::vpx {

BoolDecoder::BoolDecoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
  // RFC 6386 7.3: the value starts as the first two bytes, big-endian.
  value_ = (uint32_t{next_byte()} << 8) | next_byte();
}

uint8_t BoolDecoder::next_byte() {
  if (position_ < size_) return data_[position_++];
  overrun_ = true;
  return 0;
}

bool BoolDecoder::read_bool(uint8_t probability) {
  const uint32_t split = 1 + (((range_ - 1) * probability) >> 8);
  const uint32_t big_split = split << 8;
  bool bit;
  if (value_ >= big_split) {
    bit = true;
    range_ -= split;
    value_ -= big_split;
  } else {
    bit = false;
    range_ = split;
  }
  while (range_ < 128) {
    value_ <<= 1;
    range_ <<= 1;
    if (++bit_count_ == 8) {
      bit_count_ = 0;
      value_ |= next_byte();
    }
  }
  return bit;
}

uint32_t BoolDecoder::read_literal(unsigned bits) {
  uint32_t v = 0;
  while (bits--) v = (v << 1) | (read_flag() ? 1u : 0u);
  return v;
}

int32_t BoolDecoder::read_signed(unsigned bits) {
  const int32_t magnitude = static_cast<int32_t>(read_literal(bits));
  return read_flag() ? -magnitude : magnitude;
}

}  // namespace v4l2va::vpx

// The VP8 bool decoder and frame-header parser against headers written with
// the RFC 6386 encoder (bool_encoder.h).
#include <gtest/gtest.h>

#include <random>

#include "bool_encoder.h"
#include "vp8/bool_decoder.h"
#include "vp8/frame_header.h"

namespace v4l2va::vp8 {
namespace {

using vp8_test::BoolEncoder;

TEST(BoolDecoder, ReadsBackWhatTheEncoderWrote) {
  std::mt19937 random(7);
  std::vector<std::pair<bool, uint8_t>> symbols;
  BoolEncoder encoder;
  for (int i = 0; i < 5000; ++i) {
    const uint8_t probability = static_cast<uint8_t>(1 + random() % 255);
    const bool bit = (random() % 256) >= probability;  // biased as the probability says
    symbols.emplace_back(bit, probability);
    encoder.write_bool(bit, probability);
  }
  const std::vector<uint8_t> bytes = encoder.finish();
  vpx::BoolDecoder decoder(bytes.data(), bytes.size());
  for (size_t i = 0; i < symbols.size(); ++i) ASSERT_EQ(decoder.read_bool(symbols[i].second), symbols[i].first) << i;
  EXPECT_FALSE(decoder.overrun());
}

TEST(BoolDecoder, ReadingPastTheEndIsReportedNotRead) {
  const uint8_t one_byte[1] = {0x80};
  vpx::BoolDecoder decoder(one_byte, 1);
  decoder.read_literal(32);
  EXPECT_TRUE(decoder.overrun());
}

TEST(UncompressedChunk, KeyFrameRoundTrips) {
  UncompressedChunk chunk;
  chunk.key_frame = true;
  chunk.version = 1;
  chunk.show_frame = true;
  chunk.first_part_size = 12345;
  chunk.width = 171;
  chunk.height = 97;
  chunk.horizontal_scale = 2;
  chunk.vertical_scale = 1;
  uint8_t bytes[10];
  ASSERT_EQ(write_uncompressed_chunk(chunk, bytes), 10u);
  EXPECT_EQ(bytes[3], 0x9d);  // start code (RFC 6386 9.1)
  std::optional<UncompressedChunk> parsed = parse_uncompressed_chunk(bytes, 10);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->key_frame);
  EXPECT_EQ(parsed->version, 1);
  EXPECT_TRUE(parsed->show_frame);
  EXPECT_EQ(parsed->first_part_size, 12345u);
  EXPECT_EQ(parsed->width, 171);
  EXPECT_EQ(parsed->height, 97);
  EXPECT_EQ(parsed->horizontal_scale, 2);
  EXPECT_EQ(parsed->vertical_scale, 1);
}

TEST(UncompressedChunk, InterFrameIsThreeBytesAndBadStartCodesAreRefused) {
  UncompressedChunk chunk;
  chunk.first_part_size = 77;
  uint8_t bytes[10] = {};
  ASSERT_EQ(write_uncompressed_chunk(chunk, bytes), 3u);
  std::optional<UncompressedChunk> parsed = parse_uncompressed_chunk(bytes, 3);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->key_frame);
  EXPECT_FALSE(parsed->show_frame);
  EXPECT_EQ(parsed->first_part_size, 77u);
  const uint8_t key_without_start_code[10] = {0x00, 0x01, 0x00, 0x9d, 0x01, 0x2b, 16, 0, 16, 0};
  EXPECT_FALSE(parse_uncompressed_chunk(key_without_start_code, 10));
}

// What a frame header says, for the encoder below.
struct HeaderSpec {
  bool key = true;
  bool segmentation = false, update_map = false, update_data = false, absolute = false;
  int quant[4] = {}, lf[4] = {};
  int probs[3] = {255, 255, 255};
  bool simple = false;
  int level = 0, sharpness = 0;
  bool adjust = false, delta_update = false;
  int ref_delta[4] = {}, mode_delta[4] = {};  // 0: not sent
  int log2_parts = 0;
  int y_ac = 0, deltas[5] = {};
  bool refresh_golden = false, refresh_alt = false;
  int copy_golden = 0, copy_alt = 0;
  bool bias_golden = false, bias_alt = false, refresh_probs = true, refresh_last = true;
};

std::vector<uint8_t> encode(const HeaderSpec& h) {
  BoolEncoder e;
  if (h.key) e.write_literal(0, 2);  // color_space, clamping_type
  e.write_flag(h.segmentation);
  if (h.segmentation) {
    e.write_flag(h.update_map);
    e.write_flag(h.update_data);
    if (h.update_data) {
      e.write_flag(h.absolute);
      for (int q : h.quant) e.write_optional_signed(q, 7);
      for (int l : h.lf) e.write_optional_signed(l, 6);
    }
    if (h.update_map)
      for (int p : h.probs) {
        e.write_flag(p != 255);
        if (p != 255) e.write_literal(p, 8);
      }
  }
  e.write_flag(h.simple);
  e.write_literal(h.level, 6);
  e.write_literal(h.sharpness, 3);
  e.write_flag(h.adjust);
  if (h.adjust) {
    e.write_flag(h.delta_update);
    if (h.delta_update) {
      for (int d : h.ref_delta) e.write_optional_signed(d, 6);
      for (int d : h.mode_delta) e.write_optional_signed(d, 6);
    }
  }
  e.write_literal(h.log2_parts, 2);
  e.write_literal(h.y_ac, 7);
  for (int d : h.deltas) e.write_optional_signed(d, 4);
  if (h.key) {
    e.write_flag(h.refresh_probs);
  } else {
    e.write_flag(h.refresh_golden);
    e.write_flag(h.refresh_alt);
    if (!h.refresh_golden) e.write_literal(h.copy_golden, 2);
    if (!h.refresh_alt) e.write_literal(h.copy_alt, 2);
    e.write_flag(h.bias_golden);
    e.write_flag(h.bias_alt);
    e.write_flag(h.refresh_probs);
    e.write_flag(h.refresh_last);
  }
  return e.finish();
}

TEST(FrameHeader, KeyFrameWithSegmentationFiltersAndQuantisers) {
  HeaderSpec h;
  h.segmentation = h.update_map = h.update_data = h.absolute = true;
  h.quant[0] = 10, h.quant[1] = -20, h.quant[2] = 127, h.quant[3] = 0;
  h.lf[0] = -63, h.lf[1] = 5;
  h.probs[0] = 1, h.probs[2] = 200;
  h.simple = true, h.level = 40, h.sharpness = 6;
  h.adjust = h.delta_update = true;
  h.ref_delta[0] = 2, h.ref_delta[3] = -2, h.mode_delta[1] = 4;
  h.log2_parts = 3;
  h.y_ac = 100, h.deltas[0] = -15, h.deltas[4] = 15;
  const std::vector<uint8_t> bytes = encode(h);
  PersistentState state;
  HeaderStart out;
  std::string error;
  ASSERT_TRUE(parse_header_start(bytes.data(), bytes.size(), true, state, out, error)) << error;
  EXPECT_TRUE(out.segmentation_enabled && out.update_segment_map && out.update_segment_data);
  EXPECT_TRUE(out.state.segment_absolute);
  EXPECT_EQ(out.state.segment_quant[0], 10);
  EXPECT_EQ(out.state.segment_quant[1], -20);
  EXPECT_EQ(out.state.segment_quant[2], 127);
  EXPECT_EQ(out.state.segment_lf[0], -63);
  EXPECT_EQ(out.state.segment_lf[1], 5);
  EXPECT_EQ(out.segment_probs[0], 1);
  EXPECT_EQ(out.segment_probs[1], 255);
  EXPECT_EQ(out.segment_probs[2], 200);
  EXPECT_TRUE(out.filter_simple);
  EXPECT_EQ(out.filter_level, 40);
  EXPECT_EQ(out.sharpness, 6);
  EXPECT_TRUE(out.lf_adjust_enabled && out.lf_delta_update);
  EXPECT_EQ(out.state.ref_lf_delta[0], 2);
  EXPECT_EQ(out.state.ref_lf_delta[3], -2);
  EXPECT_EQ(out.state.mode_lf_delta[1], 4);
  EXPECT_EQ(out.log2_partitions, 3);
  EXPECT_EQ(out.y_ac_qi, 100);
  EXPECT_EQ(out.y_dc_delta, -15);
  EXPECT_EQ(out.uv_ac_delta, 15);
  EXPECT_TRUE(out.refresh_golden && out.refresh_alt && out.refresh_last);
  // The state moved on with the frame.
  EXPECT_EQ(state.segment_quant[1], -20);
}

TEST(FrameHeader, InterFrameKeepsDeltasNotSentAndKeyFramesResetThem) {
  PersistentState state;
  HeaderStart out;
  std::string error;
  HeaderSpec key;
  key.segmentation = key.update_data = true;
  key.quant[2] = -7;
  key.adjust = key.delta_update = true;
  key.ref_delta[1] = 3, key.mode_delta[2] = -5;
  std::vector<uint8_t> bytes = encode(key);
  ASSERT_TRUE(parse_header_start(bytes.data(), bytes.size(), true, state, out, error)) << error;

  HeaderSpec inter;
  inter.key = false;
  inter.segmentation = true;  // no update: the features stay
  inter.adjust = inter.delta_update = true;
  inter.ref_delta[0] = 6;  // only this delta is sent
  inter.copy_golden = 1, inter.copy_alt = 2, inter.bias_alt = true, inter.refresh_last = false;
  bytes = encode(inter);
  ASSERT_TRUE(parse_header_start(bytes.data(), bytes.size(), false, state, out, error)) << error;
  EXPECT_EQ(out.state.segment_quant[2], -7);
  EXPECT_FALSE(out.state.segment_absolute);
  EXPECT_EQ(out.state.ref_lf_delta[0], 6);
  EXPECT_EQ(out.state.ref_lf_delta[1], 3);
  EXPECT_EQ(out.state.mode_lf_delta[2], -5);
  EXPECT_EQ(out.copy_to_golden, 1);
  EXPECT_EQ(out.copy_to_alt, 2);
  EXPECT_FALSE(out.sign_bias_golden);
  EXPECT_TRUE(out.sign_bias_alt);
  EXPECT_FALSE(out.refresh_last);

  HeaderSpec plain_key;  // resets features and deltas (libvpx vp8_decode_frame)
  bytes = encode(plain_key);
  ASSERT_TRUE(parse_header_start(bytes.data(), bytes.size(), true, state, out, error)) << error;
  EXPECT_EQ(out.state.segment_quant[2], 0);
  EXPECT_EQ(out.state.ref_lf_delta[1], 0);
  EXPECT_EQ(out.state.mode_lf_delta[2], 0);
}

TEST(FrameHeader, TruncatedPartitionFailsAndLeavesTheStateAlone) {
  HeaderSpec h;
  h.segmentation = h.update_data = true;
  h.quant[0] = 9;
  const std::vector<uint8_t> bytes = encode(h);
  PersistentState state;
  state.segment_quant[0] = 42;
  HeaderStart out;
  std::string error;
  EXPECT_FALSE(parse_header_start(bytes.data(), 2, true, state, out, error));
  EXPECT_NE(error.find("ends inside the frame header"), std::string::npos) << error;
  EXPECT_EQ(state.segment_quant[0], 42);
}

}  // namespace
}  // namespace v4l2va::vp8

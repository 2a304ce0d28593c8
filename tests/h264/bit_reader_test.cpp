#include "bit_reader.h"

#include <gtest/gtest.h>

#include <vector>

#include "bit_writer.h"

namespace v4l2va::h264 {
namespace {

using test::BitWriter;

TEST(BitReader, ReadsBitsMsbFirstAcrossBytes) {
  const std::vector<uint8_t> data{0b10110010, 0b01111111, 0x80};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(1), 1u);
  EXPECT_EQ(reader.read_bits(3), 0b011u);
  EXPECT_EQ(reader.read_bits(8), 0b00100111u);
  EXPECT_EQ(reader.bit_position(), 12u);
  EXPECT_EQ(reader.read_bits(12), 0b111110000000u);
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.bit_position(), 24u);
  EXPECT_FALSE(reader.has_more_bits());
}

TEST(BitReader, Reads32BitsAtOnce) {
  const std::vector<uint8_t> data{0xde, 0xad, 0xbe, 0xef};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(32), 0xdeadbeefu);
  EXPECT_TRUE(reader.ok());
}

TEST(BitReader, RemovesEmulationPreventionBytes) {
  // RBSP 00 00 01 FF is transmitted as 00 00 03 01 FF.
  const std::vector<uint8_t> data{0x00, 0x00, 0x03, 0x01, 0xff};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(24), 0x000001u);
  EXPECT_EQ(reader.read_bits(8), 0xffu);
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.bit_position(), 32u);  // RBSP bits: the 0x03 is not counted
  EXPECT_EQ(reader.emulation_prevention_bytes(), 1u);
}

TEST(BitReader, RemovesConsecutiveEmulationPreventionBytes) {
  // RBSP 00 00 00 00 00 is transmitted as 00 00 03 00 00 03 00.
  const std::vector<uint8_t> data{0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(32), 0u);
  EXPECT_EQ(reader.read_bits(8), 0u);
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.emulation_prevention_bytes(), 2u);
  EXPECT_FALSE(reader.has_more_bits());
}

TEST(BitReader, KeepsThreeThatIsNotAfterTwoZeros) {
  const std::vector<uint8_t> data{0x00, 0x03, 0x00, 0x03};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(32), 0x00030003u);
  EXPECT_EQ(reader.emulation_prevention_bytes(), 0u);
}

TEST(BitReader, ZeroRunRestartsAfterEmulationPrevention) {
  // 00 00 03 00 03: the second 03 follows a single zero, so it is data.
  const std::vector<uint8_t> data{0x00, 0x00, 0x03, 0x00, 0x03};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(32), 0x00000003u);
  EXPECT_EQ(reader.emulation_prevention_bytes(), 1u);
}

TEST(BitReader, MatchesWriterEscaping) {
  BitWriter writer;
  writer.bits(0, 16);
  writer.bits(2, 8);
  writer.bits(0, 20);
  writer.bits(0x3ff, 10);
  writer.trailing_bits();
  const std::vector<uint8_t> escaped = writer.escaped();
  ASSERT_GT(escaped.size(), writer.rbsp().size());
  BitReader reader(escaped);
  for (uint8_t expected : writer.rbsp()) EXPECT_EQ(reader.read_bits(8), expected);
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.emulation_prevention_bytes(), escaped.size() - writer.rbsp().size());
}

TEST(BitReader, FailureIsSticky) {
  const std::vector<uint8_t> data{0xff};
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(6), 0x3fu);
  EXPECT_EQ(reader.read_bits(3), 0u);  // only 2 bits left
  EXPECT_FALSE(reader.ok());
  EXPECT_EQ(reader.read_bits(1), 0u);
  EXPECT_FALSE(reader.ok());
}

TEST(BitReader, RejectsMoreThan32Bits) {
  const std::vector<uint8_t> data(8, 0xff);
  BitReader reader(data);
  EXPECT_EQ(reader.read_bits(33), 0u);
  EXPECT_FALSE(reader.ok());
}

TEST(BitReader, EmptyInputFails) {
  BitReader reader(std::span<const uint8_t>{});
  EXPECT_FALSE(reader.has_more_bits());
  EXPECT_EQ(reader.read_ue(), 0u);
  EXPECT_FALSE(reader.ok());
}

// Table 9-2: bit strings and codeNum.
TEST(ExpGolomb, DecodesTable9_2) {
  // 1 | 010 | 011 | 00100 | 00111 | 0001000 | 0001110 -> 0..3, 6, 7, 13
  BitWriter writer;
  writer.bits(0b1, 1);
  writer.bits(0b010, 3);
  writer.bits(0b011, 3);
  writer.bits(0b00100, 5);
  writer.bits(0b00111, 5);
  writer.bits(0b0001000, 7);
  writer.bits(0b0001110, 7);
  writer.trailing_bits();
  const std::vector<uint8_t> escaped = writer.escaped();
  BitReader reader(escaped);
  EXPECT_EQ(reader.read_ue(), 0u);
  EXPECT_EQ(reader.read_ue(), 1u);
  EXPECT_EQ(reader.read_ue(), 2u);
  EXPECT_EQ(reader.read_ue(), 3u);
  EXPECT_EQ(reader.read_ue(), 6u);
  EXPECT_EQ(reader.read_ue(), 7u);
  EXPECT_EQ(reader.read_ue(), 13u);
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.bit_position(), 31u);
}

// Table 9-3: codeNum -> se(v).
TEST(ExpGolomb, DecodesSignedMapping) {
  BitWriter writer;
  for (uint32_t code : {0u, 1u, 2u, 3u, 4u, 5u, 6u}) writer.ue(code);
  writer.trailing_bits();
  const std::vector<uint8_t> escaped = writer.escaped();
  BitReader reader(escaped);
  for (int32_t expected : {0, 1, -1, 2, -2, 3, -3}) EXPECT_EQ(reader.read_se(), expected);
  EXPECT_TRUE(reader.ok());
}

TEST(ExpGolomb, RoundTripsLargeValues) {
  BitWriter writer;
  writer.ue(0xfffffffeu);  // the largest codeNum (31 leading zeros)
  writer.se(-65536);
  writer.se(65535);
  writer.ue(65535);
  writer.trailing_bits();
  const std::vector<uint8_t> escaped = writer.escaped();
  BitReader reader(escaped);
  EXPECT_EQ(reader.read_ue(), 0xfffffffeu);
  EXPECT_EQ(reader.read_se(), -65536);
  EXPECT_EQ(reader.read_se(), 65535);
  EXPECT_EQ(reader.read_ue(), 65535u);
  EXPECT_TRUE(reader.ok());
}

TEST(ExpGolomb, RejectsCodesLongerThan32Bits) {
  // 32 leading zeros: not a valid ue(v) for 32-bit values (9.1).
  BitWriter writer;
  writer.bits(0, 32);
  writer.bits(1, 1);
  writer.bits(0, 32);
  writer.trailing_bits();
  const std::vector<uint8_t> escaped = writer.escaped();
  BitReader long_code(escaped);
  EXPECT_EQ(long_code.read_ue(), 0u);
  EXPECT_FALSE(long_code.ok());
}

TEST(ExpGolomb, TruncatedCodeFails) {
  const std::vector<uint8_t> data{0x00, 0x01};  // 15 zeros, a 1, no suffix bits
  BitReader reader(data);
  EXPECT_EQ(reader.read_ue(), 0u);
  EXPECT_FALSE(reader.ok());
}

}  // namespace
}  // namespace v4l2va::h264

// Unit tests of the backend's bitstream layer: bit writer/reader, NAL
// framing, scan tables, and the SPS/PPS rebuild from V4L2 controls checked
// against the parameter sets of the real conformance streams.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "backend_stream_parser.h"
#include "h264_bitstream.h"

namespace emu::h264 {
namespace {

std::string bit_string(const BitWriter& writer) {
  std::string bits;
  for (size_t i = 0; i < writer.bit_count(); ++i)
    bits += ((writer.bytes()[i / 8] >> (7 - i % 8)) & 1) ? '1' : '0';
  return bits;
}

TEST(BackendBitWriter, ExpGolombCodesMatchTable9_2) {
  // H.264 Table 9-2 / 9-3 examples.
  const std::pair<uint32_t, const char*> ue_cases[] = {
      {0, "1"}, {1, "010"}, {2, "011"}, {3, "00100"}, {6, "00111"}, {7, "0001000"}};
  for (const auto& [value, bits] : ue_cases) {
    BitWriter w;
    w.put_ue(value);
    EXPECT_EQ(bit_string(w), bits) << "ue(" << value << ")";
  }
  const std::pair<int32_t, const char*> se_cases[] = {
      {0, "1"}, {1, "010"}, {-1, "011"}, {2, "00100"}, {-2, "00101"}};
  for (const auto& [value, bits] : se_cases) {
    BitWriter w;
    w.put_se(value);
    EXPECT_EQ(bit_string(w), bits) << "se(" << value << ")";
  }
}

TEST(BackendBitWriter, RoundTripThroughReader) {
  const std::vector<uint32_t> unsigned_values = {0, 1, 2, 3, 30, 254, 255, 256, 65535, 1u << 20,
                                                 0x7fffffffu, 0xfffffffeu, 0xffffffffu};
  const std::vector<int32_t> signed_values = {0, 1, -1, 63, -64, 127, -128, 1 << 24, -(1 << 24),
                                              INT32_MAX, INT32_MIN + 1};
  BitWriter w;
  for (uint32_t v : unsigned_values) {
    w.put_ue(v);
    w.put_bits(v & 0x1f, 5);
    w.put_flag(v & 1);
  }
  for (int32_t v : signed_values) w.put_se(v);
  w.put_bits(0xdeadbeef, 32);
  w.put_trailing_bits();
  EXPECT_EQ(w.bit_count() % 8, 0u);

  BitReader r(w.bytes());
  for (uint32_t v : unsigned_values) {
    EXPECT_EQ(r.read_ue(), v);
    EXPECT_EQ(r.read_bits(5), v & 0x1f);
    EXPECT_EQ(r.read_flag(), bool(v & 1));
  }
  for (int32_t v : signed_values) EXPECT_EQ(r.read_se(), v);
  EXPECT_EQ(r.read_bits(32), 0xdeadbeefu);
  EXPECT_FALSE(r.more_rbsp_data());
  EXPECT_FALSE(r.overrun());
  r.read_bits(16);
  EXPECT_TRUE(r.overrun());
}

TEST(BackendBitReader, MoreRbspDataStopsAtStopBit) {
  const std::vector<uint8_t> rbsp = {0b10110000, 0b00000000};  // 1 0 1, stop bit, zeros
  BitReader r(rbsp);
  EXPECT_TRUE(r.more_rbsp_data());
  r.read_bits(3);
  EXPECT_FALSE(r.more_rbsp_data());
}

TEST(BackendNalFraming, EmulationPreventionRoundTrip) {
  const std::vector<uint8_t> rbsp = {0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00,
                                     0x00, 0x03, 0x00, 0x00, 0x04, 0x00, 0x00};
  const std::vector<uint8_t> escaped = escape_rbsp(rbsp);
  const std::vector<uint8_t> expected = {0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00,
                                         0x03, 0x02, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x04,
                                         0x00, 0x00, 0x03};
  EXPECT_EQ(escaped, expected);
  EXPECT_EQ(unescape_rbsp(escaped), rbsp);
  // No start code prefix may appear inside the escaped payload.
  for (size_t i = 0; i + 2 < escaped.size(); ++i)
    EXPECT_FALSE(escaped[i] == 0 && escaped[i + 1] == 0 && escaped[i + 2] <= 2) << "at " << i;
}

TEST(BackendNalFraming, SplitAnnexBHandlesBothStartCodeLengths) {
  const std::vector<uint8_t> stream = {0xff, 0x00, 0x00, 0x00, 0x01, 0x67, 0x42, 0x00, 0x00,
                                       0x01, 0x68, 0xce, 0x00, 0x00, 0x00, 0x00, 0x01, 0x65,
                                       0x88, 0x00, 0x00, 0x03, 0x01, 0x00};
  const auto units = split_annex_b(stream);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(std::vector<uint8_t>(units[0].begin(), units[0].end()), (std::vector<uint8_t>{0x67, 0x42}));
  EXPECT_EQ(std::vector<uint8_t>(units[1].begin(), units[1].end()), (std::vector<uint8_t>{0x68, 0xce}));
  EXPECT_EQ(std::vector<uint8_t>(units[2].begin(), units[2].end()),
            (std::vector<uint8_t>{0x65, 0x88, 0x00, 0x00, 0x03, 0x01}));
}

TEST(BackendNalFraming, MakeNalUnitWritesHeader) {
  const std::vector<uint8_t> rbsp = {0x00, 0x00, 0x01, 0x80};
  const auto nal = make_nal_unit(3, kNalSps, rbsp);
  EXPECT_EQ(nal, (std::vector<uint8_t>{0x67, 0x00, 0x00, 0x03, 0x01, 0x80}));
}

// The zig-zag scans must visit anti-diagonals in order, alternating
// direction, starting to the right (H.264 Figure 8-8 / 8-9 a).
template <size_t N>
void expect_zigzag(const std::array<uint8_t, N * N>& scan) {
  std::set<unsigned> seen(scan.begin(), scan.end());
  EXPECT_EQ(seen.size(), N * N);
  EXPECT_EQ(scan[1], 1u);  // (0,1): second coefficient is to the right of DC
  for (size_t k = 1; k < N * N; ++k) {
    const unsigned row = scan[k] / N, col = scan[k] % N;
    const unsigned prev_row = scan[k - 1] / N, prev_col = scan[k - 1] % N;
    const unsigned diagonal = row + col, prev_diagonal = prev_row + prev_col;
    ASSERT_TRUE(diagonal == prev_diagonal || diagonal == prev_diagonal + 1) << "k=" << k;
    if (diagonal == prev_diagonal) {
      // Odd diagonals run down-left, even ones up-right.
      if (diagonal % 2) EXPECT_EQ(row, prev_row + 1) << "k=" << k;
      else EXPECT_EQ(col, prev_col + 1) << "k=" << k;
    }
  }
}

TEST(BackendScanTables, ZigzagScansFollowTheStandard) {
  expect_zigzag<4>(kZigzag4x4);
  expect_zigzag<8>(kZigzag8x8);
}

TEST(BackendScanTables, DefaultListsAreSymmetricInRasterOrder) {
  // Table 7-3/7-4 matrices are symmetric, which holds only if the lists and
  // the scan agree.
  for (const auto* list : {&kDefault4x4Intra, &kDefault4x4Inter}) {
    std::array<uint8_t, 16> raster{};
    for (size_t k = 0; k < 16; ++k) raster[kZigzag4x4[k]] = (*list)[k];
    for (size_t r = 0; r < 4; ++r)
      for (size_t c = 0; c < 4; ++c) EXPECT_EQ(raster[r * 4 + c], raster[c * 4 + r]);
    for (size_t i = 1; i < 16; ++i) EXPECT_LE((*list)[i - 1], (*list)[i]);
  }
  for (const auto* list : {&kDefault8x8Intra, &kDefault8x8Inter}) {
    std::array<uint8_t, 64> raster{};
    for (size_t k = 0; k < 64; ++k) raster[kZigzag8x8[k]] = (*list)[k];
    for (size_t r = 0; r < 8; ++r)
      for (size_t c = 0; c < 8; ++c) EXPECT_EQ(raster[r * 8 + c], raster[c * 8 + r]);
  }
  EXPECT_EQ(kDefault8x8Intra[63], 42);
  EXPECT_EQ(kDefault8x8Inter[63], 35);
}

std::vector<uint8_t> trimmed(std::vector<uint8_t> rbsp) {
  while (!rbsp.empty() && rbsp.back() == 0) rbsp.pop_back();
  return rbsp;
}

void expect_same_sps(const v4l2_ctrl_h264_sps& a, const v4l2_ctrl_h264_sps& b) {
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0) << "SPS controls differ";
  EXPECT_EQ(a.profile_idc, b.profile_idc);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.pic_height_in_map_units_minus1, b.pic_height_in_map_units_minus1);
}

// Rebuilds every SPS and PPS of every conformance stream from the controls a
// client fills, then reads the rebuilt units back.
TEST(BackendParameterSetRebuild, ConformanceStreamsRoundTrip) {
  size_t sps_checked = 0, sps_bytes_identical = 0, pps_checked = 0, pps_bytes_identical = 0;
  for (const auto& entry : test::read_manifest()) {
    SCOPED_TRACE(entry.name);
    const std::vector<uint8_t> stream = test::read_file(test::conformance_dir() + "/" + entry.file);
    std::map<uint32_t, test::ParsedSps> original_sps;
    for (const auto& nal : split_annex_b(stream)) {
      const uint8_t type = nal[0] & 0x1f;
      if (type != kNalSps && type != kNalPps) continue;
      const std::vector<uint8_t> rbsp = unescape_rbsp(nal.subspan(1));
      if (type == kNalSps) {
        const auto parsed = test::parse_sps(rbsp);
        ASSERT_TRUE(parsed);
        original_sps[parsed->ctrl.seq_parameter_set_id] = *parsed;
        const RebuiltRbsp rebuilt = rebuild_sps(parsed->ctrl);
        ASSERT_TRUE(rebuilt.ok()) << rebuilt.error;
        const auto reparsed = test::parse_sps(rebuilt.rbsp);
        ASSERT_TRUE(reparsed);
        expect_same_sps(reparsed->ctrl, parsed->ctrl);
        EXPECT_FALSE(reparsed->vui_present);
        EXPECT_FALSE(reparsed->seq_scaling_matrix_present);
        ++sps_checked;
        // Without VUI, cropping or SPS lists the rebuilt RBSP is the original.
        if (!parsed->vui_present && !parsed->frame_cropping && !parsed->seq_scaling_matrix_present) {
          EXPECT_EQ(trimmed(rebuilt.rbsp), trimmed(rbsp));
          ++sps_bytes_identical;
        }
        continue;
      }
      const auto parsed = test::parse_pps(rbsp, original_sps);
      ASSERT_TRUE(parsed);
      const test::ParsedSps& sps = original_sps.at(parsed->ctrl.seq_parameter_set_id);
      const v4l2_ctrl_h264_scaling_matrix matrix = test::to_v4l2_matrix(parsed->lists);
      const RebuiltRbsp rebuilt =
          rebuild_pps(parsed->ctrl, sps.ctrl, matrix, parsed->ctrl.pic_parameter_set_id);
      ASSERT_TRUE(rebuilt.ok()) << rebuilt.error;
      // Read it back against the rebuilt SPS (flat SPS lists).
      std::map<uint32_t, test::ParsedSps> rebuilt_sps_map;
      rebuilt_sps_map[sps.ctrl.seq_parameter_set_id] = *test::parse_sps(rebuild_sps(sps.ctrl).rbsp);
      const auto reparsed = test::parse_pps(rebuilt.rbsp, rebuilt_sps_map);
      ASSERT_TRUE(reparsed);
      EXPECT_EQ(std::memcmp(&reparsed->ctrl, &parsed->ctrl, sizeof(parsed->ctrl)), 0) << "PPS controls differ";
      if (parsed->ctrl.flags & V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT) {
        // The lists that apply to the picture survive, including those the
        // original inherited through the Table 7-2 fall-back rules.
        const v4l2_ctrl_h264_scaling_matrix again = test::to_v4l2_matrix(reparsed->lists);
        EXPECT_EQ(std::memcmp(again.scaling_list_4x4, matrix.scaling_list_4x4, sizeof(matrix.scaling_list_4x4)), 0);
        const size_t lists_8x8 = parsed->transform_8x8 ? 2 : 0;
        EXPECT_EQ(std::memcmp(again.scaling_list_8x8, matrix.scaling_list_8x8, lists_8x8 * 64), 0);
      } else if (!parsed->has_extension) {
        EXPECT_EQ(trimmed(rebuilt.rbsp), trimmed(rbsp));
        ++pps_bytes_identical;
      }
      ++pps_checked;
    }
  }
  EXPECT_GE(sps_checked, 50u);
  EXPECT_GE(pps_checked, 50u);
  EXPECT_GT(sps_bytes_identical, 10u);
  EXPECT_GT(pps_bytes_identical, 10u);
  std::printf("SPS rebuilt %zu (%zu byte-identical), PPS rebuilt %zu (%zu byte-identical)\n",
              sps_checked, sps_bytes_identical, pps_checked, pps_bytes_identical);
}

TEST(BackendParameterSetRebuild, RefusesWhatParameterSetsCannotCarry) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 77;
  sps.chroma_format_idc = 1;
  sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  v4l2_ctrl_h264_pps pps{};
  v4l2_ctrl_h264_scaling_matrix matrix;
  std::memset(&matrix, 16, sizeof(matrix));
  EXPECT_TRUE(rebuild_pps(pps, sps, matrix, 0).ok());

  v4l2_ctrl_h264_pps fmo = pps;
  fmo.num_slice_groups_minus1 = 1;
  EXPECT_FALSE(rebuild_pps(fmo, sps, matrix, 0).ok());

  v4l2_ctrl_h264_sps main_with_444 = sps;
  main_with_444.chroma_format_idc = 3;
  EXPECT_FALSE(rebuild_sps(main_with_444).ok());

  v4l2_ctrl_h264_sps constrained_baseline = sps;
  constrained_baseline.profile_idc = 66;
  constrained_baseline.constraint_set_flags = V4L2_H264_SPS_CONSTRAINT_SET1_FLAG;
  v4l2_ctrl_h264_pps transform = pps;
  transform.flags = V4L2_H264_PPS_FLAG_TRANSFORM_8X8_MODE;
  EXPECT_FALSE(rebuild_pps(transform, constrained_baseline, matrix, 0).ok());

  v4l2_ctrl_h264_sps high = sps;
  high.profile_idc = 100;
  v4l2_ctrl_h264_pps scaled = pps;
  scaled.flags = V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT;
  EXPECT_TRUE(rebuild_pps(scaled, high, matrix, 0).ok());
  matrix.scaling_list_4x4[2][5] = 0;
  const RebuiltRbsp zero_entry = rebuild_pps(scaled, high, matrix, 0);
  EXPECT_FALSE(zero_entry.ok());
  EXPECT_NE(zero_entry.error.find("list 2"), std::string::npos) << zero_entry.error;
}

TEST(BackendParameterSetRebuild, PpsIdComesFromTheCaller) {
  v4l2_ctrl_h264_sps sps{};
  sps.profile_idc = 100;
  sps.chroma_format_idc = 1;
  sps.seq_parameter_set_id = 3;
  v4l2_ctrl_h264_pps pps{};
  pps.pic_parameter_set_id = 9;
  pps.seq_parameter_set_id = 7;  // ignored: the PPS must refer to the SPS sent with it
  v4l2_ctrl_h264_scaling_matrix matrix;
  std::memset(&matrix, 16, sizeof(matrix));
  const RebuiltRbsp rebuilt = rebuild_pps(pps, sps, matrix, 4);
  ASSERT_TRUE(rebuilt.ok());
  BitReader r(rebuilt.rbsp);
  EXPECT_EQ(r.read_ue(), 4u);
  EXPECT_EQ(r.read_ue(), 3u);
}

TEST(BackendSliceHeader, StartFieldsMatchTheTestParser) {
  size_t checked = 0;
  for (const char* file : {"streams/HCAFF1_HHI.264", "streams/MIDR_MW_D.264", "streams/FREXT01_JVC_D.264"}) {
    SCOPED_TRACE(file);
    test::StreamReader reader(test::read_file(test::conformance_dir() + "/" + file));
    for (const auto& picture : reader.pictures()) {
      for (const auto& slice : picture.slices) {
        std::string error;
        const auto header = parse_slice_header_start(slice.nal, picture.sps->ctrl, &error);
        ASSERT_TRUE(header) << error;
        EXPECT_EQ(header->first_mb_in_slice, slice.first_mb_in_slice);
        EXPECT_EQ(header->slice_type % 5, slice.slice_type);
        EXPECT_EQ(header->pic_parameter_set_id, slice.pps_id);
        EXPECT_EQ(header->frame_num, slice.frame_num);
        EXPECT_EQ(header->field_pic, slice.field_pic);
        EXPECT_EQ(header->bottom_field, slice.bottom_field);
        EXPECT_EQ(header->idr_pic_id, slice.idr_pic_id);
        EXPECT_EQ(header->nal_ref_idc, slice.nal_ref_idc);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100u);
}

}  // namespace
}  // namespace emu::h264

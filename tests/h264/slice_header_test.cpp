#include "slice_header.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "bit_writer.h"
#include "test_data.h"

namespace v4l2va::h264 {
namespace {

using test::BitWriter;

// Slice data after the header: arbitrary bytes, as macroblock data would be.
void append_slice_data(BitWriter& writer) {
  writer.trailing_bits();
  writer.bytes({0xa5, 0x5a, 0xff});
}

// IDR I slice, POC type 0, CAVLC, deblocking control present. Every bit
// position below is counted by hand from 7.3.1/7.3.3.
TEST(SliceHeader, IdrIntraSlice) {
  SliceHeaderContext context;
  context.log2_max_frame_num_minus4 = 0;  // frame_num: 4 bits
  context.pic_order_cnt_type = 0;
  context.log2_max_pic_order_cnt_lsb_minus4 = 2;  // pic_order_cnt_lsb: 6 bits
  context.deblocking_filter_control_present = true;
  BitWriter w;
  w.bits(0x65, 8);   // forbidden 0, nal_ref_idc 3, type 5           ->  8
  w.ue(0);           // first_mb_in_slice "1"                        ->  9
  w.ue(7);           // slice_type I (7) "0001000"                   -> 16
  w.ue(0);           // pic_parameter_set_id                         -> 17
  w.bits(0, 4);      // frame_num                                    -> 21
  w.ue(3);           // idr_pic_id "00100"                           -> 26
  w.bits(0, 6);      // pic_order_cnt_lsb                            -> 32
  w.flag(false);     // no_output_of_prior_pics_flag                 -> 33
  w.flag(true);      // long_term_reference_flag                     -> 34
  w.se(-3);          // slice_qp_delta "00111"                       -> 39
  w.ue(0);           // disable_deblocking_filter_idc                -> 40
  w.se(2);           // slice_alpha_c0_offset_div2 "00100"           -> 45
  w.se(-1);          // slice_beta_offset_div2 "011"                 -> 48
  append_slice_data(w);

  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(w.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.nal_ref_idc, 3);
  EXPECT_EQ(header.nal_unit_type, 5);
  EXPECT_TRUE(header.is_idr());
  EXPECT_EQ(header.slice_type, kSliceI);
  EXPECT_EQ(header.raw_slice_type, 7);
  EXPECT_EQ(header.idr_pic_id, 3);
  EXPECT_TRUE(header.long_term_reference);
  EXPECT_FALSE(header.no_output_of_prior_pics);
  EXPECT_EQ(header.slice_qp_delta, -3);
  EXPECT_EQ(header.slice_alpha_c0_offset_div2, 2);
  EXPECT_EQ(header.slice_beta_offset_div2, -1);
  EXPECT_EQ(header.pic_order_cnt_bit_size, 6u);
  EXPECT_EQ(header.dec_ref_pic_marking_bit_size, 2u);
  EXPECT_EQ(header.header_bit_size, 48u);
}

// P slice: POC type 1 with both deltas, redundant_pic_cnt, list
// modification, adaptive marking with MMCO 1 and 3, CABAC.
TEST(SliceHeader, PredictedSliceWithPocType1AndMmco) {
  SliceHeaderContext context;
  context.log2_max_frame_num_minus4 = 1;  // 5 bits
  context.pic_order_cnt_type = 1;
  context.delta_pic_order_always_zero = false;
  context.bottom_field_pic_order_in_frame_present = true;
  context.redundant_pic_cnt_present = true;
  context.entropy_coding_mode = true;
  context.num_ref_idx_l0_default_active_minus1 = 2;
  BitWriter w;
  w.bits(0x41, 8);   // nal_ref_idc 2, type 1                        ->  8
  w.ue(5);           // first_mb_in_slice "00110"                    -> 13
  w.ue(0);           // slice_type P                                 -> 14
  w.ue(1);           // pic_parameter_set_id "010"                   -> 17
  w.bits(9, 5);      // frame_num                                    -> 22
  w.se(-4);          // delta_pic_order_cnt[0] "0001001"             -> 29
  w.se(1);           // delta_pic_order_cnt[1] "010"                 -> 32
  w.ue(1);           // redundant_pic_cnt "010"                      -> 35
  w.flag(false);     // num_ref_idx_active_override_flag             -> 36
  w.flag(true);      // ref_pic_list_modification_flag_l0            -> 37
  w.ue(0);           // modification_of_pic_nums_idc 0               -> 38
  w.ue(2);           // abs_diff_pic_num_minus1 "011"                -> 41
  w.ue(2);           // modification_of_pic_nums_idc 2 "011"         -> 44
  w.ue(0);           // long_term_pic_num                            -> 45
  w.ue(3);           // modification_of_pic_nums_idc 3 "00100"       -> 50
  w.flag(true);      // adaptive_ref_pic_marking_mode_flag           -> 51
  w.ue(1);           // mmco 1 "010"                                 -> 54
  w.ue(0);           // difference_of_pic_nums_minus1                -> 55
  w.ue(3);           // mmco 3 "00100"                               -> 60
  w.ue(1);           // difference_of_pic_nums_minus1 "010"          -> 63
  w.ue(0);           // long_term_frame_idx                          -> 64
  w.ue(0);           // mmco 0                                       -> 65
  w.ue(2);           // cabac_init_idc "011"                         -> 68
  w.se(0);           // slice_qp_delta                               -> 69
  append_slice_data(w);

  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(w.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.nal_ref_idc, 2);
  EXPECT_FALSE(header.is_idr());
  EXPECT_EQ(header.first_mb_in_slice, 5u);
  EXPECT_EQ(header.slice_type, kSliceP);
  EXPECT_EQ(header.pic_parameter_set_id, 1);
  EXPECT_EQ(header.frame_num, 9);
  EXPECT_EQ(header.delta_pic_order_cnt[0], -4);
  EXPECT_EQ(header.delta_pic_order_cnt[1], 1);
  EXPECT_EQ(header.redundant_pic_cnt, 1);
  EXPECT_FALSE(header.num_ref_idx_active_override);
  EXPECT_EQ(header.num_ref_idx_l0_active_minus1, 2);  // the PPS default
  EXPECT_TRUE(header.adaptive_ref_pic_marking_mode);
  EXPECT_EQ(header.cabac_init_idc, 2);
  EXPECT_EQ(header.pic_order_cnt_bit_size, 10u);
  EXPECT_EQ(header.dec_ref_pic_marking_bit_size, 15u);
  EXPECT_EQ(header.header_bit_size, 69u);
}

// Bottom-field B slice with explicit weighted bi-prediction and overrides.
TEST(SliceHeader, FieldBSliceWithPredWeightTable) {
  SliceHeaderContext context;
  context.log2_max_frame_num_minus4 = 0;
  context.frame_mbs_only = false;
  context.pic_order_cnt_type = 0;
  context.log2_max_pic_order_cnt_lsb_minus4 = 0;  // 4 bits
  context.bottom_field_pic_order_in_frame_present = true;  // absent for field pictures
  context.weighted_bipred_idc = 1;
  context.deblocking_filter_control_present = true;
  BitWriter w;
  w.bits(0x01, 8);   // nal_ref_idc 0, type 1                        ->   8
  w.ue(0);           // first_mb_in_slice                            ->   9
  w.ue(6);           // slice_type B (6) "00111"                     ->  14
  w.ue(0);           // pic_parameter_set_id                         ->  15
  w.bits(3, 4);      // frame_num                                    ->  19
  w.flag(true);      // field_pic_flag                               ->  20
  w.flag(true);      // bottom_field_flag                            ->  21
  w.bits(5, 4);      // pic_order_cnt_lsb                            ->  25
  w.flag(true);      // direct_spatial_mv_pred_flag                  ->  26
  w.flag(true);      // num_ref_idx_active_override_flag             ->  27
  w.ue(1);           // num_ref_idx_l0_active_minus1 "010"           ->  30
  w.ue(0);           // num_ref_idx_l1_active_minus1                 ->  31
  w.flag(false);     // ref_pic_list_modification_flag_l0            ->  32
  w.flag(false);     // ref_pic_list_modification_flag_l1            ->  33
  w.ue(5);           // luma_log2_weight_denom "00110"               ->  38
  w.ue(3);           // chroma_log2_weight_denom "00100"             ->  43
  w.flag(true);      // l0[0] luma_weight_l0_flag                    ->  44
  w.se(33);          // luma_weight_l0[0] (13 bits)                  ->  57
  w.se(-2);          // luma_offset_l0[0] "00101"                    ->  62
  w.flag(false);     // chroma_weight_l0_flag                        ->  63
  w.flag(false);     // l0[1] luma_weight_l0_flag                    ->  64
  w.flag(true);      // chroma_weight_l0_flag                        ->  65
  w.se(8);           // chroma_weight_l0[1][0] (9 bits)              ->  74
  w.se(0);           // chroma_offset_l0[1][0]                       ->  75
  w.se(-8);          // chroma_weight_l0[1][1] (9 bits)              ->  84
  w.se(1);           // chroma_offset_l0[1][1] "010"                 ->  87
  w.flag(false);     // l1[0] luma_weight_l1_flag                    ->  88
  w.flag(false);     // chroma_weight_l1_flag                        ->  89
  w.se(5);           // slice_qp_delta "0001010"                     ->  96
  w.ue(1);           // disable_deblocking_filter_idc "010"          ->  99
  append_slice_data(w);

  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(w.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.nal_ref_idc, 0);
  EXPECT_EQ(header.slice_type, kSliceB);
  EXPECT_TRUE(header.field_pic);
  EXPECT_TRUE(header.bottom_field);
  EXPECT_EQ(header.pic_order_cnt_lsb, 5);
  EXPECT_EQ(header.delta_pic_order_cnt_bottom, 0);
  EXPECT_TRUE(header.direct_spatial_mv_pred);
  EXPECT_TRUE(header.num_ref_idx_active_override);
  EXPECT_EQ(header.num_ref_idx_l0_active_minus1, 1);
  EXPECT_EQ(header.num_ref_idx_l1_active_minus1, 0);
  ASSERT_TRUE(header.has_pred_weight_table);
  const PredWeightTable& table = header.pred_weight_table;
  EXPECT_EQ(table.luma_log2_weight_denom, 5);
  EXPECT_EQ(table.chroma_log2_weight_denom, 3);
  EXPECT_EQ(table.luma_weight[0][0], 33);
  EXPECT_EQ(table.luma_offset[0][0], -2);
  EXPECT_EQ(table.chroma_weight[0][0][0], 8);  // default 2^3
  EXPECT_EQ(table.chroma_weight[0][0][1], 8);
  EXPECT_EQ(table.luma_weight[0][1], 32);  // default 2^5
  EXPECT_EQ(table.chroma_weight[0][1][0], 8);
  EXPECT_EQ(table.chroma_offset[0][1][0], 0);
  EXPECT_EQ(table.chroma_weight[0][1][1], -8);
  EXPECT_EQ(table.chroma_offset[0][1][1], 1);
  EXPECT_EQ(table.luma_weight[1][0], 32);
  EXPECT_EQ(table.chroma_weight[1][0][1], 8);
  EXPECT_EQ(header.slice_qp_delta, 5);
  EXPECT_EQ(header.disable_deblocking_filter_idc, 1);
  EXPECT_EQ(header.pic_order_cnt_bit_size, 4u);
  EXPECT_EQ(header.dec_ref_pic_marking_bit_size, 0u);
  EXPECT_EQ(header.header_bit_size, 99u);
}

// A header whose RBSP holds 00 00 00: the transmitted NAL carries an
// emulation-prevention byte that no bit size may count.
TEST(SliceHeader, BitSizesExcludeEmulationPrevention) {
  SliceHeaderContext context;
  context.log2_max_frame_num_minus4 = 12;          // frame_num: 16 bits
  context.log2_max_pic_order_cnt_lsb_minus4 = 12;  // pic_order_cnt_lsb: 16 bits
  BitWriter w;
  w.bits(0x01, 8);   // nal_ref_idc 0, type 1                        ->  8
  w.ue(0);           // first_mb_in_slice                            ->  9
  w.ue(2);           // slice_type I "011"                           -> 12
  w.ue(0);           // pic_parameter_set_id                         -> 13
  w.bits(0, 16);     // frame_num                                    -> 29
  w.bits(1, 16);     // pic_order_cnt_lsb                            -> 45
  w.se(0);           // slice_qp_delta                               -> 46
  append_slice_data(w);
  const std::vector<uint8_t> escaped = w.escaped();
  ASSERT_EQ(escaped.size(), w.rbsp().size() + 1);  // one 0x03 inserted

  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(escaped, context, header, error)) << error;
  EXPECT_EQ(header.frame_num, 0);
  EXPECT_EQ(header.pic_order_cnt_lsb, 1);
  EXPECT_EQ(header.pic_order_cnt_bit_size, 16u);
  EXPECT_EQ(header.header_bit_size, 46u);
  EXPECT_EQ(header.header_emulation_prevention_bytes, 1u);
}

TEST(SliceHeader, SwitchingSlices) {
  SliceHeaderContext context;
  BitWriter sp;
  sp.bits(0x61, 8);  // nal_ref_idc 3, type 1                        ->  8
  sp.ue(0);          // first_mb_in_slice                            ->  9
  sp.ue(3);          // slice_type SP "00100"                        -> 14
  sp.ue(0);          // pic_parameter_set_id                         -> 15
  sp.bits(1, 4);     // frame_num                                    -> 19
  sp.bits(2, 4);     // pic_order_cnt_lsb                            -> 23
  sp.flag(false);    // num_ref_idx_active_override_flag             -> 24
  sp.flag(false);    // ref_pic_list_modification_flag_l0            -> 25
  sp.flag(false);    // adaptive_ref_pic_marking_mode_flag           -> 26
  sp.se(1);          // slice_qp_delta "010"                         -> 29
  sp.flag(true);     // sp_for_switch_flag                           -> 30
  sp.se(-3);         // slice_qs_delta "00111"                       -> 35
  append_slice_data(sp);
  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(sp.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.slice_type, kSliceSP);
  EXPECT_TRUE(header.sp_for_switch);
  EXPECT_EQ(header.slice_qs_delta, -3);
  EXPECT_EQ(header.dec_ref_pic_marking_bit_size, 1u);
  EXPECT_EQ(header.header_bit_size, 35u);

  BitWriter si;
  si.bits(0x01, 8);  // nal_ref_idc 0, type 1                        ->  8
  si.ue(0);          // first_mb_in_slice                            ->  9
  si.ue(9);          // slice_type SI (9) "0001010"                  -> 16
  si.ue(0);          // pic_parameter_set_id                         -> 17
  si.bits(1, 4);     // frame_num                                    -> 21
  si.bits(2, 4);     // pic_order_cnt_lsb                            -> 25
  si.se(0);          // slice_qp_delta                               -> 26
  si.se(4);          // slice_qs_delta "0001000"                     -> 33
  append_slice_data(si);
  ASSERT_TRUE(parse_slice_header(si.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.slice_type, kSliceSI);
  EXPECT_FALSE(header.sp_for_switch);
  EXPECT_EQ(header.slice_qs_delta, 4);
  EXPECT_EQ(header.header_bit_size, 33u);
}

TEST(SliceHeader, SliceGroupChangeCycleUsesExactDivision) {
  SliceHeaderContext context;
  context.num_slice_groups_minus1 = 1;
  context.slice_group_map_type = 4;
  context.pic_size_in_map_units = 100;
  context.slice_group_change_rate_minus1 = 32;  // 100 / 33 + 1 = 4.03: Ceil(Log2) = 3 bits
  BitWriter w;
  w.bits(0x01, 8);
  w.ue(0);
  w.ue(2);           // I
  w.ue(0);
  w.bits(0, 4);      // frame_num
  w.bits(0, 4);      // pic_order_cnt_lsb                            -> 21
  w.se(0);           // slice_qp_delta                               -> 22
  w.bits(5, 3);      // slice_group_change_cycle                     -> 25
  append_slice_data(w);
  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(w.escaped(), context, header, error)) << error;
  EXPECT_EQ(header.slice_group_change_cycle, 5u);
  EXPECT_EQ(header.header_bit_size, 25u);
}

std::vector<uint8_t> valid_p_slice() {
  BitWriter w;
  w.bits(0x41, 8);
  w.ue(3);
  w.ue(5);          // P (5)
  w.ue(0);
  w.bits(7, 4);
  w.bits(9, 4);
  w.flag(true);     // override
  w.ue(3);
  w.flag(true);     // modification l0
  w.ue(1);
  w.ue(4);
  w.ue(3);
  w.flag(true);     // adaptive marking
  w.ue(4);
  w.ue(2);
  w.ue(0);
  w.se(-7);
  append_slice_data(w);
  return w.escaped();
}

TEST(SliceHeader, EveryTruncationFailsCleanly) {
  const SliceHeaderContext context;
  const std::vector<uint8_t> nal = valid_p_slice();
  SliceHeader header;
  std::string error;
  ASSERT_TRUE(parse_slice_header(nal, context, header, error)) << error;
  const size_t header_bytes = (header.header_bit_size + 7) / 8;
  for (size_t length = 0; length < header_bytes; ++length) {
    error.clear();
    EXPECT_FALSE(parse_slice_header(std::span(nal.data(), length), context, header, error)) << length;
    EXPECT_FALSE(error.empty()) << length;
  }
}

TEST(SliceHeader, RandomBytesNeverCrash) {
  std::mt19937 random(1234);
  SliceHeaderContext context;
  context.weighted_pred = true;
  context.weighted_bipred_idc = 1;
  context.entropy_coding_mode = true;
  context.deblocking_filter_control_present = true;
  context.redundant_pic_cnt_present = true;
  context.frame_mbs_only = false;
  unsigned parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> nal(1 + random() % 48);
    for (auto& byte : nal) byte = static_cast<uint8_t>(random());
    nal[0] = static_cast<uint8_t>((nal[0] & 0x60) | ((round & 1) ? 5 : 1));  // a slice NAL header
    SliceHeader header;
    std::string error;
    if (parse_slice_header(nal, context, header, error)) {
      ++parsed;
      EXPECT_LE(header.header_bit_size, nal.size() * 8);
      EXPECT_LE(header.slice_type, 4);
      EXPECT_LE(header.num_ref_idx_l0_active_minus1, 31);
    } else {
      EXPECT_FALSE(error.empty());
    }
  }
  EXPECT_GT(parsed, 0u);  // the generator does reach valid headers
}

struct RangeCase {
  const char* name;
  std::vector<uint8_t> nal;
};

TEST(SliceHeader, OutOfRangeValuesAreNamed) {
  SliceHeaderContext context;
  context.entropy_coding_mode = true;
  context.deblocking_filter_control_present = true;
  std::vector<RangeCase> cases;
  {
    BitWriter w;
    w.bits(0x41, 8);
    w.ue(0);
    w.ue(10);  // slice_type 10
    append_slice_data(w);
    cases.push_back({"slice_type", w.escaped()});
  }
  {
    BitWriter w;
    w.bits(0x41, 8);
    w.ue(0);
    w.ue(0);
    w.ue(256);  // pic_parameter_set_id 256
    append_slice_data(w);
    cases.push_back({"pic_parameter_set_id", w.escaped()});
  }
  {
    BitWriter w;
    w.bits(0x41, 8);
    w.ue(0);
    w.ue(0);
    w.ue(0);
    w.bits(0, 4);
    w.bits(0, 4);
    w.flag(true);
    w.ue(16);  // num_ref_idx_l0_active_minus1 16 in a frame
    append_slice_data(w);
    cases.push_back({"num_ref_idx_l0_active_minus1", w.escaped()});
  }
  {
    BitWriter w;
    w.bits(0x41, 8);
    w.ue(0);
    w.ue(0);
    w.ue(0);
    w.bits(0, 4);
    w.bits(0, 4);
    w.flag(false);
    w.flag(false);
    w.flag(false);
    w.ue(3);  // cabac_init_idc 3
    append_slice_data(w);
    cases.push_back({"cabac_init_idc", w.escaped()});
  }
  {
    BitWriter w;
    w.bits(0x21, 8);
    w.ue(0);
    w.ue(2);
    w.ue(0);
    w.bits(0, 4);
    w.bits(0, 4);
    w.flag(false);
    w.se(0);
    w.ue(0);
    w.se(7);  // slice_alpha_c0_offset_div2 7
    append_slice_data(w);
    cases.push_back({"slice_alpha_c0_offset_div2", w.escaped()});
  }
  {
    BitWriter w;
    w.bits(0x21, 8);
    w.ue(99);  // first_mb_in_slice beyond a 99-MB picture
    w.ue(2);
    w.ue(0);
    w.bits(0, 4);
    w.bits(0, 4);
    w.flag(false);
    w.se(0);
    w.ue(1);
    append_slice_data(w);
    cases.push_back({"first_mb_in_slice", w.escaped()});
  }
  context.pic_size_in_map_units = 99;
  for (const RangeCase& range_case : cases) {
    SliceHeader header;
    std::string error;
    EXPECT_FALSE(parse_slice_header(range_case.nal, context, header, error)) << range_case.name;
    EXPECT_NE(error.find(range_case.name), std::string::npos) << error;
  }
}

TEST(SliceHeader, RejectsNonSliceNalAndForbiddenBit) {
  const SliceHeaderContext context;
  SliceHeader header;
  std::string error;
  const std::vector<uint8_t> sps{0x67, 0x42, 0x00, 0x0a};
  EXPECT_FALSE(parse_slice_header(sps, context, header, error));
  EXPECT_NE(error.find("not a coded slice"), std::string::npos) << error;
  const std::vector<uint8_t> forbidden{0xe5, 0x88, 0x80};
  EXPECT_FALSE(parse_slice_header(forbidden, context, header, error));
  EXPECT_NE(error.find("forbidden_zero_bit"), std::string::npos) << error;
}

SliceHeaderContext context_from_row(const test::Row& row) {
  using test::cell;
  SliceHeaderContext context;
  context.chroma_format_idc = static_cast<uint8_t>(cell(row, "chroma_format_idc"));
  context.separate_colour_plane = cell(row, "separate_colour_plane") != 0;
  context.log2_max_frame_num_minus4 = static_cast<uint8_t>(cell(row, "log2_max_frame_num_minus4"));
  context.frame_mbs_only = cell(row, "frame_mbs_only") != 0;
  context.pic_order_cnt_type = static_cast<uint8_t>(cell(row, "pic_order_cnt_type"));
  context.log2_max_pic_order_cnt_lsb_minus4 = static_cast<uint8_t>(cell(row, "log2_max_pic_order_cnt_lsb_minus4"));
  context.delta_pic_order_always_zero = cell(row, "delta_pic_order_always_zero") != 0;
  context.bottom_field_pic_order_in_frame_present = cell(row, "bottom_field_pic_order_in_frame_present") != 0;
  context.redundant_pic_cnt_present = cell(row, "redundant_pic_cnt_present") != 0;
  context.weighted_pred = cell(row, "weighted_pred") != 0;
  context.weighted_bipred_idc = static_cast<uint8_t>(cell(row, "weighted_bipred_idc"));
  context.entropy_coding_mode = cell(row, "entropy_coding_mode") != 0;
  context.deblocking_filter_control_present = cell(row, "deblocking_filter_control_present") != 0;
  context.num_slice_groups_minus1 = static_cast<uint8_t>(cell(row, "num_slice_groups_minus1"));
  context.slice_group_map_type = static_cast<uint8_t>(cell(row, "slice_group_map_type"));
  context.slice_group_change_rate_minus1 = static_cast<uint16_t>(cell(row, "slice_group_change_rate_minus1"));
  context.pic_size_in_map_units = static_cast<uint32_t>(cell(row, "pic_size_in_map_units"));
  context.num_ref_idx_l0_default_active_minus1 =
      static_cast<uint8_t>(cell(row, "num_ref_idx_l0_default_active_minus1"));
  context.num_ref_idx_l1_default_active_minus1 =
      static_cast<uint8_t>(cell(row, "num_ref_idx_l1_default_active_minus1"));
  return context;
}

// Every slice listed in slice_headers.tsv (FFmpeg trace_headers of 17
// conformance streams) parses to the values and bit sizes FFmpeg found.
TEST(SliceHeaderConformance, MatchesFfmpegTraceHeaders) {
  const std::vector<test::Row> rows = test::read_tsv(test::expectations_path());
  ASSERT_GT(rows.size(), 800u) << test::expectations_path();
  std::map<std::string, std::vector<std::vector<uint8_t>>> streams;
  size_t checked = 0;
  size_t with_emulation_prevention = 0;
  for (const test::Row& row : rows) {
    const std::string& name = row.at("stream");
    auto found = streams.find(name);
    if (found == streams.end()) {
      const auto bytes = test::read_file(test::conformance_dir() + "/streams/" + name);
      ASSERT_FALSE(bytes.empty()) << "cannot read " << test::conformance_dir() << "/streams/" << name;
      found = streams.emplace(name, test::slice_nals(bytes)).first;
    }
    const size_t index = static_cast<size_t>(test::cell(row, "slice_index"));
    ASSERT_LT(index, found->second.size()) << name;
    const std::vector<uint8_t>& nal = found->second[index];
    SliceHeader header;
    std::string error;
    ASSERT_TRUE(parse_slice_header(nal, context_from_row(row), header, error)) << name << " slice " << index << ": "
                                                                               << error;
    const std::string where = name + " slice " + std::to_string(index);
    using test::cell;
    EXPECT_EQ(header.nal_ref_idc, cell(row, "nal_ref_idc")) << where;
    EXPECT_EQ(header.nal_unit_type, cell(row, "nal_unit_type")) << where;
    EXPECT_EQ(header.first_mb_in_slice, cell(row, "first_mb_in_slice")) << where;
    EXPECT_EQ(header.slice_type, cell(row, "slice_type")) << where;
    EXPECT_EQ(header.pic_parameter_set_id, cell(row, "pic_parameter_set_id")) << where;
    EXPECT_EQ(header.colour_plane_id, cell(row, "colour_plane_id")) << where;
    EXPECT_EQ(header.frame_num, cell(row, "frame_num")) << where;
    EXPECT_EQ(header.field_pic, cell(row, "field_pic") != 0) << where;
    EXPECT_EQ(header.bottom_field, cell(row, "bottom_field") != 0) << where;
    EXPECT_EQ(header.idr_pic_id, cell(row, "idr_pic_id")) << where;
    EXPECT_EQ(header.pic_order_cnt_lsb, cell(row, "pic_order_cnt_lsb")) << where;
    EXPECT_EQ(header.delta_pic_order_cnt_bottom, cell(row, "delta_pic_order_cnt_bottom")) << where;
    EXPECT_EQ(header.delta_pic_order_cnt[0], cell(row, "delta_pic_order_cnt0")) << where;
    EXPECT_EQ(header.delta_pic_order_cnt[1], cell(row, "delta_pic_order_cnt1")) << where;
    EXPECT_EQ(header.redundant_pic_cnt, cell(row, "redundant_pic_cnt")) << where;
    EXPECT_EQ(header.direct_spatial_mv_pred, cell(row, "direct_spatial_mv_pred") != 0) << where;
    EXPECT_EQ(header.num_ref_idx_active_override, cell(row, "num_ref_idx_active_override") != 0) << where;
    EXPECT_EQ(header.num_ref_idx_l0_active_minus1, cell(row, "num_ref_idx_l0_active_minus1")) << where;
    EXPECT_EQ(header.num_ref_idx_l1_active_minus1, cell(row, "num_ref_idx_l1_active_minus1")) << where;
    EXPECT_EQ(header.has_pred_weight_table, cell(row, "has_pred_weight_table") != 0) << where;
    if (header.has_pred_weight_table) {
      EXPECT_EQ(header.pred_weight_table.luma_log2_weight_denom, cell(row, "luma_log2_weight_denom")) << where;
      EXPECT_EQ(header.pred_weight_table.chroma_log2_weight_denom, cell(row, "chroma_log2_weight_denom")) << where;
      EXPECT_EQ(header.pred_weight_table.luma_weight[0][0], cell(row, "luma_weight_l0_0")) << where;
      EXPECT_EQ(header.pred_weight_table.luma_offset[0][0], cell(row, "luma_offset_l0_0")) << where;
    }
    EXPECT_EQ(header.long_term_reference, cell(row, "long_term_reference") != 0) << where;
    EXPECT_EQ(header.adaptive_ref_pic_marking_mode, cell(row, "adaptive_ref_pic_marking_mode") != 0) << where;
    EXPECT_EQ(header.cabac_init_idc, cell(row, "cabac_init_idc")) << where;
    EXPECT_EQ(header.slice_qp_delta, cell(row, "slice_qp_delta")) << where;
    EXPECT_EQ(header.sp_for_switch, cell(row, "sp_for_switch") != 0) << where;
    EXPECT_EQ(header.slice_qs_delta, cell(row, "slice_qs_delta")) << where;
    EXPECT_EQ(header.disable_deblocking_filter_idc, cell(row, "disable_deblocking_filter_idc")) << where;
    EXPECT_EQ(header.slice_alpha_c0_offset_div2, cell(row, "slice_alpha_c0_offset_div2")) << where;
    EXPECT_EQ(header.slice_beta_offset_div2, cell(row, "slice_beta_offset_div2")) << where;
    EXPECT_EQ(header.slice_group_change_cycle, cell(row, "slice_group_change_cycle")) << where;
    EXPECT_EQ(header.header_bit_size, cell(row, "header_bit_size")) << where;
    EXPECT_EQ(header.dec_ref_pic_marking_bit_size, cell(row, "dec_ref_pic_marking_bit_size")) << where;
    EXPECT_EQ(header.pic_order_cnt_bit_size, cell(row, "pic_order_cnt_bit_size")) << where;
    if (header.header_emulation_prevention_bytes > 0) ++with_emulation_prevention;
    ++checked;
  }
  EXPECT_EQ(checked, rows.size());
  RecordProperty("slices_checked", static_cast<int>(checked));
  RecordProperty("headers_with_emulation_prevention", static_cast<int>(with_emulation_prevention));
}

}  // namespace
}  // namespace v4l2va::h264

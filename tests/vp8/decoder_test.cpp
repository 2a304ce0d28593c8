// VA-API VP8 buffers -> the planned request: the frame control's fields, the
// OUTPUT bytes (uncompressed chunk + partitions) for both ways clients fill
// the slice data buffer, references by timestamp and concealment.
#include <gtest/gtest.h>

#include <cstring>

#include "bool_encoder.h"
#include "vp8/decoder.h"

namespace v4l2va::vp8 {
namespace {

class NullLog final : public Log {
 public:
  void error(const std::string& line) override { errors.push_back(line); }
  void info(const std::string&) override {}
  std::vector<std::string> errors;
};

// A frame: uncompressed chunk, first partition (header + some bytes of
// macroblock data), two DCT partitions with their 3-byte size.
struct Frame {
  std::vector<uint8_t> bytes;
  size_t chunk = 0;
  uint32_t first_part = 0;
  uint32_t header_bits = 0;
  uint32_t dct[2] = {5, 7};
};

Frame make_frame(bool key) {
  vp8_test::BoolEncoder e;
  if (key) e.write_literal(0, 2);
  e.write_flag(true);   // segmentation
  e.write_flag(false);  // update map
  e.write_flag(true);   // update data
  e.write_flag(false);  // delta mode
  for (int q : {3, 0, -4, 0}) e.write_optional_signed(q, 7);
  for (int l : {0, 2, 0, 0}) e.write_optional_signed(l, 6);
  e.write_flag(false);  // normal filter
  e.write_literal(20, 6);
  e.write_literal(1, 3);
  e.write_flag(false);  // no lf adjustments
  e.write_literal(1, 2);  // two DCT partitions
  e.write_literal(60, 7);
  for (int d : {0, 2, 0, 0, -1}) e.write_optional_signed(d, 4);
  if (key) {
    e.write_flag(true);
  } else {
    e.write_flag(false), e.write_flag(true), e.write_literal(1, 2);  // golden from last, refresh alt
    e.write_flag(false), e.write_flag(true), e.write_flag(true), e.write_flag(true);  // alt sign bias
  }
  Frame f;
  const std::vector<uint8_t> partition = e.finish();
  f.first_part = static_cast<uint32_t>(partition.size());
  f.header_bits = 70;
  UncompressedChunk chunk;
  chunk.key_frame = key;
  chunk.show_frame = true;
  chunk.first_part_size = f.first_part;
  chunk.width = 64;
  chunk.height = 48;
  uint8_t head[10];
  f.chunk = write_uncompressed_chunk(chunk, head);
  f.bytes.assign(head, head + f.chunk);
  f.bytes.insert(f.bytes.end(), partition.begin(), partition.end());
  f.bytes.insert(f.bytes.end(), {uint8_t(f.dct[0]), 0, 0});
  for (uint32_t size : f.dct) f.bytes.insert(f.bytes.end(), size, uint8_t(0x55));
  return f;
}

struct VaPicture {
  VAPictureParameterBufferVP8 params{};
  VAProbabilityDataBufferVP8 probabilities{};
  VASliceParameterBufferVP8 slice{};
};

VaPicture va_picture(const Frame& f, bool key) {
  VaPicture p;
  p.params.frame_width = 64;
  p.params.frame_height = 48;
  p.params.last_ref_frame = 11;
  p.params.golden_ref_frame = 12;
  p.params.alt_ref_frame = 13;
  p.params.pic_fields.bits.key_frame = key ? 0 : 1;
  p.params.pic_fields.bits.segmentation_enabled = 1;
  p.params.pic_fields.bits.mb_no_coeff_skip = 1;
  p.params.pic_fields.bits.sign_bias_alternate = key ? 0 : 1;
  p.params.mb_segment_tree_probs[0] = p.params.mb_segment_tree_probs[1] = p.params.mb_segment_tree_probs[2] = 255;
  p.params.prob_skip_false = 33;
  p.params.prob_intra = 44;
  p.params.y_mode_probs[3] = 9;
  p.params.mv_probs[1][18] = 77;
  p.params.bool_coder_ctx = {200, 17, 3};
  p.probabilities.dct_coeff_probs[3][7][2][10] = 123;
  // VA-API's split: the header bytes the client parsed, then the rest.
  p.slice.macroblock_offset = f.header_bits;
  p.slice.num_of_partitions = 3;
  p.slice.partition_size[0] = f.first_part - (f.header_bits + 7) / 8;
  p.slice.partition_size[1] = f.dct[0];
  p.slice.partition_size[2] = f.dct[1];
  return p;
}

BufferView view(VABufferType type, const void* data, size_t size) {
  auto copy = std::shared_ptr<uint8_t[]>(new uint8_t[size]);
  std::memcpy(copy.get(), data, size);
  BufferView v;
  v.type = type;
  v.element_size = static_cast<uint32_t>(size);
  v.num_elements = 1;
  v.size = size;
  v.data = std::shared_ptr<const uint8_t>(copy, copy.get());
  return v;
}

ReferencePictures references() {
  ReferencePictures refs;
  refs.timestamp_of = [](VASurfaceID surface) -> std::optional<uint64_t> {
    if (surface == 11 || surface == 12) return surface * 1000ull;
    return std::nullopt;  // 13: never decoded
  };
  refs.latest = 5000;
  return refs;
}

// Renders the picture; `whole_frame` puts the uncompressed chunk before
// slice_data_offset (GStreamer), else the data starts at the partition (ffmpeg).
VAStatus decode(Vp8Codec& codec, const Frame& f, VaPicture& p, bool whole_frame, PicturePlan& plan) {
  codec.begin(1);
  p.slice.slice_data_offset = whole_frame ? static_cast<uint32_t>(f.chunk) : 0;
  p.slice.slice_data_size = static_cast<uint32_t>(whole_frame ? f.bytes.size() : f.bytes.size() - f.chunk);
  const uint8_t* data = whole_frame ? f.bytes.data() : f.bytes.data() + f.chunk;
  const size_t size = whole_frame ? f.bytes.size() : f.bytes.size() - f.chunk;
  for (const BufferView& b : {view(VAPictureParameterBufferType, &p.params, sizeof(p.params)),
                              view(VAProbabilityBufferType, &p.probabilities, sizeof(p.probabilities)),
                              view(VASliceParameterBufferType, &p.slice, sizeof(p.slice)),
                              view(VASliceDataBufferType, data, size)})
    if (VAStatus st = codec.render(b); st != VA_STATUS_SUCCESS) return st;
  return codec.end(references(), 64, 48, plan);
}

std::vector<uint8_t> output_bytes(const PicturePlan& plan) {
  std::vector<uint8_t> out;
  for (const BitstreamPiece& piece : plan.requests.at(0).pieces) {
    out.insert(out.end(), piece.prefix.begin(), piece.prefix.end());
    out.insert(out.end(), piece.bytes.begin(), piece.bytes.end());
  }
  return out;
}

const v4l2_ctrl_vp8_frame& frame_control(const PicturePlan& plan) {
  const PlannedRequest& request = plan.requests.at(0);
  EXPECT_EQ(request.controls.size(), 1u);
  EXPECT_EQ(request.controls[0].id, static_cast<uint32_t>(V4L2_CID_STATELESS_VP8_FRAME));
  EXPECT_EQ(request.controls[0].size, sizeof(v4l2_ctrl_vp8_frame));
  return *static_cast<const v4l2_ctrl_vp8_frame*>(request.controls[0].ptr);
}

TEST(Vp8Codec, KeyFrameControlComesFromTheHeaderAndVaBuffers) {
  NullLog log;
  Vp8Codec codec(log);
  const Frame f = make_frame(true);
  VaPicture p = va_picture(f, true);
  PicturePlan plan;
  ASSERT_EQ(decode(codec, f, p, false, plan), VA_STATUS_SUCCESS);
  EXPECT_EQ(output_bytes(plan), f.bytes);  // the rebuilt chunk is the frame's own
  const v4l2_ctrl_vp8_frame& c = frame_control(plan);
  EXPECT_EQ(c.flags & V4L2_VP8_FRAME_FLAG_KEY_FRAME, V4L2_VP8_FRAME_FLAG_KEY_FRAME);
  EXPECT_TRUE(c.flags & V4L2_VP8_FRAME_FLAG_MB_NO_SKIP_COEFF);
  EXPECT_EQ(c.segment.flags, V4L2_VP8_SEGMENT_FLAG_ENABLED | V4L2_VP8_SEGMENT_FLAG_UPDATE_FEATURE_DATA |
                                 V4L2_VP8_SEGMENT_FLAG_DELTA_VALUE_MODE);
  EXPECT_EQ(c.segment.quant_update[0], 3);
  EXPECT_EQ(c.segment.quant_update[2], -4);
  EXPECT_EQ(c.segment.lf_update[1], 2);
  EXPECT_EQ(c.lf.level, 20);
  EXPECT_EQ(c.lf.sharpness_level, 1);
  EXPECT_EQ(c.quant.y_ac_qi, 60);
  EXPECT_EQ(c.quant.y2_dc_delta, 2);
  EXPECT_EQ(c.quant.uv_ac_delta, -1);
  EXPECT_EQ(c.entropy.coeff_probs[3][7][2][10], 123);
  EXPECT_EQ(c.entropy.y_mode_probs[3], 9);
  EXPECT_EQ(c.entropy.mv_probs[1][18], 77);
  EXPECT_EQ(c.coder_state.range, 200);
  EXPECT_EQ(c.coder_state.value, 17);
  EXPECT_EQ(c.coder_state.bit_count, 3);
  EXPECT_EQ(c.prob_skip_false, 33);
  EXPECT_EQ(c.num_dct_parts, 2);
  EXPECT_EQ(c.first_part_size, f.first_part);
  EXPECT_EQ(c.first_part_header_bits, f.header_bits);
  EXPECT_EQ(c.dct_part_sizes[0], f.dct[0]);
  EXPECT_EQ(c.dct_part_sizes[1], f.dct[1]);
  EXPECT_EQ(c.width, 64);
  EXPECT_EQ(c.height, 48);
  // A key frame references nothing.
  EXPECT_EQ(c.last_frame_ts, 0u);
  EXPECT_EQ(plan.concealed_references, 0u);
}

TEST(Vp8Codec, InterFrameReferencesByTimestampAndConcealsAMissingOne) {
  NullLog log;
  Vp8Codec codec(log);
  const Frame key = make_frame(true);
  VaPicture kp = va_picture(key, true);
  PicturePlan plan;
  ASSERT_EQ(decode(codec, key, kp, false, plan), VA_STATUS_SUCCESS);
  const Frame f = make_frame(false);
  VaPicture p = va_picture(f, false);
  ASSERT_EQ(decode(codec, f, p, false, plan), VA_STATUS_SUCCESS);
  const v4l2_ctrl_vp8_frame& c = frame_control(plan);
  EXPECT_FALSE(c.flags & V4L2_VP8_FRAME_FLAG_KEY_FRAME);
  EXPECT_TRUE(c.flags & V4L2_VP8_FRAME_FLAG_SIGN_BIAS_ALT);
  EXPECT_EQ(c.last_frame_ts, 11000u);
  EXPECT_EQ(c.golden_frame_ts, 12000u);
  EXPECT_EQ(c.alt_frame_ts, 5000u);  // surface 13 has no picture: the latest stands in
  EXPECT_EQ(plan.concealed_references, 1u);
  EXPECT_EQ(output_bytes(plan), f.bytes);
}

TEST(Vp8Codec, WholeFrameInTheBufferKeepsItsOwnChunk) {
  NullLog log;
  Vp8Codec codec(log);
  Frame f = make_frame(true);
  f.bytes[0] &= ~0x10;  // a hidden frame: only the real tag can say so
  VaPicture p = va_picture(f, true);
  PicturePlan plan;
  ASSERT_EQ(decode(codec, f, p, true, plan), VA_STATUS_SUCCESS);
  EXPECT_EQ(output_bytes(plan), f.bytes);
  EXPECT_FALSE(frame_control(plan).flags & V4L2_VP8_FRAME_FLAG_SHOW_FRAME);
}

TEST(Vp8Codec, PartitionsLargerThanTheDataAreRefused) {
  NullLog log;
  Vp8Codec codec(log);
  const Frame f = make_frame(true);
  VaPicture p = va_picture(f, true);
  p.slice.partition_size[2] += 100;
  PicturePlan plan;
  EXPECT_EQ(decode(codec, f, p, false, plan), VA_STATUS_ERROR_INVALID_BUFFER);
  ASSERT_FALSE(log.errors.empty());
  EXPECT_NE(log.errors.back().find("outside the"), std::string::npos) << log.errors.back();
}

TEST(Vp8Codec, APictureWithoutProbabilitiesIsIncomplete) {
  NullLog log;
  Vp8Codec codec(log);
  const Frame f = make_frame(true);
  VaPicture p = va_picture(f, true);
  codec.begin(1);
  ASSERT_EQ(codec.render(view(VAPictureParameterBufferType, &p.params, sizeof(p.params))), VA_STATUS_SUCCESS);
  PicturePlan plan;
  EXPECT_EQ(codec.end(references(), 64, 48, plan), VA_STATUS_ERROR_INVALID_PARAMETER);
}

TEST(Vp8Codec, AFrameLargerThanTheContextIsRefused) {
  NullLog log;
  Vp8Codec codec(log);
  const Frame f = make_frame(true);
  VaPicture p = va_picture(f, true);
  p.params.frame_width = 640;
  PicturePlan plan;
  EXPECT_EQ(decode(codec, f, p, false, plan), VA_STATUS_ERROR_RESOLUTION_NOT_SUPPORTED);
}

}  // namespace
}  // namespace v4l2va::vp8

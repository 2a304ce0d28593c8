// End-to-end tests of the decoding backend: conformance streams are cut into
// requests the way a V4L2 stateless client cuts them, the controls are filled
// from the streams' own parameter sets and slice headers (the test's parser),
// every request goes through H264Backend::decode, and the CAPTURE buffers are
// put in output order, cropped, converted to yuv420p and hashed. The MD5 must
// equal the published expected_md5 of manifest.tsv.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <set>
#include <memory>

extern "C" {
#include <libavutil/md5.h>
#include <libavutil/mem.h>
}

#include "backend_stream_parser.h"
#include "h264_backend.h"

namespace emu::test {
namespace {

struct Md5Deleter {
  void operator()(AVMD5* md5) const { av_free(md5); }
};

struct RunOptions {
  DecodeMode mode = DecodeMode::FrameBased;
  StartCode start_code = StartCode::AnnexB;
  CaptureLayout layout = CaptureLayout::NV12;
  // Applied to each picture's controls before decoding (negative tests).
  std::function<void(size_t picture_index, H264RequestControls&)> tamper;
  // Slices to leave out: (picture index, slice index).
  std::set<std::pair<size_t, size_t>> dropped_slices;
  // V4L2_EMU_DPB_CHECK=hardware: reference overrides for picture N, given
  // the buffers decoded before it (called for every picture when set).
  std::function<std::vector<ReferenceOverride>(size_t picture_index,
                                               const std::vector<const struct CaptureBuffer*>& decoded)>
      overrides;
};

struct RunResult {
  std::string md5;
  size_t requests = 0;
  size_t frames = 0;
  std::vector<std::string> errors;  // "picture N: why"
};

// One CAPTURE buffer: luma and chroma in one memory plane (NV12,
// NV12_32L32) or in two (MM21), as the emulated devices allocate them.
struct CaptureBuffer {
  std::vector<uint8_t> memory;         // plane 0: luma (and chroma when one plane)
  std::vector<uint8_t> chroma_memory;  // plane 1 (MM21)
  CaptureTarget target;
  PicturePoc poc;
  unsigned fields = 0;  // bit 0 top, bit 1 bottom decoded into it
  size_t period = 0;    // output order restarts at IDR / MMCO 5
  const ParsedSps* sps = nullptr;  // decides the crop
  int32_t output_poc() const {
    if (fields == 1) return poc.top;
    if (fields == 2) return poc.bottom;
    return std::min(poc.top, poc.bottom);
  }
};

uint32_t align_to(uint32_t value, uint32_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// A fill value no decoded picture of these streams produces everywhere:
// a line the backend forgot shows up in the MD5.
constexpr uint8_t kUnwritten = 0xa5;

std::unique_ptr<CaptureBuffer> make_capture(uint32_t width, uint32_t height, CaptureLayout layout) {
  auto buffer = std::make_unique<CaptureBuffer>();
  CaptureTarget& t = buffer->target;
  t.width = width;
  t.height = height;
  t.layout = layout;
  size_t luma_size = 0, chroma_offset = 0, chroma_size = 0;
  switch (layout) {
    case CaptureLayout::NV12:
      // A padded pitch and a gap before the chroma plane, so the backend must
      // honour bytesperline and the chroma plane's address rather than assume them.
      t.bytesperline = width + 48;
      luma_size = static_cast<size_t>(t.bytesperline) * height;
      chroma_offset = luma_size + 4096;
      chroma_size = static_cast<size_t>(t.bytesperline) * (height / 2);
      break;
    case CaptureLayout::NV12_32L32:
      // cedrus_prepare_format(): 32-aligned pitch and height, chroma of
      // ALIGN(height, 64) / 2 lines after the luma plane.
      t.bytesperline = align_to(width, 32);
      luma_size = static_cast<size_t>(t.bytesperline) * align_to(height, 32);
      chroma_offset = luma_size;
      chroma_size = static_cast<size_t>(t.bytesperline) * align_to(height, 64) / 2;
      break;
    case CaptureLayout::MM21:
      // vdec_h264_req_if.c get_pic_info(): 64-aligned buffer, two planes.
      t.bytesperline = align_to(width, 64);
      luma_size = static_cast<size_t>(t.bytesperline) * align_to(height, 64);
      chroma_size = luma_size / 2;
      break;
  }
  if (layout == CaptureLayout::MM21) {
    buffer->memory.assign(luma_size, kUnwritten);
    buffer->chroma_memory.assign(chroma_size, kUnwritten);
    t.luma = {buffer->memory.data(), luma_size};
    t.chroma = {buffer->chroma_memory.data(), chroma_size};
  } else {
    buffer->memory.assign(chroma_offset + chroma_size, kUnwritten);
    t.luma = {buffer->memory.data(), buffer->memory.size()};
    t.chroma = {buffer->memory.data() + chroma_offset, chroma_size};
  }
  return buffer;
}

// Reads byte (x, y) of a plane, addressed as the kernel describes each
// layout (pixfmt-yuv-planar.rst "Tiled NV12"): NV12_32L32 tiles of 32x32
// bytes in both planes, MM21 luma tiles of 16x32 and chroma tiles of 16x16
// bytes; tiles row-major, bytes row-major inside a tile.
uint8_t plane_byte(const CaptureTarget& t, bool chroma, uint32_t x, uint32_t y) {
  const uint8_t* plane = chroma ? t.chroma.data : t.luma.data;
  uint32_t tile_w = 1, tile_h = 1;
  if (t.layout == CaptureLayout::NV12_32L32) tile_w = tile_h = 32;
  if (t.layout == CaptureLayout::MM21) {
    tile_w = 16;
    tile_h = chroma ? 16 : 32;
  }
  if (tile_w == 1) return plane[static_cast<size_t>(y) * t.bytesperline + x];
  const size_t tiles_across = t.bytesperline / tile_w;
  const size_t tile = static_cast<size_t>(y / tile_h) * tiles_across + x / tile_w;
  return plane[tile * tile_w * tile_h + (y % tile_h) * tile_w + (x % tile_w)];
}

// Crops to the SPS cropping window (7.4.2.1.1) and appends yuv420p planes.
void hash_frame(AVMD5* md5, const CaptureBuffer& buffer, const ParsedSps& sps) {
  const CaptureTarget& t = buffer.target;
  const bool frame_mbs_only = sps.ctrl.flags & V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
  const uint32_t crop_unit_x = sps.ctrl.chroma_format_idc == 0 ? 1 : 2;
  const uint32_t crop_unit_y = (sps.ctrl.chroma_format_idc == 0 ? 1 : 2) * (frame_mbs_only ? 1 : 2);
  const uint32_t left = sps.crop_left * crop_unit_x, right = sps.crop_right * crop_unit_x;
  const uint32_t top = sps.crop_top * crop_unit_y, bottom = sps.crop_bottom * crop_unit_y;
  const uint32_t width = sps.width() - left - right, height = sps.height() - top - bottom;
  std::vector<uint8_t> row(width);
  for (uint32_t y = 0; y < height; ++y) {
    for (uint32_t x = 0; x < width; ++x) row[x] = plane_byte(t, false, left + x, top + y);
    av_md5_update(md5, row.data(), width);
  }
  for (unsigned component = 0; component < 2; ++component) {
    for (uint32_t y = 0; y < height / 2; ++y) {
      for (uint32_t x = 0; x < width / 2; ++x)
        row[x] = plane_byte(t, true, 2 * (left / 2 + x) + component, top / 2 + y);
      av_md5_update(md5, row.data(), width / 2);
    }
  }
}

void append_annex_b(std::vector<uint8_t>& out, std::span<const uint8_t> nal) {
  static constexpr uint8_t kStartCode[] = {0, 0, 1};
  out.insert(out.end(), std::begin(kStartCode), std::end(kStartCode));
  out.insert(out.end(), nal.begin(), nal.end());
}

RunResult run_stream(const std::string& file, const RunOptions& options = {}) {
  StreamReader reader(read_file(conformance_dir() + "/" + file));
  const std::vector<CodedPicture> pictures = reader.pictures();
  auto backend = H264Backend::create(options.mode, options.start_code);

  struct OutputFrame {
    size_t period;
    int32_t poc;
    size_t decode_index;
    const ParsedSps* sps;
    CaptureBuffer* buffer;
  };
  std::vector<std::unique_ptr<CaptureBuffer>> buffers;
  RunResult result;
  size_t period = 0;
  CaptureBuffer* unpaired_field = nullptr;
  uint32_t unpaired_frame_num = 0;

  for (size_t index = 0; index < pictures.size(); ++index) {
    const CodedPicture& picture = pictures[index];
    H264RequestControls controls = picture.controls;
    if (options.tamper) options.tamper(index, controls);
    const ParsedSlice& first = picture.slices.front();
    if (picture.starts_new_period) ++period;

    // The second field of a pair goes into its first field's buffer (what a
    // client does with V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF or by reusing it).
    CaptureBuffer* buffer = nullptr;
    const unsigned field_bit = first.field_pic ? (first.bottom_field ? 2u : 1u) : 3u;
    if (first.field_pic && unpaired_field && (unpaired_field->fields & field_bit) == 0 &&
        unpaired_frame_num == first.frame_num && first.nal_unit_type != 5) {
      buffer = unpaired_field;
      unpaired_field = nullptr;
    } else {
      buffers.push_back(make_capture(picture.sps->width(), picture.sps->height(), options.layout));
      buffer = buffers.back().get();
      buffer->period = period;
      buffer->sps = picture.sps;
      unpaired_field = first.field_pic ? buffer : nullptr;
      unpaired_frame_num = first.frame_num;
    }
    buffer->fields |= field_bit;
    if (field_bit & 1) buffer->poc.top = picture.poc.top;
    if (field_bit & 2) buffer->poc.bottom = picture.poc.bottom;

    if (options.overrides) {
      std::vector<const CaptureBuffer*> decoded;
      for (const auto& earlier : buffers)
        if (earlier.get() != buffer) decoded.push_back(earlier.get());
      backend->set_reference_overrides(options.overrides(index, decoded));
    }
    auto submit = [&](const std::vector<uint8_t>& bytes, const H264RequestControls& request_controls) {
      ++result.requests;
      const DecodeResult decoded = backend->decode(request_controls, bytes.data(), bytes.size(), buffer->target);
      if (!decoded.ok) result.errors.push_back("picture " + std::to_string(index) + ": " + decoded.error);
    };
    if (options.mode == DecodeMode::FrameBased) {
      std::vector<uint8_t> bytes;
      // The parameter sets, AUD and SEI the stream carried go along: the
      // backend must drop them and use the controls.
      for (const auto& nal : picture.non_vcl_before) append_annex_b(bytes, nal);
      for (size_t s = 0; s < picture.slices.size(); ++s)
        if (!options.dropped_slices.count({index, s})) append_annex_b(bytes, picture.slices[s].nal);
      submit(bytes, controls);
    } else {
      for (size_t s = 0; s < picture.slices.size(); ++s) {
        if (options.dropped_slices.count({index, s})) continue;
        const ParsedSlice& slice = picture.slices[s];
        std::vector<uint8_t> bytes;
        if (options.start_code == StartCode::AnnexB) append_annex_b(bytes, slice.nal);
        else bytes.assign(slice.nal.begin(), slice.nal.end());
        H264RequestControls slice_controls = controls;
        slice_controls.slice_params = slice_params_for(slice);
        // Parameter-set controls are set once per picture by clients; later
        // slices of it carry only the slice controls.
        if (s > 0) slice_controls.scaling_matrix.reset();
        submit(bytes, slice_controls);
      }
    }
  }

  std::vector<OutputFrame> frames;
  for (size_t i = 0; i < buffers.size(); ++i)
    frames.push_back({buffers[i]->period, buffers[i]->output_poc(), i, buffers[i]->sps, buffers[i].get()});
  std::stable_sort(frames.begin(), frames.end(), [](const OutputFrame& a, const OutputFrame& b) {
    if (a.period != b.period) return a.period < b.period;
    return a.poc < b.poc;
  });
  std::unique_ptr<AVMD5, Md5Deleter> md5(av_md5_alloc());
  av_md5_init(md5.get());
  for (const auto& frame : frames) hash_frame(md5.get(), *frame.buffer, *frame.sps);
  uint8_t digest[16];
  av_md5_final(md5.get(), digest);
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  result.md5 = hex;
  result.frames = frames.size();
  return result;
}

std::string expected_md5_of(const std::string& name, std::string* file) {
  for (const auto& entry : read_manifest()) {
    if (entry.name == name) {
      *file = entry.file;
      return entry.expected_md5;
    }
  }
  ADD_FAILURE() << name << " is not in manifest.tsv";
  return {};
}

std::string describe(const RunResult& result) {
  std::string text = std::to_string(result.requests) + " requests, " + std::to_string(result.frames) +
                     " frames, " + std::to_string(result.errors.size()) + " errors";
  for (size_t i = 0; i < result.errors.size() && i < 5; ++i) text += "\n  " + result.errors[i];
  return text;
}

struct Configuration {
  const char* label;
  DecodeMode mode;
  StartCode start_code;
  CaptureLayout layout;
};

// Hantro/rkvdec style, Cedrus style (slice-based, no start codes, tiled) and
// MediaTek style (frame-based with start codes into MM21's two planes).
const Configuration kConfigurations[] = {
    {"FrameAnnexBNv12", DecodeMode::FrameBased, StartCode::AnnexB, CaptureLayout::NV12},
    {"SliceNoStartCodeTiled", DecodeMode::SliceBased, StartCode::None, CaptureLayout::NV12_32L32},
    {"SliceAnnexBNv12", DecodeMode::SliceBased, StartCode::AnnexB, CaptureLayout::NV12},
    {"FrameAnnexBMm21", DecodeMode::FrameBased, StartCode::AnnexB, CaptureLayout::MM21},
};

class BackendConformance : public ::testing::TestWithParam<std::tuple<const char*, Configuration>> {};

TEST_P(BackendConformance, DecodesBitExactly) {
  const auto& [name, configuration] = GetParam();
  std::string file;
  const std::string expected = expected_md5_of(name, &file);
  if (file.empty()) return;
  RunOptions options;
  options.mode = configuration.mode;
  options.start_code = configuration.start_code;
  options.layout = configuration.layout;
  const RunResult result = run_stream(file, options);
  EXPECT_TRUE(result.errors.empty()) << describe(result);
  EXPECT_GT(result.frames, 0u);
  EXPECT_EQ(result.md5, expected) << describe(result);
}

INSTANTIATE_TEST_SUITE_P(
    Streams, BackendConformance,
    ::testing::Combine(::testing::Values("BA1_Sony_D", "CABA3_SVA_B", "FRExt1_Panasonic_D", "HCAFF1_HHI_B",
                                         "FREXT01_JVC_D", "HPCVMOLQ_BRCM_B", "SVA_Base_B"),
                       ::testing::ValuesIn(kConfigurations)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param).label;
    });

void run_whole_suite(const RunOptions& options) {
  size_t exact = 0;
  std::string failures;
  for (const auto& entry : read_manifest()) {
    const RunResult result = run_stream(entry.file, options);
    const bool ok = result.errors.empty() && result.md5 == entry.expected_md5;
    std::printf("%-20s %s %s\n", entry.name.c_str(), ok ? "bit-exact" : "MISMATCH ", describe(result).c_str());
    if (ok) ++exact;
    else failures += " " + entry.name;
  }
  std::printf("bit-exact: %zu streams\n", exact);
  EXPECT_TRUE(failures.empty()) << "not bit-exact:" << failures;
}

// Every stream of the suite, frame-based with start codes into linear NV12
// (how Hantro and rkvdec are driven).
TEST(BackendConformanceSuite, AllManifestStreamsFrameBased) { run_whole_suite({}); }

// Every stream of the suite, one slice per request without start codes into
// 32x32-tiled NV12 (how Cedrus is driven).
TEST(BackendConformanceSuite, AllManifestStreamsSliceBasedTiled) {
  RunOptions options;
  options.mode = DecodeMode::SliceBased;
  options.start_code = StartCode::None;
  options.layout = CaptureLayout::NV12_32L32;
  run_whole_suite(options);
}

// ----------------------------------------------------------- negative tests

TEST(BackendChecks, WrongFrameNumIsReported) {
  RunOptions options;
  options.tamper = [](size_t index, H264RequestControls& controls) {
    if (index == 3) controls.decode_params.frame_num ^= 1;
  };
  const RunResult result = run_stream("streams/BA_MW_D.264", options);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_NE(result.errors[0].find("picture 3: decode_params frame_num"), std::string::npos) << result.errors[0];
}

TEST(BackendChecks, WrongFieldFlagsAreReported) {
  RunOptions options;
  options.tamper = [](size_t index, H264RequestControls& controls) {
    if (index == 1) controls.decode_params.flags ^= V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
  };
  const RunResult result = run_stream("streams/HCAFF1_HHI.264", options);
  ASSERT_GE(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].find("picture 1: decode_params BOTTOM_FIELD"), std::string::npos) << result.errors[0];
}

TEST(BackendChecks, MissingSliceOfAFramePictureIsReported) {
  // SVA_Base_B has several slices per picture; drop the second slice of
  // picture 2 so libavcodec would have to conceal it.
  StreamReader reader(read_file(conformance_dir() + "/streams/SVA_Base_B.264"));
  const auto pictures = reader.pictures();
  ASSERT_GT(pictures.size(), 2u);
  ASSERT_GT(pictures[2].slices.size(), 1u);
  RunOptions options;
  options.dropped_slices = {{2, 1}};
  const RunResult result = run_stream("streams/SVA_Base_B.264", options);
  ASSERT_FALSE(result.errors.empty()) << describe(result);
  EXPECT_EQ(result.errors[0].rfind("picture 2:", 0), 0u) << result.errors[0];
}

TEST(BackendChecks, WrongEntropyModeFailsTheRequest) {
  RunOptions options;
  options.tamper = [](size_t index, H264RequestControls& controls) {
    if (index == 4) controls.pps.flags &= static_cast<uint16_t>(~V4L2_H264_PPS_FLAG_ENTROPY_CODING_MODE);
  };
  const RunResult result = run_stream("streams/CABA3_SVA_B.264", options);
  ASSERT_FALSE(result.errors.empty()) << describe(result);
  EXPECT_EQ(result.errors[0].rfind("picture 4:", 0), 0u) << result.errors[0];
}

// The controls, not the SPS/PPS NAL units in the OUTPUT buffer, decide the
// picture: a request without the scaling matrix decodes (no error: it is a
// valid, different picture) but no longer matches.
TEST(BackendChecks, ScalingMatrixComesFromTheControls) {
  std::string file;
  const std::string expected = expected_md5_of("FRExt1_Panasonic_D", &file);
  RunOptions options;
  options.tamper = [](size_t, H264RequestControls& controls) {
    controls.pps.flags &= static_cast<uint16_t>(~V4L2_H264_PPS_FLAG_SCALING_MATRIX_PRESENT);
    controls.scaling_matrix.reset();
  };
  const RunResult result = run_stream(file, options);
  EXPECT_TRUE(result.errors.empty()) << describe(result);
  EXPECT_NE(result.md5, expected);
}

TEST(BackendChecks, PictureInitQpComesFromTheControls) {
  std::string file;
  const std::string expected = expected_md5_of("BA1_Sony_D", &file);
  RunOptions options;
  options.tamper = [](size_t, H264RequestControls& controls) { controls.pps.pic_init_qp_minus26 += 2; };
  const RunResult result = run_stream(file, options);
  EXPECT_NE(result.md5, expected);
}

TEST(BackendChecks, UnsupportedFormatsAndBuffersAreRefused) {
  auto backend = H264Backend::create(DecodeMode::FrameBased, StartCode::AnnexB);
  StreamReader reader(read_file(conformance_dir() + "/streams/BA1_Sony_D.jsv"));
  const auto pictures = reader.pictures();
  ASSERT_FALSE(pictures.empty());
  std::vector<uint8_t> bytes;
  for (const auto& slice : pictures[0].slices) append_annex_b(bytes, slice.nal);

  auto small = make_capture(pictures[0].sps->width() - 16, pictures[0].sps->height(), CaptureLayout::NV12);
  DecodeResult result = backend->decode(pictures[0].controls, bytes.data(), bytes.size(), small->target);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("smaller than the coded picture"), std::string::npos) << result.error;

  H264RequestControls ten_bit = pictures[0].controls;
  ten_bit.sps.bit_depth_luma_minus8 = 2;
  auto capture = make_capture(pictures[0].sps->width(), pictures[0].sps->height(), CaptureLayout::NV12);
  result = backend->decode(ten_bit, bytes.data(), bytes.size(), capture->target);
  EXPECT_FALSE(result.ok);

  const std::vector<uint8_t> sps_only = {0, 0, 1, 0x67, 0x42, 0x00, 0x0a};
  result = backend->decode(pictures[0].controls, sps_only.data(), sps_only.size(), capture->target);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("no slice"), std::string::npos) << result.error;

  // After all that the backend still decodes the real picture.
  result = backend->decode(pictures[0].controls, bytes.data(), bytes.size(), capture->target);
  EXPECT_TRUE(result.ok) << result.error;
}

TEST(BackendChecks, ResetForgetsDecoderState) {
  // A P picture right after reset() has no reference, but decoding restarts
  // cleanly at the next IDR: decode the stream, reset, decode again, and
  // both runs give the same result.
  auto backend = H264Backend::create(DecodeMode::FrameBased, StartCode::AnnexB);
  StreamReader reader(read_file(conformance_dir() + "/streams/BA1_Sony_D.jsv"));
  const auto pictures = reader.pictures();
  std::vector<std::vector<uint8_t>> first_run, second_run;
  for (auto* run : {&first_run, &second_run}) {
    for (const auto& picture : pictures) {
      std::vector<uint8_t> bytes;
      for (const auto& slice : picture.slices) append_annex_b(bytes, slice.nal);
      auto capture = make_capture(picture.sps->width(), picture.sps->height(), CaptureLayout::NV12);
      const DecodeResult result = backend->decode(picture.controls, bytes.data(), bytes.size(), capture->target);
      ASSERT_TRUE(result.ok) << result.error;
      run->push_back(capture->memory);
    }
    backend->reset();
  }
  EXPECT_EQ(first_run, second_run);
}

// ------------------------------------------- hardware DPB mode (overrides)

// A reference the hardware reads from other memory changes the pixels of
// the picture that uses it, and of nothing else when the memory holds the
// very same picture.
TEST(BackendReferenceOverrides, ReplaceTheReferencePixelsForOneDecode) {
  const std::string stream = "streams/BA_MW_D.264";  // I then P, POC type 0, 4 refs
  const RunResult baseline = run_stream(stream);
  ASSERT_TRUE(baseline.errors.empty()) << describe(baseline);

  // A mid-grey buffer of the picture's size, as stale memory would be.
  auto grey = make_capture(176, 144, CaptureLayout::NV12);
  std::fill(grey->memory.begin(), grey->memory.end(), uint8_t{128});
  auto override_first_reference = [&](const CaptureTarget* source) {
    RunOptions options;
    options.overrides = [source](size_t index, const std::vector<const CaptureBuffer*>& decoded) {
      std::vector<ReferenceOverride> overrides;
      if (index != 1 || decoded.empty()) return overrides;
      ReferenceOverride reference;
      reference.top_poc = decoded[0]->poc.top;
      reference.bottom_poc = decoded[0]->poc.bottom;
      reference.fields = V4L2_H264_FRAME_REF;
      reference.source = source ? *source : decoded[0]->target;
      overrides.push_back(reference);
      return overrides;
    };
    return run_stream(stream, options);
  };
  const RunResult grey_reference = override_first_reference(&grey->target);
  EXPECT_TRUE(grey_reference.errors.empty()) << describe(grey_reference);
  EXPECT_EQ(grey_reference.frames, baseline.frames);
  EXPECT_NE(grey_reference.md5, baseline.md5);

  // The reference's own buffer as the source: nothing changes.
  const RunResult same_pixels = override_first_reference(nullptr);
  EXPECT_EQ(same_pixels.md5, baseline.md5);

  // A POC no decoded picture has: nothing to replace.
  RunOptions unknown;
  unknown.overrides = [&](size_t index, const std::vector<const CaptureBuffer*>&) {
    std::vector<ReferenceOverride> overrides;
    if (index == 1) {
      ReferenceOverride reference;
      reference.top_poc = reference.bottom_poc = 12345;
      reference.fields = V4L2_H264_FRAME_REF;
      reference.source = grey->target;
      overrides.push_back(reference);
    }
    return overrides;
  };
  EXPECT_EQ(run_stream(stream, unknown).md5, baseline.md5);
}

}  // namespace
}  // namespace emu::test

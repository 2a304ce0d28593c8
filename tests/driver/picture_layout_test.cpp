// The CAPTURE layouts read back as linear NV12, against a reference tiler
// written from the kernel's own descriptions (pixfmt-yuv-planar.rst;
// drm_fourcc.h, DRM_FORMAT_MOD_ALLWINNER_TILED): tile sizes, tiles in
// row-major order, bytes in row-major order inside a tile. Odd sizes included.
#include <gtest/gtest.h>
#include <linux/videodev2.h>
#include <sys/mman.h>

#include <random>
#include <vector>

#include "v4l2/picture_layout.h"

namespace v4l2va {
namespace {

uint32_t align(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

// Byte (x, line) of a plane stored in tw x th tiles with the given stride,
// as the descriptions put it, one pixel at a time.
size_t tiled_offset(uint32_t x, uint32_t line, uint32_t stride, uint32_t tw, uint32_t th) {
  const uint32_t tiles_per_row = stride / tw;
  const uint32_t tile_index = (line / th) * tiles_per_row + x / tw;
  return size_t(tile_index) * tw * th + (line % th) * tw + x % tw;
}

struct Anonymous {
  explicit Anonymous(size_t n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mapping = Mapping(p, n);
  }
  Mapping mapping;
};

// A picture of random bytes, then tiled into a buffer of `format`.
struct Case {
  uint32_t pixelformat;
  uint32_t width, height;  // picture size
};

class PictureLayoutTest : public ::testing::TestWithParam<Case> {};

TEST_P(PictureLayoutTest, ReadsBackTheLinearPicture) {
  const Case c = GetParam();
  const bool mm21 = c.pixelformat == V4L2_PIX_FMT_MM21;
  const bool allwinner = c.pixelformat == V4L2_PIX_FMT_NV12_32L32;
  const uint32_t ltw = mm21 ? 16 : allwinner ? 32 : 1, lth = mm21 ? 32 : allwinner ? 32 : 1;
  const uint32_t ctw = mm21 ? 16 : allwinner ? 32 : 1, cth = mm21 ? 16 : allwinner ? 32 : 1;
  const uint32_t stride = align(c.width, mm21 ? 16 : 32) + (allwinner || mm21 ? 0 : 64);  // linear: some padding
  const uint32_t height = align(c.height, lth);
  const uint32_t chroma_lines = (height + 1) / 2;
  Format f;
  f.pixelformat = c.pixelformat;
  f.width = c.width;
  f.height = height;
  f.num_planes = mm21 ? 2 : 1;
  f.planes[0].bytesperline = stride;
  f.planes[1].bytesperline = stride;
  const size_t luma_bytes = size_t(stride) * height;
  const size_t chroma_bytes = size_t(stride) * align(chroma_lines, cth);
  MappedBuffer buffer;
  std::vector<Anonymous> memory;
  memory.emplace_back(mm21 ? luma_bytes : luma_bytes + chroma_bytes);
  if (mm21) memory.emplace_back(chroma_bytes);
  for (auto& m : memory) buffer.planes.push_back(std::move(m.mapping));
  uint8_t* luma = buffer.planes[0].data();
  uint8_t* chroma = mm21 ? buffer.planes[1].data() : luma + luma_bytes;

  std::mt19937 random(c.width * 7919 + c.height);
  std::vector<uint8_t> y(size_t(c.width) * c.height), uv(size_t(align(c.width, 2)) * ((c.height + 1) / 2));
  for (auto& b : y) b = uint8_t(random());
  for (auto& b : uv) b = uint8_t(random());
  const uint32_t uv_width = align(c.width, 2);
  for (uint32_t line = 0; line < c.height; ++line)
    for (uint32_t x = 0; x < c.width; ++x)
      luma[ltw == 1 ? size_t(line) * stride + x : tiled_offset(x, line, stride, ltw, lth)] = y[size_t(line) * c.width + x];
  for (uint32_t line = 0; line < (c.height + 1) / 2; ++line)
    for (uint32_t x = 0; x < uv_width; ++x)
      chroma[ctw == 1 ? size_t(line) * stride + x : tiled_offset(x, line, stride, ctw, cth)] = uv[size_t(line) * uv_width + x];

  Result<PictureLayout> layout = layout_of(f, buffer);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->linear(), !(mm21 || allwinner));
  // Whole lines, and a rectangle that starts and ends inside tiles.
  std::vector<uint8_t> out(stride);
  for (uint32_t line = 0; line < c.height; ++line) {
    read_plane_line(layout->luma, 0, line, c.width, out.data());
    ASSERT_TRUE(std::equal(out.begin(), out.begin() + c.width, y.begin() + long(line) * c.width)) << "luma line " << line;
  }
  for (uint32_t line = 0; line < (c.height + 1) / 2; ++line) {
    read_plane_line(layout->chroma, 0, line, uv_width, out.data());
    ASSERT_TRUE(std::equal(out.begin(), out.begin() + uv_width, uv.begin() + long(line) * uv_width))
        << "chroma line " << line;
  }
  if (c.width > 40 && c.height > 40) {
    const uint32_t x = 6, width = c.width - 14, line = 33;
    read_plane_line(layout->luma, x, line, width, out.data());
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + width, y.begin() + long(line) * c.width + x));
  }
}

TEST(PictureLayout, ABufferTooSmallForItsFormatIsRefused) {
  Format f;
  f.pixelformat = V4L2_PIX_FMT_NV12_32L32;
  f.width = 64;
  f.height = 64;
  f.num_planes = 1;
  f.planes[0].bytesperline = 64;
  Anonymous small(64 * 64);  // luma only
  MappedBuffer buffer;
  buffer.planes.push_back(std::move(small.mapping));
  EXPECT_FALSE(layout_of(f, buffer).ok());
}

TEST(PictureLayout, LinearIsPreferredToTiled) {
  EXPECT_LT(capture_format_rank(V4L2_PIX_FMT_NV12), capture_format_rank(V4L2_PIX_FMT_NV12M));
  EXPECT_LT(capture_format_rank(V4L2_PIX_FMT_NV12M), capture_format_rank(V4L2_PIX_FMT_NV12_32L32));
  EXPECT_LT(capture_format_rank(V4L2_PIX_FMT_NV12_32L32), capture_format_rank(V4L2_PIX_FMT_MM21));
  EXPECT_EQ(capture_format_rank(V4L2_PIX_FMT_YUYV), -1);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, PictureLayoutTest,
    ::testing::Values(Case{V4L2_PIX_FMT_NV12, 176, 144}, Case{V4L2_PIX_FMT_NV12, 33, 17},
                      Case{V4L2_PIX_FMT_NV12_32L32, 176, 144}, Case{V4L2_PIX_FMT_NV12_32L32, 1920, 1080},
                      Case{V4L2_PIX_FMT_NV12_32L32, 33, 17}, Case{V4L2_PIX_FMT_NV12_32L32, 97, 65},
                      Case{V4L2_PIX_FMT_MM21, 176, 144}, Case{V4L2_PIX_FMT_MM21, 1920, 1080},
                      Case{V4L2_PIX_FMT_MM21, 17, 33}, Case{V4L2_PIX_FMT_MM21, 111, 71}),
    [](const ::testing::TestParamInfo<Case>& info) {
      const uint32_t f = info.param.pixelformat;
      const std::string name = f == V4L2_PIX_FMT_NV12 ? "NV12" : f == V4L2_PIX_FMT_MM21 ? "MM21" : "NV12_32L32";
      return name + "_" + std::to_string(info.param.width) + "x" + std::to_string(info.param.height);
    });

}  // namespace
}  // namespace v4l2va

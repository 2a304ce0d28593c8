// The CAPTURE layouts the backend writes (capture_layout.h) against
// references written from the kernel's own descriptions, independently of
// the writer's address arithmetic:
// - pixfmt-yuv-planar.rst, "Tiled NV12": "Each tile follows the previous one
//   linearly in memory (from left to right, top to bottom)"; NV12_32L32
//   "stores pixels in 32x32 tiles ... The layouts of the luma and chroma
//   planes are identical"; MM21 "store luma pixel in 16x32 tiles, and chroma
//   pixels in 16x16 tiles ... The number of luma and chroma tiles are identical".
// - drm_fourcc.h, DRM_FORMAT_MOD_ALLWINNER_TILED: "luminance samples are
//   disposed in tiles representing 32x32 pixels and the chrominance samples
//   in tiles representing 32x64 pixels. The pixel order in each tile is
//   linear and the tiles are disposed linearly, both in row-major order."
// Odd sizes included: a picture narrower or shorter than a tile, and sizes
// that end inside a tile.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "capture_layout.h"

namespace emu {
namespace {

constexpr uint8_t kUntouched = 0xee;

uint32_t align_to(uint32_t value, uint32_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// A picture plane whose every byte says where it came from.
std::vector<uint8_t> make_plane(uint32_t width, uint32_t rows) {
  std::vector<uint8_t> plane(static_cast<size_t>(width) * rows);
  for (uint32_t y = 0; y < rows; ++y)
    for (uint32_t x = 0; x < width; ++x)
      plane[static_cast<size_t>(y) * width + x] = static_cast<uint8_t>(x * 7 + y * 13 + 1);
  return plane;
}

// The reference: walk memory tile after tile, as the description orders
// them, and fill each tile row-major from the picture.
std::vector<uint8_t> reference_tiled(const std::vector<uint8_t>& picture, uint32_t width,
                                     uint32_t rows, uint32_t pitch, uint32_t padded_rows,
                                     uint32_t tile_width, uint32_t tile_height) {
  std::vector<uint8_t> memory(static_cast<size_t>(pitch) * padded_rows, kUntouched);
  const uint32_t tiles_across = pitch / tile_width;
  const uint32_t tiles_down = padded_rows / tile_height;
  size_t address = 0;
  for (uint32_t tile_row = 0; tile_row < tiles_down; ++tile_row) {
    for (uint32_t tile_column = 0; tile_column < tiles_across; ++tile_column) {
      for (uint32_t line = 0; line < tile_height; ++line) {
        for (uint32_t byte = 0; byte < tile_width; ++byte, ++address) {
          const uint32_t x = tile_column * tile_width + byte;
          const uint32_t y = tile_row * tile_height + line;
          if (x < width && y < rows) memory[address] = picture[static_cast<size_t>(y) * width + x];
        }
      }
    }
  }
  return memory;
}

std::vector<uint8_t> written(CaptureLayout layout, PlaneKind plane,
                             const std::vector<uint8_t>& picture, uint32_t width, uint32_t rows,
                             uint32_t pitch, uint32_t padded_rows) {
  std::vector<uint8_t> memory(static_cast<size_t>(pitch) * padded_rows, kUntouched);
  EXPECT_LE(plane_extent(layout, plane, pitch, width, rows), memory.size());
  for (uint32_t y = 0; y < rows; ++y)
    write_plane_row(layout, plane, memory.data(), pitch, y,
                    picture.data() + static_cast<size_t>(y) * width, width);
  return memory;
}

struct Size {
  uint32_t width, height;  // pixels
};
// 1x1 and sizes ending inside a tile, a picture smaller than one tile, and
// the conformance set's 176x144 and 1920x1080.
const Size kSizes[] = {{1, 1}, {15, 17}, {16, 32}, {17, 33}, {33, 65}, {50, 30},
                       {176, 144}, {178, 146}, {720, 576}, {1920, 1080}};

// cedrus_prepare_format() for NV12_32L32: pitch ALIGN(width, 32), luma of
// ALIGN(height, 32) lines, chroma of ALIGN(height, 64) / 2 lines.
TEST(CaptureLayout, Nv12_32L32MatchesTheTiledNv12Description) {
  for (const Size& size : kSizes) {
    SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
    const uint32_t pitch = align_to(size.width, 32);
    const uint32_t luma_rows = align_to(size.height, 32);
    const auto luma = make_plane(size.width, size.height);
    EXPECT_EQ(written(CaptureLayout::NV12_32L32, PlaneKind::Luma, luma, size.width, size.height,
                      pitch, luma_rows),
              reference_tiled(luma, size.width, size.height, pitch, luma_rows, 32, 32));
    // Interleaved CbCr: as many bytes per row as luma, half the rows.
    const uint32_t chroma_width = align_to(size.width, 2), chroma_rows = (size.height + 1) / 2;
    const uint32_t padded_chroma_rows = align_to(luma_rows, 64) / 2;
    const auto chroma = make_plane(chroma_width, chroma_rows);
    EXPECT_EQ(written(CaptureLayout::NV12_32L32, PlaneKind::Chroma, chroma, chroma_width,
                      chroma_rows, pitch, padded_chroma_rows),
              reference_tiled(chroma, chroma_width, chroma_rows, pitch, padded_chroma_rows, 32, 32));
  }
}

// MM21 as mtk-vcodec allocates it (vdec_h264_req_if.c get_pic_info()):
// pitch and height aligned to 64, two planes of buf_w * buf_h and half that.
TEST(CaptureLayout, Mm21MatchesTheTiledNv12Description) {
  for (const Size& size : kSizes) {
    SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
    const uint32_t pitch = align_to(size.width, 64), buffer_rows = align_to(size.height, 64);
    const auto luma = make_plane(size.width, size.height);
    EXPECT_EQ(written(CaptureLayout::MM21, PlaneKind::Luma, luma, size.width, size.height, pitch,
                      buffer_rows),
              reference_tiled(luma, size.width, size.height, pitch, buffer_rows, 16, 32));
    const uint32_t chroma_width = align_to(size.width, 2), chroma_rows = (size.height + 1) / 2;
    const auto chroma = make_plane(chroma_width, chroma_rows);
    EXPECT_EQ(written(CaptureLayout::MM21, PlaneKind::Chroma, chroma, chroma_width, chroma_rows,
                      pitch, buffer_rows / 2),
              reference_tiled(chroma, chroma_width, chroma_rows, pitch, buffer_rows / 2, 16, 16));
    // "The number of luma and chroma tiles are identical."
    EXPECT_EQ((pitch / 16) * (buffer_rows / 32), (pitch / 16) * (buffer_rows / 2 / 16));
  }
}

TEST(CaptureLayout, LinearNv12IsRowAfterRow) {
  for (const Size& size : kSizes) {
    const uint32_t pitch = align_to(size.width, 16) + 16;
    const auto luma = make_plane(size.width, size.height);
    const auto memory =
        written(CaptureLayout::NV12, PlaneKind::Luma, luma, size.width, size.height, pitch, size.height);
    for (uint32_t y = 0; y < size.height; ++y)
      for (uint32_t x = 0; x < pitch; ++x)
        ASSERT_EQ(memory[static_cast<size_t>(y) * pitch + x],
                  x < size.width ? luma[static_cast<size_t>(y) * size.width + x] : kUntouched);
  }
}

// DRM_FORMAT_MOD_ALLWINNER_TILED, in pixel terms: the chroma sample of pixel
// (px, py) lies in the tile of 32x64 pixels holding it, at its row-major
// place there (16 CbCr pairs of 2 bytes per tile row).
TEST(CaptureLayout, Nv12_32L32ChromaTilesCover32x64Pixels) {
  const uint32_t pitch = 192;  // 176 pixels, ALIGN(176, 32)
  for (uint32_t py = 0; py < 144; py += 3) {
    for (uint32_t px = 0; px < 176; px += 5) {
      const size_t tile = static_cast<size_t>(py / 64) * (pitch / 32) + px / 32;
      const size_t expected = tile * 32 * 32 + ((py % 64) / 2) * 32 + (px % 32) / 2 * 2;
      ASSERT_EQ(plane_offset(CaptureLayout::NV12_32L32, PlaneKind::Chroma, pitch, px / 2 * 2, py / 2),
                expected)
          << "pixel " << px << "," << py;
    }
  }
}

TEST(CaptureLayout, PitchMustBeWholeTiles) {
  EXPECT_TRUE(pitch_fits(CaptureLayout::NV12, 177));
  EXPECT_TRUE(pitch_fits(CaptureLayout::NV12_32L32, 192));
  EXPECT_FALSE(pitch_fits(CaptureLayout::NV12_32L32, 176));
  EXPECT_TRUE(pitch_fits(CaptureLayout::MM21, 176));
  EXPECT_FALSE(pitch_fits(CaptureLayout::MM21, 168));
}

// A plane's extent: whole tile rows for the tiled layouts.
TEST(CaptureLayout, ExtentCoversWholeTileRows) {
  EXPECT_EQ(plane_extent(CaptureLayout::NV12, PlaneKind::Luma, 192, 176, 144), 143u * 192 + 176);
  EXPECT_EQ(plane_extent(CaptureLayout::NV12_32L32, PlaneKind::Luma, 192, 176, 144), 160u * 192);
  EXPECT_EQ(plane_extent(CaptureLayout::MM21, PlaneKind::Luma, 192, 176, 144), 160u * 192);
  EXPECT_EQ(plane_extent(CaptureLayout::MM21, PlaneKind::Chroma, 192, 176, 72), 80u * 192);
}

}  // namespace
}  // namespace emu

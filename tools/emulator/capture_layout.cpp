#include "capture_layout.h"

#include <algorithm>
#include <cstring>

namespace emu {

TileShape tile_shape(CaptureLayout layout, PlaneKind plane) {
  switch (layout) {
    case CaptureLayout::NV12:
      return {1, 1};
    case CaptureLayout::NV12_32L32:
      return {32, 32};  // both planes: "The layouts of the luma and chroma planes are identical"
    case CaptureLayout::MM21:
      return plane == PlaneKind::Luma ? TileShape{16, 32} : TileShape{16, 16};
  }
  return {1, 1};
}

size_t plane_offset(CaptureLayout layout, PlaneKind plane, uint32_t pitch, uint32_t x, uint32_t y) {
  const TileShape tile = tile_shape(layout, plane);
  const size_t tile_bytes = static_cast<size_t>(tile.width) * tile.height;
  const size_t tiles_per_row = pitch / tile.width;
  const size_t tile_index = static_cast<size_t>(y / tile.height) * tiles_per_row + x / tile.width;
  return tile_index * tile_bytes + static_cast<size_t>(y % tile.height) * tile.width + x % tile.width;
}

size_t plane_extent(CaptureLayout layout, PlaneKind plane, uint32_t pitch, uint32_t width,
                    uint32_t rows) {
  if (rows == 0 || width == 0) return 0;
  if (layout == CaptureLayout::NV12) return static_cast<size_t>(rows - 1) * pitch + width;
  const TileShape tile = tile_shape(layout, plane);
  const size_t tile_rows = (rows + tile.height - 1) / tile.height;
  return tile_rows * tile.height * static_cast<size_t>(pitch);
}

bool pitch_fits(CaptureLayout layout, uint32_t pitch) {
  const TileShape luma = tile_shape(layout, PlaneKind::Luma);
  const TileShape chroma = tile_shape(layout, PlaneKind::Chroma);
  return pitch % luma.width == 0 && pitch % chroma.width == 0;
}

void write_plane_row(CaptureLayout layout, PlaneKind plane, uint8_t* base, uint32_t pitch,
                     uint32_t y, const uint8_t* row, uint32_t width) {
  const TileShape tile = tile_shape(layout, plane);
  // A linear row is contiguous; a tiled row is contiguous within each tile.
  const uint32_t run_length = tile.width == 1 ? width : tile.width;
  for (uint32_t x = 0; x < width; x += run_length)
    std::memcpy(base + plane_offset(layout, plane, pitch, x, y), row + x,
                std::min(run_length, width - x));
}

}  // namespace emu

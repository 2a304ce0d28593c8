#include "v4l2/picture_layout.h"

#include <linux/videodev2.h>

#include <algorithm>
#include <cstring>

namespace v4l2va {
namespace {

uint32_t align_up(uint32_t value, uint32_t alignment) { return (value + alignment - 1) / alignment * alignment; }

// Bytes a plane of `lines` lines needs: whole rows of tiles for a tiled one.
size_t plane_bytes(uint32_t stride, uint32_t lines, TileSize tile) {
  const uint32_t rows = tile.height ? align_up(lines, tile.height) : lines;
  return size_t(stride) * rows;
}

}  // namespace

int capture_format_rank(uint32_t pixelformat) {
  switch (pixelformat) {
    case V4L2_PIX_FMT_NV12: return 0;
    case V4L2_PIX_FMT_NV12M: return 1;
    case V4L2_PIX_FMT_NV12_32L32: return 2;
    case V4L2_PIX_FMT_MM21: return 3;
    default: return -1;
  }
}

bool is_supported_capture_format(uint32_t pixelformat) { return capture_format_rank(pixelformat) >= 0; }

Result<PictureLayout> layout_of(const Format& f, const MappedBuffer& buffer) {
  PictureLayout layout;
  layout.pixelformat = f.pixelformat;
  TileSize luma_tile, chroma_tile;
  bool two_buffers = false;
  switch (f.pixelformat) {
    case V4L2_PIX_FMT_NV12: break;
    case V4L2_PIX_FMT_NV12M: two_buffers = true; break;
    case V4L2_PIX_FMT_NV12_32L32:
      luma_tile = chroma_tile = {32, 32};
      break;
    case V4L2_PIX_FMT_MM21:
      luma_tile = {16, 32};
      chroma_tile = {16, 16};
      two_buffers = true;
      break;
    default:
      return Failed{VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT};
  }
  if (buffer.planes.size() < (two_buffers ? 2u : 1u) || f.num_planes < (two_buffers ? 2u : 1u))
    return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
  const uint32_t chroma_lines = (f.height + 1) / 2;
  layout.luma = {buffer.planes[0].data(), f.planes[0].bytesperline, luma_tile,
                 plane_bytes(f.planes[0].bytesperline, f.height, luma_tile)};
  if (two_buffers) {
    layout.chroma = {buffer.planes[1].data(), f.planes[1].bytesperline, chroma_tile,
                     plane_bytes(f.planes[1].bytesperline, chroma_lines, chroma_tile)};
    if (layout.luma.size > buffer.planes[0].size() || layout.chroma.size > buffer.planes[1].size())
      return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
  } else {
    // The chroma plane follows the luma plane's whole rows of tiles.
    const size_t luma_bytes = layout.luma.size;
    layout.chroma = {buffer.planes[0].data() + luma_bytes, f.planes[0].bytesperline, chroma_tile,
                     plane_bytes(f.planes[0].bytesperline, chroma_lines, chroma_tile)};
    if (luma_bytes + layout.chroma.size > buffer.planes[0].size()) return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
  }
  if (layout.luma.stride < f.width || (luma_tile.width && layout.luma.stride % luma_tile.width))
    return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
  return layout;
}

void read_plane_line(const PlaneLayout& plane, uint32_t x, uint32_t line, uint32_t bytes, uint8_t* dst) {
  const TileSize tile = plane.tile;
  if (tile.width == 0) {
    std::memcpy(dst, plane.base + size_t(line) * plane.stride + x, bytes);
    return;
  }
  // Tiles are row-major and so are the bytes inside one: a row of tiles is
  // stride * tile.height bytes, one tile tile.width * tile.height.
  const uint8_t* tile_row = plane.base + size_t(line / tile.height) * plane.stride * tile.height;
  const size_t line_in_tile = size_t(line % tile.height) * tile.width;
  while (bytes > 0) {
    const uint32_t column = x / tile.width;
    const uint32_t inside = x % tile.width;
    const uint32_t run = std::min(bytes, tile.width - inside);
    std::memcpy(dst, tile_row + size_t(column) * tile.width * tile.height + line_in_tile + inside, run);
    dst += run;
    x += run;
    bytes -= run;
  }
}

}  // namespace v4l2va

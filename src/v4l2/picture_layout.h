// Where the samples of a decoded NV12-family picture are in a CAPTURE buffer,
// for every layout a stateless decoder writes, and reading rows of it back as
// linear NV12. The layouts, from the kernel's descriptions:
//
// - NV12 / NV12M: linear; NV12 keeps the chroma plane right after
//   `height` luma lines of the same buffer, NV12M in a second buffer.
// - NV12_32L32 (cedrus without CEDRUS_CAPABILITY_UNTILED; pixfmt-yuv-planar.rst,
//   drm_fourcc.h DRM_FORMAT_MOD_ALLWINNER_TILED): both planes in 32x32-byte
//   tiles, tiles row-major, pixels row-major inside a tile; stride and height
//   aligned to 32; one buffer, chroma after `height` luma lines.
// - MM21 (mtk-vcodec; pixfmt-yuv-planar.rst): luma in 16x32-byte tiles,
//   chroma in 16x16-byte tiles, both row-major; two buffers.
#pragma once

#include <cstdint>

#include "v4l2/queue.h"
#include "v4l2/result.h"

namespace v4l2va {

struct TileSize {
  uint32_t width = 0;   // bytes; 0 for a linear plane
  uint32_t height = 0;  // lines
};

// One plane: its first byte, its line stride and how it is tiled.
struct PlaneLayout {
  const uint8_t* base = nullptr;
  uint32_t stride = 0;
  TileSize tile;
  size_t size = 0;  // bytes the buffer has for this plane
};

struct PictureLayout {
  uint32_t pixelformat = 0;
  PlaneLayout luma;
  PlaneLayout chroma;  // interleaved CbCr, half the lines
  bool linear() const { return luma.tile.width == 0; }
};

// The CAPTURE pixel formats the driver can present as NV12 surfaces, in the
// order it prefers them: linear first.
bool is_supported_capture_format(uint32_t pixelformat);
int capture_format_rank(uint32_t pixelformat);  // lower is better; -1 if unsupported

// The layout of one CAPTURE buffer of format `f`, or an error when the
// buffer is too small for the format's picture (a device that lies).
Result<PictureLayout> layout_of(const Format& f, const MappedBuffer& buffer);

// Copies `bytes` bytes of line `line` of a plane, from byte `x`, to `dst`.
// The caller keeps x + bytes within the picture's width and `line` within
// its height.
void read_plane_line(const PlaneLayout& plane, uint32_t x, uint32_t line, uint32_t bytes, uint8_t* dst);

}  // namespace v4l2va

// How a decoded picture lies in CAPTURE memory, per pixel format: linear
// NV12, Allwinner's NV12_32L32 and MediaTek's MM21. The backend writes rows
// through this; a driver that detiles wrongly therefore fails the MD5.
//
// Sources (Linux 6.12):
// - NV12_32L32: Documentation/userspace-api/media/v4l/pixfmt-yuv-planar.rst
//   ("stores pixels in 32x32 tiles, and stores tiles linearly in memory ...
//   The layouts of the luma and chroma planes are identical"), and
//   DRM_FORMAT_MOD_ALLWINNER_TILED in include/uapi/drm/drm_fourcc.h (luma
//   tiles of 32x32 pixels, chroma tiles of 32x64 pixels, i.e. 32 bytes of
//   interleaved CbCr by 32 lines; tiles and pixels in row-major order).
// - MM21: the same .rst ("luma pixel in 16x32 tiles, and chroma pixels in
//   16x16 tiles ... The number of luma and chroma tiles are identical ...
//   two non-contiguous planes") with the tiles laid out linearly, left to
//   right then top to bottom, like every "Tiled NV12" format there.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emu {

enum class CaptureLayout { NV12, NV12_32L32, MM21 };
enum class PlaneKind { Luma, Chroma };  // chroma: interleaved CbCr, half the rows

struct TileShape {
  uint32_t width = 1;   // bytes
  uint32_t height = 1;  // rows
};

// The tile of one plane (1x1 for a linear layout).
TileShape tile_shape(CaptureLayout layout, PlaneKind plane);

// Byte offset of byte `x` of row `y` in a plane of `pitch` bytes per row.
size_t plane_offset(CaptureLayout layout, PlaneKind plane, uint32_t pitch, uint32_t x, uint32_t y);

// Bytes a plane of `rows` rows and `width` bytes per row occupies, from its
// start to the end of its last byte (whole tile rows for a tiled layout).
size_t plane_extent(CaptureLayout layout, PlaneKind plane, uint32_t pitch, uint32_t width,
                    uint32_t rows);

// Whether `pitch` is usable for the layout (a whole number of tiles).
bool pitch_fits(CaptureLayout layout, uint32_t pitch);

// Copies `width` bytes of row `y` from `row` into `plane`.
void write_plane_row(CaptureLayout layout, PlaneKind plane, uint8_t* base, uint32_t pitch,
                     uint32_t y, const uint8_t* row, uint32_t width);

}  // namespace emu

// The dma-buf formats and modifiers the test-only EGL import layer accepts,
// and how their planes are laid out in memory. Pure data, no EGL or GL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace egl_dmabuf {

// One plane of a DRM format: bytes per pixel and subsampling
// (include/uapi/drm/drm_fourcc.h describes each format's planes).
struct PlaneFormat {
  uint32_t bytes_per_pixel = 1;
  uint32_t horizontal_subsampling = 1;
  uint32_t vertical_subsampling = 1;
};

struct FormatInfo {
  uint32_t fourcc = 0;
  uint32_t plane_count = 1;
  PlaneFormat planes[3];
  // Can be the source of a GL_TEXTURE_2D (Mesa samples multi-planar YUV
  // only through GL_TEXTURE_EXTERNAL_OES; so does this layer: not at all).
  bool texture_2d = true;
};

// nullptr when the layer does not import this fourcc.
const FormatInfo* find_format(uint32_t fourcc);

// Every fourcc eglQueryDmaBufFormatsEXT reports, in a fixed order.
std::vector<uint32_t> supported_formats();

// DRM_FORMAT_MOD_ALLWINNER_TILED (drm_fourcc.h: fourcc_mod_code(ALLWINNER, 1)):
// 32x32-byte tiles, row-major inside a tile and across tiles, the layout of
// V4L2_PIX_FMT_NV12_32L32 (Documentation/userspace-api/media/v4l/pixfmt-yuv-planar.rst,
// "Tiled NV12": luma and chroma planes tiled alike).
inline constexpr uint64_t kModifierLinear = 0;
inline constexpr uint64_t kModifierAllwinnerTiled = (uint64_t{0x09} << 56) | 1;
inline constexpr uint64_t kModifierInvalid = 0x00ffffffffffffffULL;
inline constexpr uint32_t kAllwinnerTileSize = 32;

// The modifiers this layer imports for a format (what
// eglQueryDmaBufModifiersEXT reports); empty for an unknown format.
std::vector<uint64_t> supported_modifiers(uint32_t fourcc);
bool modifier_supported(uint32_t fourcc, uint64_t modifier);

// "R8", "GR88", ... (the fourcc's characters, trailing blanks dropped).
std::string fourcc_name(uint32_t fourcc);
std::string modifier_name(uint64_t modifier);

// Size of plane `index` of a width x height image: bytes of one row of
// pixels (no padding) and number of rows.
struct PlaneExtent {
  uint32_t row_bytes = 0;
  uint32_t rows = 0;
};
PlaneExtent plane_extent(const FormatInfo& format, uint32_t index, uint32_t width, uint32_t height);

// Where a plane's pixels sit in its dma-buf.
struct PlaneLocation {
  uint64_t offset = 0;
  uint32_t pitch = 0;
};

// Bytes of the dma-buf a plane reaches into, from its offset (for a tiled
// plane: whole tile rows); nullopt with `why` set when pitch and layout
// cannot describe the plane (pitch shorter than a row, a tiled pitch that
// is not a whole number of tiles).
std::optional<uint64_t> plane_end(const PlaneExtent& extent, const PlaneLocation& location, uint64_t modifier,
                                  std::string& why);

// Copies a plane out of a mapped dma-buf into packed rows (row_bytes each),
// undoing the tiling of `modifier`. `source` is the whole buffer, already
// checked against plane_end().
std::vector<uint8_t> read_plane(const uint8_t* source, const PlaneExtent& extent, const PlaneLocation& location,
                                uint64_t modifier);

// The inverse, for tests: lays packed rows out in a buffer of `buffer_size`
// bytes the way the decoder would.
std::vector<uint8_t> write_plane(const std::vector<uint8_t>& packed, const PlaneExtent& extent,
                                 const PlaneLocation& location, uint64_t modifier, size_t buffer_size);

}  // namespace egl_dmabuf

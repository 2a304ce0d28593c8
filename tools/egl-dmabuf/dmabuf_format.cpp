#include "dmabuf_format.h"

#include <drm_fourcc.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace egl_dmabuf {
namespace {

// drm_fourcc.h: R8 "[7:0] R", GR88 "[15:0] G:R 8:8 little endian" (bytes R, G),
// RG88 (bytes G, R), the 32-bit RGB formats (bytes B, G, R, A/X for
// [AX]RGB8888), NV12 (Y plane, then interleaved Cb:Cr at half resolution).
const FormatInfo kFormats[] = {
    {DRM_FORMAT_R8, 1, {{1, 1, 1}}, true},
    {DRM_FORMAT_GR88, 1, {{2, 1, 1}}, true},
    {DRM_FORMAT_RG88, 1, {{2, 1, 1}}, true},
    {DRM_FORMAT_ARGB8888, 1, {{4, 1, 1}}, true},
    {DRM_FORMAT_XRGB8888, 1, {{4, 1, 1}}, true},
    {DRM_FORMAT_ABGR8888, 1, {{4, 1, 1}}, true},
    {DRM_FORMAT_XBGR8888, 1, {{4, 1, 1}}, true},
    {DRM_FORMAT_NV12, 2, {{1, 1, 1}, {2, 2, 2}}, false},
};

bool is_yuv_plane_format(uint32_t fourcc) {
  // The formats a tiled video decoder writes: NV12 and its planes as
  // imported one by one (Y as R8, CbCr as GR88).
  return fourcc == DRM_FORMAT_R8 || fourcc == DRM_FORMAT_GR88 || fourcc == DRM_FORMAT_NV12;
}

uint32_t divide_round_up(uint32_t value, uint32_t divisor) { return (value + divisor - 1) / divisor; }

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

// Byte (x, y) of a plane in 32x32-byte tiles: tiles follow each other left
// to right, then top to bottom; one tile row spans pitch * 32 bytes.
uint64_t tiled_offset(uint32_t x, uint32_t y, uint32_t pitch) {
  const uint32_t t = kAllwinnerTileSize;
  return uint64_t(y / t) * pitch * t + uint64_t(x / t) * t * t + uint64_t(y % t) * t + x % t;
}

}  // namespace

const FormatInfo* find_format(uint32_t fourcc) {
  for (const FormatInfo& f : kFormats)
    if (f.fourcc == fourcc) return &f;
  return nullptr;
}

std::vector<uint32_t> supported_formats() {
  std::vector<uint32_t> out;
  for (const FormatInfo& f : kFormats) out.push_back(f.fourcc);
  return out;
}

std::vector<uint64_t> supported_modifiers(uint32_t fourcc) {
  if (!find_format(fourcc)) return {};
  if (is_yuv_plane_format(fourcc)) return {kModifierLinear, kModifierAllwinnerTiled};
  return {kModifierLinear};
}

bool modifier_supported(uint32_t fourcc, uint64_t modifier) {
  auto list = supported_modifiers(fourcc);
  return std::find(list.begin(), list.end(), modifier) != list.end();
}

std::string fourcc_name(uint32_t fourcc) {
  std::string name;
  for (int i = 0; i < 4; ++i) name += static_cast<char>((fourcc >> (8 * i)) & 0xff);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return name;
}

std::string modifier_name(uint64_t modifier) {
  if (modifier == kModifierLinear) return "linear";
  if (modifier == kModifierAllwinnerTiled) return "allwinner-tiled";
  char text[32];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(modifier));
  return text;
}

PlaneExtent plane_extent(const FormatInfo& format, uint32_t index, uint32_t width, uint32_t height) {
  const PlaneFormat& p = format.planes[index];
  return {divide_round_up(width, p.horizontal_subsampling) * p.bytes_per_pixel,
          divide_round_up(height, p.vertical_subsampling)};
}

std::optional<uint64_t> plane_end(const PlaneExtent& extent, const PlaneLocation& location, uint64_t modifier,
                                  std::string& why) {
  if (location.pitch < extent.row_bytes) {
    why = "pitch " + std::to_string(location.pitch) + " is shorter than a row of " + std::to_string(extent.row_bytes) +
          " bytes";
    return std::nullopt;
  }
  if (extent.rows == 0 || extent.row_bytes == 0) {
    why = "empty plane";
    return std::nullopt;
  }
  if (modifier == kModifierAllwinnerTiled) {
    if (location.pitch % kAllwinnerTileSize != 0) {
      why = "tiled pitch " + std::to_string(location.pitch) + " is not a multiple of 32";
      return std::nullopt;
    }
    return location.offset + uint64_t(location.pitch) * align_up(extent.rows, kAllwinnerTileSize);
  }
  return location.offset + uint64_t(location.pitch) * (extent.rows - 1) + extent.row_bytes;
}

std::vector<uint8_t> read_plane(const uint8_t* source, const PlaneExtent& extent, const PlaneLocation& location,
                                uint64_t modifier) {
  std::vector<uint8_t> packed(size_t(extent.row_bytes) * extent.rows);
  const uint8_t* base = source + location.offset;
  for (uint32_t y = 0; y < extent.rows; ++y) {
    uint8_t* row = packed.data() + size_t(y) * extent.row_bytes;
    if (modifier != kModifierAllwinnerTiled) {
      std::memcpy(row, base + uint64_t(y) * location.pitch, extent.row_bytes);
      continue;
    }
    // Inside a tile a row of 32 bytes is contiguous: copy tile-row pieces.
    for (uint32_t x = 0; x < extent.row_bytes; x += kAllwinnerTileSize) {
      uint32_t n = std::min(kAllwinnerTileSize, extent.row_bytes - x);
      std::memcpy(row + x, base + tiled_offset(x, y, location.pitch), n);
    }
  }
  return packed;
}

std::vector<uint8_t> write_plane(const std::vector<uint8_t>& packed, const PlaneExtent& extent,
                                 const PlaneLocation& location, uint64_t modifier, size_t buffer_size) {
  std::vector<uint8_t> buffer(buffer_size, 0);
  uint8_t* base = buffer.data() + location.offset;
  for (uint32_t y = 0; y < extent.rows; ++y) {
    const uint8_t* row = packed.data() + size_t(y) * extent.row_bytes;
    if (modifier != kModifierAllwinnerTiled) {
      std::memcpy(base + uint64_t(y) * location.pitch, row, extent.row_bytes);
      continue;
    }
    for (uint32_t x = 0; x < extent.row_bytes; x += kAllwinnerTileSize) {
      uint32_t n = std::min(kAllwinnerTileSize, extent.row_bytes - x);
      std::memcpy(base + tiled_offset(x, y, location.pitch), row + x, n);
    }
  }
  return buffer;
}

}  // namespace egl_dmabuf

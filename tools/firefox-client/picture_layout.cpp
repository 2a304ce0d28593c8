#include "picture_layout.h"

#include <drm_fourcc.h>

#include <cstdio>

namespace firefox_client {
namespace {

std::string FourccText(uint32_t fourcc) {
  char text[5] = {char(fourcc & 0xff), char((fourcc >> 8) & 0xff), char((fourcc >> 16) & 0xff),
                  char((fourcc >> 24) & 0xff), 0};
  return text;
}

std::string PlaneFromLayer(const VADRMPRIMESurfaceDescriptor& descriptor, uint32_t layer, uint32_t plane,
                           std::span<const std::span<const uint8_t>> objects, PlaneView& out) {
  const auto& layer_info = descriptor.layers[layer];
  const uint32_t object_index = layer_info.object_index[plane];
  if (object_index >= descriptor.num_objects || object_index >= objects.size())
    return "layer " + std::to_string(layer) + " plane " + std::to_string(plane) + " names object " +
           std::to_string(object_index) + " of " + std::to_string(descriptor.num_objects);
  if (layer_info.pitch[plane] == 0) return "layer " + std::to_string(layer) + " has pitch 0";
  out.object = objects[object_index];
  out.offset = layer_info.offset[plane];
  out.pitch = layer_info.pitch[plane];
  const uint64_t modifier = descriptor.objects[object_index].drm_format_modifier;
  if (modifier == DRM_FORMAT_MOD_ALLWINNER_TILED) {
    out.tile = 32;
    if (out.pitch % out.tile || out.offset % (out.pitch * out.tile))
      return "a tiled plane's pitch or offset is not whole tiles";
  } else if (modifier != DRM_FORMAT_MOD_LINEAR) {
    char text[64];
    std::snprintf(text, sizeof text, "unsupported format modifier 0x%016llx", static_cast<unsigned long long>(modifier));
    return text;
  }
  return {};
}

// Where byte `x` of row `row` of a plane is.
uint64_t ByteAt(const PlaneView& plane, uint32_t row, uint64_t x) {
  if (plane.tile == 0) return plane.offset + uint64_t(row) * plane.pitch + x;
  const uint64_t t = plane.tile;
  return plane.offset + (row / t) * plane.pitch * t + (x / t) * t * t + (row % t) * t + x % t;
}

// Copies `rows` rows of `row_bytes` bytes starting at (first_byte, first_row);
// `step` > 1 picks every step-th byte (one component of an interleaved plane).
std::string CopyRows(const PlaneView& plane, uint32_t first_row, uint32_t rows, uint32_t first_byte,
                     uint32_t samples, uint32_t step, std::vector<uint8_t>& out) {
  if (rows == 0 || samples == 0) return {};
  // The last byte of a tile row is the furthest one of a tiled read.
  const uint32_t last_row = first_row + rows - 1;
  const uint64_t last_x = first_byte + uint64_t(samples - 1) * step;
  const uint64_t last_byte =
      plane.tile ? ByteAt(plane, (last_row / plane.tile + 1) * plane.tile - 1, (last_x / plane.tile + 1) * plane.tile - 1)
                 : ByteAt(plane, last_row, last_x);
  if (last_byte >= plane.object.size()) {
    char text[160];
    std::snprintf(text, sizeof text, "plane read ends at byte %llu of a %zu-byte object (offset %u pitch %u)",
                  static_cast<unsigned long long>(last_byte), plane.object.size(), plane.offset, plane.pitch);
    return text;
  }
  for (uint32_t row = 0; row < rows; ++row) {
    if (plane.tile) {
      for (uint32_t sample = 0; sample < samples; ++sample)
        out.push_back(plane.object[ByteAt(plane, first_row + row, first_byte + uint64_t(sample) * step)]);
      continue;
    }
    const uint8_t* source = plane.object.data() + plane.offset + size_t(first_row + row) * plane.pitch + first_byte;
    if (step == 1) {
      out.insert(out.end(), source, source + samples);
    } else {
      for (uint32_t sample = 0; sample < samples; ++sample) out.push_back(source[size_t(sample) * step]);
    }
  }
  return {};
}

}  // namespace

std::string DescribePicture(const VADRMPRIMESurfaceDescriptor& descriptor,
                            std::span<const std::span<const uint8_t>> objects, PictureView& view) {
  view = PictureView{};
  view.width = descriptor.width;
  view.height = descriptor.height;
  if (descriptor.num_layers == 0 || descriptor.num_layers > 4) return "descriptor has no layers";
  const auto& first = descriptor.layers[0];
  std::string error;
  if (descriptor.num_layers == 1 && first.drm_format == DRM_FORMAT_NV12 && first.num_planes == 2) {
    view.chroma_layout = ChromaLayout::kInterleavedCbCr;
    if (!(error = PlaneFromLayer(descriptor, 0, 0, objects, view.luma)).empty()) return error;
    return PlaneFromLayer(descriptor, 0, 1, objects, view.chroma[0]);
  }
  if (descriptor.num_layers == 2 && first.drm_format == DRM_FORMAT_R8 &&
      descriptor.layers[1].drm_format == DRM_FORMAT_GR88) {
    // GR88 is little-endian [15:0] G:R, so byte 0 of each pair (R) is Cb: the
    // NV12 chroma plane seen as a two-channel texture.
    view.chroma_layout = ChromaLayout::kInterleavedCbCr;
    if (!(error = PlaneFromLayer(descriptor, 0, 0, objects, view.luma)).empty()) return error;
    return PlaneFromLayer(descriptor, 1, 0, objects, view.chroma[0]);
  }
  if (descriptor.num_layers == 3 && first.drm_format == DRM_FORMAT_R8 &&
      descriptor.layers[1].drm_format == DRM_FORMAT_R8 && descriptor.layers[2].drm_format == DRM_FORMAT_R8) {
    view.chroma_layout = ChromaLayout::kPlanar;
    if (!(error = PlaneFromLayer(descriptor, 0, 0, objects, view.luma)).empty()) return error;
    if (!(error = PlaneFromLayer(descriptor, 1, 0, objects, view.chroma[0])).empty()) return error;
    return PlaneFromLayer(descriptor, 2, 0, objects, view.chroma[1]);
  }
  std::string layers;
  for (uint32_t layer = 0; layer < descriptor.num_layers; ++layer)
    layers += (layer ? "," : "") + FourccText(descriptor.layers[layer].drm_format);
  return "unsupported export layout: surface " + FourccText(descriptor.fourcc) + ", layers " + layers;
}

std::string AppendPackedI420(const PictureView& view, const CropRect& crop, std::vector<uint8_t>& out) {
  if (crop.width == 0 || crop.height == 0) return "empty crop rectangle";
  if (crop.left + crop.width > view.width || crop.top + crop.height > view.height)
    return "crop rectangle exceeds the exported surface";
  std::string error = CopyRows(view.luma, crop.top, crop.height, crop.left, crop.width, 1, out);
  if (!error.empty()) return error;
  // 4:2:0: chroma is subsampled by two both ways; odd sizes round up, as
  // FFmpeg's yuv420p does.
  const uint32_t chroma_left = crop.left / 2, chroma_top = crop.top / 2;
  const uint32_t chroma_width = (crop.width + 1) / 2, chroma_height = (crop.height + 1) / 2;
  if (view.chroma_layout == ChromaLayout::kInterleavedCbCr) {
    for (uint32_t component = 0; component < 2; ++component) {
      error = CopyRows(view.chroma[0], chroma_top, chroma_height, chroma_left * 2 + component, chroma_width, 2, out);
      if (!error.empty()) return error;
    }
    return {};
  }
  for (uint32_t component = 0; component < 2; ++component) {
    error = CopyRows(view.chroma[component], chroma_top, chroma_height, chroma_left, chroma_width, 1, out);
    if (!error.empty()) return error;
  }
  return {};
}

}  // namespace firefox_client

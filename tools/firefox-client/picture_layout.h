// Where the planes of an exported picture live, and how a compositor-side
// reader turns them into packed yuv420p (the layout the conformance MD5s use).
#pragma once

#include <va/va_drmcommon.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace firefox_client {

// One plane inside one mapped dma-buf object. A tiled plane (its object's
// modifier DRM_FORMAT_MOD_ALLWINNER_TILED) stores bytes in 32x32 tiles,
// tiles and bytes inside them in row-major order (drm_fourcc.h); the reader
// undoes that as an importing GPU would.
struct PlaneView {
  std::span<const uint8_t> object;
  uint32_t offset = 0;
  uint32_t pitch = 0;
  uint32_t tile = 0;  // tile width and height in bytes/rows; 0 when linear
};

enum class ChromaLayout {
  kInterleavedCbCr,  // NV12: one plane of Cb,Cr byte pairs
  kPlanar,           // I420: a Cb plane then a Cr plane
};

struct PictureView {
  PlaneView luma;
  ChromaLayout chroma_layout = ChromaLayout::kInterleavedCbCr;
  PlaneView chroma[2];  // [0] only for kInterleavedCbCr; Cb, Cr for kPlanar
  uint32_t width = 0;   // surface size from the descriptor
  uint32_t height = 0;
};

// The visible rectangle, in luma samples, after the decoder's cropping.
struct CropRect {
  uint32_t left = 0;
  uint32_t top = 0;
  uint32_t width = 0;
  uint32_t height = 0;
};

// Fills `view` from an exported descriptor whose objects are mapped in
// `objects` (same order as descriptor.objects). Accepts NV12 exported as
// separate R8 + GR88 layers, as one composed NV12 layer, and I420 as three R8
// layers. Returns an error text, empty on success.
std::string DescribePicture(const VADRMPRIMESurfaceDescriptor& descriptor,
                            std::span<const std::span<const uint8_t>> objects, PictureView& view);

// Appends the crop rectangle of `view` as packed yuv420p (Y, then Cb, then Cr,
// no padding) to `out`. Returns an error text, empty on success; every read is
// bounds-checked against its object.
std::string AppendPackedI420(const PictureView& view, const CropRect& crop, std::vector<uint8_t>& out);

}  // namespace firefox_client

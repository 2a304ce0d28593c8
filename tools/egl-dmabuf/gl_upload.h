// Filling the texture bound to GL_TEXTURE_2D with an imported plane: what
// glEGLImageTargetTexture2DOES does for this layer's images. Leaves the
// caller's pixel-unpack state as it found it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dmabuf_format.h"

namespace egl_dmabuf {

// Looks a GL entry point up in the underlying vendor (Mesa).
using GetProcAddressFn = void* (*)(const char* name);

// How one DRM format becomes GL pixels: a GL format/type pair and the byte
// shuffle from the dma-buf's order to GL's (drm_fourcc.h gives the order).
struct GlPixelFormat {
  uint32_t gl_format = 0;          // GL_RED, GL_RG, GL_RGBA
  uint32_t sized_internal = 0;     // GL_R8, GL_RG8, GL_RGBA8 (desktop GL, GLES 3)
  uint32_t bytes_per_pixel = 1;
  uint8_t order[4] = {0, 1, 2, 3};  // GL component i comes from source byte order[i]
  bool opaque = false;              // X formats: alpha forced to 255
};
// nullopt-like: bytes_per_pixel == 0 for a format that cannot be a 2D texture.
GlPixelFormat gl_pixel_format(uint32_t fourcc);

// The packed plane turned into GL's byte order.
std::vector<uint8_t> to_gl_order(const std::vector<uint8_t>& packed, const GlPixelFormat& format);

class GlUploader {
 public:
  explicit GlUploader(GetProcAddressFn get_proc) : get_proc_(get_proc) {}
  // glTexImage2D(GL_TEXTURE_2D) with the current context; false with `why`
  // when the entry points are missing.
  bool upload(uint32_t fourcc, uint32_t width, uint32_t height, const std::vector<uint8_t>& packed,
              std::string& why);

 private:
  bool resolve(std::string& why);
  GetProcAddressFn get_proc_;
  bool resolved_ = false;
  void (*get_integerv_)(uint32_t, int32_t*) = nullptr;
  void (*pixel_storei_)(uint32_t, int32_t) = nullptr;
  void (*tex_image_2d_)(uint32_t, int32_t, int32_t, int32_t, int32_t, int32_t, uint32_t, uint32_t,
                        const void*) = nullptr;
  void (*bind_buffer_)(uint32_t, uint32_t) = nullptr;
  const uint8_t* (*get_string_)(uint32_t) = nullptr;
};

}  // namespace egl_dmabuf

// The attribute list of eglCreateImage(EGL_LINUX_DMA_BUF_EXT), read and
// checked by the rules of EGL_EXT_image_dma_buf_import (v7) and
// EGL_EXT_image_dma_buf_import_modifiers (v5). No EGL calls, no fd access.
#pragma once

#include <EGL/egl.h>
#include <EGL/eglext.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dmabuf_format.h"

namespace egl_dmabuf {

inline constexpr int kMaxPlanes = 4;  // PLANE0..PLANE3 (PLANE3 comes with the modifiers extension)

struct PlaneAttributes {
  bool has_fd = false, has_offset = false, has_pitch = false, has_modifier_lo = false, has_modifier_hi = false;
  int fd = -1;
  uint32_t offset = 0;
  uint32_t pitch = 0;
  uint32_t modifier_lo = 0, modifier_hi = 0;
};

struct DmaBufAttributes {
  bool has_width = false, has_height = false, has_fourcc = false;
  int64_t width = 0, height = 0;
  uint32_t fourcc = 0;
  PlaneAttributes planes[kMaxPlanes];
};

// Why an import is refused: the EGL error the extension names for the case
// and a sentence for the log.
struct ImportError {
  EGLint code = EGL_SUCCESS;
  std::string message;
  bool ok() const { return code == EGL_SUCCESS; }
};

// One accepted plane: the caller's fd (not owned here) and where the plane is.
struct PlaneSpec {
  int fd = -1;
  PlaneLocation location;
};

struct ImportSpec {
  const FormatInfo* format = nullptr;
  uint32_t width = 0, height = 0;
  uint64_t modifier = kModifierLinear;
  bool explicit_modifier = false;
  std::vector<PlaneSpec> planes;
};

// Reads name/value pairs up to EGL_NONE. Unknown names are EGL_BAD_PARAMETER
// (EGL 1.5, 3.9: attributes not accepted for the target); the colour hints
// are accepted and ignored (this layer does not convert colours).
ImportError parse_attributes(const std::vector<EGLAttrib>& list, DmaBufAttributes& out);

// The extension's completeness and consistency rules; fills `spec` on success.
ImportError check_attributes(const DmaBufAttributes& attributes, ImportSpec& spec);

// EGLint (eglCreateImageKHR) and EGLAttrib (eglCreateImage) lists, as one vector.
std::vector<EGLAttrib> attribute_vector(const EGLint* list);
std::vector<EGLAttrib> attribute_vector(const EGLAttrib* list);

}  // namespace egl_dmabuf

// An EGLImage made from dma-bufs by the test-only import layer: it holds its
// own duplicates of the planes' fds (the application may close its fds once
// eglCreateImage returns, EGL_EXT_image_dma_buf_import) and reads the pixels
// through mmap when a texture is made from it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dmabuf_attributes.h"
#include "v4l2/unique_fd.h"

namespace egl_dmabuf {

struct ImportedPlane {
  v4l2va::UniqueFd fd;
  PlaneLocation location;
  PlaneExtent extent;
  uint64_t buffer_size = 0;
};

// The packed pixels of every plane at the moment they were read.
struct PlaneContents {
  std::vector<std::vector<uint8_t>> planes;
};

class ImportedImage {
 public:
  // Duplicates the fds and checks every plane against its buffer's size;
  // on failure `error` says why (EGL_BAD_ACCESS: the buffer cannot hold the
  // plane or its fd cannot be used).
  static std::unique_ptr<ImportedImage> create(const ImportSpec& spec, ImportError& error);

  const FormatInfo& format() const { return *format_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint64_t modifier() const { return modifier_; }
  // "dev:inode" of plane 0's buffer: which decoder buffer this picture is in.
  const std::string& buffer_identity() const { return buffer_identity_; }

  // Maps each plane's buffer read-only between DMA_BUF_IOCTL_SYNC start and
  // end and copies the plane out, untiled. False with `why` on a failure.
  bool read(PlaneContents& out, std::string& why) const;

 private:
  ImportedImage() = default;

  const FormatInfo* format_ = nullptr;
  uint32_t width_ = 0, height_ = 0;
  uint64_t modifier_ = kModifierLinear;
  std::vector<ImportedPlane> planes_;
  std::string buffer_identity_;
};

// Lowercase hexadecimal MD5 of a byte vector.
std::string md5_hex(const std::vector<uint8_t>& bytes);

}  // namespace egl_dmabuf

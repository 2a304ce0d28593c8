#include "imported_image.h"

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern "C" {
#include <libavutil/md5.h>
}

#include <cerrno>
#include <cstring>
#include <memory>

namespace egl_dmabuf {
namespace {

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

// A dma-buf's size: lseek(SEEK_END) is how the kernel reports it
// (drivers/dma-buf/dma-buf.c, dma_buf_llseek); a memfd answers the same way.
bool buffer_size(int fd, uint64_t& size, std::string& why) {
  off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) {
    why = "lseek(SEEK_END) on fd " + std::to_string(fd) + ": " + errno_text(errno);
    return false;
  }
  size = static_cast<uint64_t>(end);
  return true;
}

// CPU access to a dma-buf is bracketed by DMA_BUF_IOCTL_SYNC
// (Documentation/driver-api/dma-buf.rst, "CPU Access to DMA Buffer Objects").
// A memfd standing in for a dma-buf answers ENOTTY, which is fine.
bool sync_buffer(int fd, uint64_t flags, std::string& why) {
  dma_buf_sync sync{};
  sync.flags = flags;
  while (::ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) != 0) {
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ENOTTY) return true;
    why = "DMA_BUF_IOCTL_SYNC on fd " + std::to_string(fd) + ": " + errno_text(errno);
    return false;
  }
  return true;
}

std::string identity_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return "?";
  return std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + ":" + std::to_string(st.st_ino);
}

}  // namespace

std::unique_ptr<ImportedImage> ImportedImage::create(const ImportSpec& spec, ImportError& error) {
  std::unique_ptr<ImportedImage> image(new ImportedImage());
  image->format_ = spec.format;
  image->width_ = spec.width;
  image->height_ = spec.height;
  image->modifier_ = spec.modifier;
  for (size_t i = 0; i < spec.planes.size(); ++i) {
    ImportedPlane plane;
    plane.location = spec.planes[i].location;
    plane.extent = plane_extent(*spec.format, static_cast<uint32_t>(i), spec.width, spec.height);
    plane.fd.reset(::fcntl(spec.planes[i].fd, F_DUPFD_CLOEXEC, 0));
    std::string why;
    if (!plane.fd.valid()) {
      error = {EGL_BAD_ACCESS, "F_DUPFD_CLOEXEC of plane " + std::to_string(i) + " fd " +
                                   std::to_string(spec.planes[i].fd) + ": " + errno_text(errno)};
      return nullptr;
    }
    if (!buffer_size(plane.fd.get(), plane.buffer_size, why)) {
      error = {EGL_BAD_ACCESS, why};
      return nullptr;
    }
    auto end = plane_end(plane.extent, plane.location, spec.modifier, why);
    if (!end) {
      error = {EGL_BAD_ACCESS, "plane " + std::to_string(i) + ": " + why};
      return nullptr;
    }
    if (*end > plane.buffer_size) {
      error = {EGL_BAD_ACCESS, "plane " + std::to_string(i) + " reaches byte " + std::to_string(*end) +
                                   " of a " + std::to_string(plane.buffer_size) + "-byte buffer"};
      return nullptr;
    }
    image->planes_.push_back(std::move(plane));
  }
  image->buffer_identity_ = identity_of(image->planes_.front().fd.get());
  return image;
}

bool ImportedImage::read(PlaneContents& out, std::string& why) const {
  out.planes.clear();
  for (size_t i = 0; i < planes_.size(); ++i) {
    const ImportedPlane& plane = planes_[i];
    void* address = ::mmap(nullptr, plane.buffer_size, PROT_READ, MAP_SHARED, plane.fd.get(), 0);
    if (address == MAP_FAILED) {
      why = "mmap of plane " + std::to_string(i) + " (" + std::to_string(plane.buffer_size) + " bytes): " +
            errno_text(errno);
      return false;
    }
    v4l2va::Mapping mapping(address, plane.buffer_size);
    if (!sync_buffer(plane.fd.get(), DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ, why)) return false;
    out.planes.push_back(read_plane(mapping.data(), plane.extent, plane.location, modifier_));
    if (!sync_buffer(plane.fd.get(), DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ, why)) return false;
  }
  return true;
}

std::string md5_hex(const std::vector<uint8_t>& bytes) {
  uint8_t digest[16];
  av_md5_sum(digest, bytes.data(), bytes.size());
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace egl_dmabuf

#include "exported_picture.h"

#include <errno.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <span>

namespace firefox_client {

std::string ExportedPicture::Export(VADisplay display, VASurfaceID surface) {
  fds_.clear();
  mappings_.clear();
  descriptor_ = {};
  VAStatus status = vaExportSurfaceHandle(display, surface, VA_SURFACE_ATTRIB_MEM_TYPE_DRM_PRIME_2,
                                          VA_EXPORT_SURFACE_READ_ONLY | VA_EXPORT_SURFACE_SEPARATE_LAYERS,
                                          &descriptor_);
  if (status != VA_STATUS_SUCCESS)
    return std::string("vaExportSurfaceHandle failed: ") + vaErrorStr(status);
  // The caller owns every object fd from here on (va.h, vaExportSurfaceHandle).
  if (descriptor_.num_objects == 0 || descriptor_.num_objects > 4)
    return "vaExportSurfaceHandle returned " + std::to_string(descriptor_.num_objects) + " objects";
  for (uint32_t object = 0; object < descriptor_.num_objects; ++object)
    fds_.emplace_back(descriptor_.objects[object].fd);

  status = vaSyncSurface(display, surface);
  if (status != VA_STATUS_SUCCESS) return std::string("vaSyncSurface failed: ") + vaErrorStr(status);

  for (uint32_t object = 0; object < descriptor_.num_objects; ++object) {
    size_t size = descriptor_.objects[object].size;
    if (size == 0) {
      const off_t end = ::lseek(fds_[object].get(), 0, SEEK_END);
      if (end <= 0) return "exported object " + std::to_string(object) + " has no size";
      size = size_t(end);
    }
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fds_[object].get(), 0);
    if (address == MAP_FAILED)
      return "mmap of exported object " + std::to_string(object) + " failed: " + std::strerror(errno);
    mappings_.emplace_back(address, size);
  }
  return {};
}

std::string ExportedPicture::SyncAll(unsigned long long flags) const {
  for (const v4l2va::UniqueFd& fd : fds_) {
    // CPU access to a dma-buf is bracketed by DMA_BUF_IOCTL_SYNC
    // (Documentation/driver-api/dma-buf.rst, "CPU Access to DMA Buffer Objects").
    dma_buf_sync sync{};
    sync.flags = flags;
    int result;
    do {
      result = ::ioctl(fd.get(), DMA_BUF_IOCTL_SYNC, &sync);
    } while (result != 0 && (errno == EINTR || errno == EAGAIN));
    // ENOTTY: not a dma-buf (the emulator's memfd-backed buffers); nothing to sync.
    if (result != 0 && errno != ENOTTY) return std::string("DMA_BUF_IOCTL_SYNC failed: ") + std::strerror(errno);
  }
  return {};
}

std::string ExportedPicture::ReadPackedI420(const CropRect& crop, std::vector<uint8_t>& out) const {
  std::vector<std::span<const uint8_t>> objects;
  for (const v4l2va::Mapping& mapping : mappings_) objects.emplace_back(mapping.data(), mapping.size());
  PictureView view;
  std::string error = DescribePicture(descriptor_, objects, view);
  if (!error.empty()) return error;
  error = SyncAll(DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
  if (!error.empty()) return error;
  error = AppendPackedI420(view, crop, out);
  const std::string end_error = SyncAll(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
  return error.empty() ? end_error : error;
}

}  // namespace firefox_client

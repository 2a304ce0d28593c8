// One decoded surface as the compositor sees it: the dma-buf fds from
// vaExportSurfaceHandle, mapped read-only, read between DMA_BUF_IOCTL_SYNC
// start and end.
#pragma once

#include <va/va.h>
#include <va/va_drmcommon.h>

#include <string>
#include <vector>

#include "picture_layout.h"
#include "v4l2/unique_fd.h"  // the driver's owning fd and mapping types

namespace firefox_client {

class ExportedPicture {
 public:
  // Exports `surface` with the flags Firefox uses, then waits for it (Firefox's
  // GetVAAPISurfaceDescriptor calls vaExportSurfaceHandle before
  // vaSyncSurface), then maps every object. Returns an error text.
  std::string Export(VADisplay display, VASurfaceID surface);

  // Appends the crop rectangle as packed yuv420p to `out`.
  std::string ReadPackedI420(const CropRect& crop, std::vector<uint8_t>& out) const;

  size_t object_count() const { return fds_.size(); }

 private:
  std::string SyncAll(unsigned long long flags) const;

  VADRMPRIMESurfaceDescriptor descriptor_{};
  std::vector<v4l2va::UniqueFd> fds_;
  std::vector<v4l2va::Mapping> mappings_;
};

}  // namespace firefox_client

#include "v4l2/device.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace v4l2va {

VAStatus status_from_errno(int err) {
  switch (err) {
    case 0: return VA_STATUS_SUCCESS;
    case ENOMEM: return VA_STATUS_ERROR_ALLOCATION_FAILED;
    case EBUSY: return VA_STATUS_ERROR_SURFACE_BUSY;
    case ETIMEDOUT: return VA_STATUS_ERROR_TIMEDOUT;
    case ENOENT:
    case ENODEV:
    case ENXIO: return VA_STATUS_ERROR_INVALID_DISPLAY;
    default: return VA_STATUS_ERROR_OPERATION_FAILED;
  }
}

int xioctl(int fd, unsigned long request, void* arg) {
  int rc;
  do {
    rc = ::ioctl(fd, request, arg);
  } while (rc < 0 && errno == EINTR);
  return rc < 0 ? errno : 0;
}

VAStatus VideoDevice::open(const std::string& path, Log& log, std::unique_ptr<VideoDevice>& out) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    log.errorf("open of video node %s failed: %s", path.c_str(), std::strerror(err));
    return status_from_errno(err);
  }
  out = std::make_unique<VideoDevice>(std::move(fd), path, log);
  return VA_STATUS_SUCCESS;
}

void VideoDevice::log_failure(const char* name, const std::string& what, int err) const {
  log_.errorf("%s on %s (%s) failed: %s (errno %d)", name, path_.c_str(), what.c_str(), std::strerror(err), err);
}

VAStatus MediaDevice::open(const std::string& path, Log& log, std::unique_ptr<MediaDevice>& out) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    log.errorf("open of media node %s failed: %s", path.c_str(), std::strerror(err));
    return status_from_errno(err);
  }
  out = std::make_unique<MediaDevice>(std::move(fd), path, log);
  return VA_STATUS_SUCCESS;
}

void MediaDevice::log_failure(const char* name, const std::string& what, int err) const {
  log_.errorf("%s on %s (%s) failed: %s (errno %d)", name, path_.c_str(), what.c_str(), std::strerror(err), err);
}

VAStatus MediaDevice::allocate_request(UniqueFd& out) const {
  int request_fd = -1;
  int err = xioctl(fd_.get(), MEDIA_IOC_REQUEST_ALLOC, &request_fd);
  if (err) {
    log_.errorf("MEDIA_IOC_REQUEST_ALLOC on %s failed: %s (errno %d)", path_.c_str(), std::strerror(err), err);
    return status_from_errno(err);
  }
  out.reset(request_fd);
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va

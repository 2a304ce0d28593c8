// The V4L2 side of one decoder: its video node (one m2m instance per open)
// and its media node (where requests are allocated). Every ioctl goes
// through here so that each failure is logged once with the ioctl name,
// errno and the object it concerned, and turned into a VA status.
#pragma once

#include <linux/media.h>
#include <linux/videodev2.h>
#include <va/va.h>

#include <compare>
#include <memory>
#include <cstdint>
#include <string>

#include "log.h"
#include "v4l2/unique_fd.h"

namespace v4l2va {

// Buffer indices of the two queues are distinct types, and neither converts
// to a VASurfaceID: mixing them up was a classic bug of earlier drivers.
template <class Tag>
struct BufferIndex {
  uint32_t value = 0;
  auto operator<=>(const BufferIndex&) const = default;
};
using OutputIndex = BufferIndex<struct OutputQueueTag>;
using CaptureIndex = BufferIndex<struct CaptureQueueTag>;

VAStatus status_from_errno(int err);

// Calls ioctl, retrying on EINTR. Returns 0 or the errno.
int xioctl(int fd, unsigned long request, void* arg);

class VideoDevice {
 public:
  VideoDevice(UniqueFd fd, std::string path, Log& log) : fd_(std::move(fd)), path_(std::move(path)), log_(log) {}

  // Opens the node non-blocking (DQBUF must never block: completion is
  // awaited on the request fd, with a bound).
  static VAStatus open(const std::string& path, Log& log, std::unique_ptr<VideoDevice>& out);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  Log& log() const { return log_; }

  // Runs the ioctl; on failure logs "<name> on <path> (<what>): <strerror>"
  // unless the errno is in `quiet`, and returns the errno.
  int call(unsigned long request, void* arg, const char* name, const std::string& what, int quiet = 0) const;

 private:
  UniqueFd fd_;
  std::string path_;
  Log& log_;
};

class MediaDevice {
 public:
  MediaDevice(UniqueFd fd, std::string path, Log& log) : fd_(std::move(fd)), path_(std::move(path)), log_(log) {}
  static VAStatus open(const std::string& path, Log& log, std::unique_ptr<MediaDevice>& out);

  // MEDIA_IOC_REQUEST_ALLOC: a new request fd. The slot pool is its only
  // caller, once per slot for the life of a context.
  VAStatus allocate_request(UniqueFd& out) const;
  const std::string& path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
  Log& log_;
};

}  // namespace v4l2va

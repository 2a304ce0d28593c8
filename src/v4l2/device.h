// The V4L2 side of one decoder: its video node (one m2m instance per open)
// and its media node (where requests are allocated). Every ioctl goes
// through here so that each failure is logged once with the ioctl name,
// errno and the object it concerned, and turned into a VA status.
#pragma once

#include <linux/media.h>
#include <cerrno>
#include <linux/videodev2.h>
#include <va/va.h>

#include <atomic>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

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

// What an ioctl concerned, for its failure's log line: a string, or a
// callable that builds one. Built only when the ioctl fails, so the hot path
// formats nothing.
template <class Describe>
std::string describe_object(const Describe& describe) {
  if constexpr (std::is_invocable_v<const Describe&>)
    return describe();
  else
    return std::string(describe);
}

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
  // unless the errno is `quiet`, and returns the errno.
  template <class Describe>
  int call(unsigned long request, void* arg, const char* name, const Describe& what, int quiet = 0) const {
    int err = xioctl(fd_.get(), request, arg);
    if (err) note_failure(name, err, quiet, [&] { return describe_object(what); });
    return err;
  }

  // The node reported ENODEV: the device was unbound or unplugged
  // (v4l2-dev.c returns it for every call once the video_device is
  // unregistered). Nothing on it can succeed again.
  bool gone() const { return gone_.load(std::memory_order_relaxed); }
  void mark_gone() const { gone_.store(true, std::memory_order_relaxed); }

 private:
  template <class Describe>
  void note_failure(const char* name, int err, int quiet, const Describe& what) const {
    if (err == ENODEV) mark_gone();
    if (err != quiet) log_failure(name, what(), err);
  }
  void log_failure(const char* name, const std::string& what, int err) const;

  UniqueFd fd_;
  std::string path_;
  Log& log_;
  mutable std::atomic<bool> gone_{false};
};

class MediaDevice {
 public:
  MediaDevice(UniqueFd fd, std::string path, Log& log) : fd_(std::move(fd)), path_(std::move(path)), log_(log) {}
  static VAStatus open(const std::string& path, Log& log, std::unique_ptr<MediaDevice>& out);

  // MEDIA_IOC_REQUEST_ALLOC: a new request fd. The slot pool is its only
  // caller: once per slot for the life of a context, and again only to
  // rebuild a request the kernel would not re-initialise.
  VAStatus allocate_request(UniqueFd& out) const;
  const std::string& path() const { return path_; }

  // MEDIA_REQUEST_IOC_QUEUE / _REINIT on a request of this device; failures
  // are logged like every other ioctl. Returns the errno.
  template <class Describe>
  int request_call(int request_fd, unsigned long op, const char* name, const Describe& what) const {
    int err = xioctl(request_fd, op, nullptr);
    if (err) log_failure(name, describe_object(what), err);
    return err;
  }

 private:
  void log_failure(const char* name, const std::string& what, int err) const;

  UniqueFd fd_;
  std::string path_;
  Log& log_;
};

}  // namespace v4l2va

// One of the two queues of a V4L2 m2m instance (multiplanar API), with its
// MMAP buffers mapped into the driver for their whole life.
#pragma once

#include <linux/videodev2.h>
#include <va/va.h>

#include <vector>

#include "v4l2/device.h"

namespace v4l2va {

struct PlaneFormat {
  uint32_t bytesperline = 0;
  uint32_t sizeimage = 0;
};

struct Format {
  uint32_t pixelformat = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t num_planes = 0;
  PlaneFormat planes[VIDEO_MAX_PLANES];
};

// The memory of one MMAP buffer: one mapping per memory plane.
struct MappedBuffer {
  uint32_t index = 0;
  std::vector<Mapping> planes;
};

class Queue {
 public:
  Queue(const VideoDevice& device, v4l2_buf_type type) : device_(device), type_(type) {}

  v4l2_buf_type type() const { return type_; }
  const char* name() const { return V4L2_TYPE_IS_OUTPUT(type_) ? "OUTPUT" : "CAPTURE"; }

  VAStatus set_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage);
  VAStatus read_format();
  const Format& format() const { return format_; }

  // REQBUFS; reports the queue's capabilities (V4L2_BUF_CAP_*).
  VAStatus request_buffers(uint32_t count, uint32_t& allocated, uint32_t* capabilities = nullptr);
  // CREATE_BUFS with the current format: grows the queue by `count`.
  VAStatus create_buffers(uint32_t count, uint32_t& first_index, uint32_t& created);
  // QUERYBUF + mmap of every plane.
  VAStatus map_buffer(uint32_t index, MappedBuffer& out);
  // EXPBUF of one plane: the caller owns the returned fd.
  VAStatus export_plane(uint32_t index, uint32_t plane, int flags, UniqueFd& out);

  // QBUF: `planes_bytesused` per plane (OUTPUT), request fd or -1.
  VAStatus queue(uint32_t index, const uint32_t* bytesused, uint64_t timestamp_ns, int request_fd, uint32_t flags);
  // DQBUF (non-blocking). EAGAIN is returned (not logged) when nothing is ready.
  int dequeue(v4l2_buffer& buf, v4l2_plane* planes);

  VAStatus stream_on();
  VAStatus stream_off();
  bool streaming() const { return streaming_; }

 private:
  std::string what(const char* detail = nullptr) const;

  const VideoDevice& device_;
  v4l2_buf_type type_;
  Format format_;
  bool streaming_ = false;
};

// The V4L2 timestamp round-trips through a struct timeval; pictures are
// identified by multiples of 1000 ns so the conversion is exact.
timeval timeval_from_ns(uint64_t ns);
uint64_t ns_from_timeval(const timeval& tv);

}  // namespace v4l2va

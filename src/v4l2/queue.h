// One of the two queues of a V4L2 m2m instance, with its MMAP buffers mapped
// into the driver for their whole life.
//
// Devices speak one of two buffer APIs (videodev2.h): the multiplanar one
// (V4L2_CAP_VIDEO_M2M_MPLANE: hantro, rkvdec, mtk-vcodec) or the
// single-planar one (V4L2_CAP_VIDEO_M2M: cedrus). The difference ends in
// this file: callers see a Format with planes and buffers with planes in
// both cases (one plane for single-planar).
#pragma once

#include <linux/videodev2.h>
#include <va/va.h>

#include <cstdint>
#include <string>
#include <vector>

#include "v4l2/device.h"
#include "v4l2/result.h"

namespace v4l2va {

// Which buffer API a node uses, from QUERYCAP.
enum class PlanesApi { Single, Multi };

struct PlaneFormat {
  uint32_t bytesperline = 0;
  uint32_t sizeimage = 0;
};

struct Format {
  uint32_t pixelformat = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t num_planes = 0;  // memory planes (buffers per picture): 1, or 2 for NV12M/MM21
  PlaneFormat planes[VIDEO_MAX_PLANES];
};

// The memory of one MMAP buffer: one mapping per memory plane.
struct MappedBuffer {
  uint32_t index = 0;
  std::vector<Mapping> planes;
};

// What DQBUF returned.
struct DequeuedBuffer {
  uint32_t index = 0;
  uint32_t flags = 0;  // V4L2_BUF_FLAG_*
  uint64_t timestamp_ns = 0;
};

class Queue {
 public:
  enum class Direction { Output, Capture };
  Queue(const VideoDevice& device, PlanesApi api, Direction direction);

  v4l2_buf_type type() const { return type_; }
  PlanesApi api() const { return api_; }
  const char* name() const { return direction_ == Direction::Output ? "OUTPUT" : "CAPTURE"; }

  // The pixel formats the queue offers now (ENUM_FMT). For CAPTURE the list
  // depends on the OUTPUT format and, on some devices, on the SPS.
  std::vector<uint32_t> enum_formats() const;
  VAStatus set_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage);
  // TRY_FMT: what the device would make of this format (it adjusts rather
  // than fails, vidioc-g-fmt.rst).
  Result<Format> try_format(uint32_t pixelformat, uint32_t width, uint32_t height) const;
  VAStatus read_format();
  const Format& format() const { return format_; }

  // REQBUFS; reports the queue's capabilities (V4L2_BUF_CAP_*).
  VAStatus request_buffers(uint32_t count, uint32_t& allocated, uint32_t* capabilities = nullptr);
  // CREATE_BUFS with the current format: grows the queue by `count`.
  // Returns the index of the first new buffer.
  Result<uint32_t> create_buffers(uint32_t count);
  uint32_t buffer_count() const { return buffer_count_; }
  // QUERYBUF + mmap of every plane.
  VAStatus map_buffer(uint32_t index, MappedBuffer& out);
  // EXPBUF of one plane: the caller owns the returned fd.
  VAStatus export_plane(uint32_t index, uint32_t plane, int flags, UniqueFd& out);

  // QBUF. `bytesused` is the payload of plane 0 (OUTPUT) or 0; `request_fd`
  // is the request the buffer joins, or -1.
  VAStatus queue(uint32_t index, uint32_t bytesused, uint64_t timestamp_ns, int request_fd, uint32_t flags);
  // DQBUF (non-blocking). EAGAIN is returned (not logged) when nothing is
  // ready; the errno is returned in `error`.
  struct Dequeued {
    int error = 0;
    DequeuedBuffer buffer;
  };
  Dequeued dequeue();

  VAStatus stream_on();
  VAStatus stream_off();
  bool streaming() const { return streaming_; }

 private:
  void prepare(v4l2_buffer& buf, v4l2_plane* planes, uint32_t index) const;
  v4l2_format make_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage) const;

  const VideoDevice& device_;
  PlanesApi api_;
  Direction direction_;
  v4l2_buf_type type_;
  Format format_;
  uint32_t buffer_count_ = 0;
  bool streaming_ = false;
};

// The V4L2 timestamp round-trips through a struct timeval; pictures are
// identified by multiples of 1000 ns so the conversion is exact.
timeval timeval_from_ns(uint64_t ns);
uint64_t ns_from_timeval(const timeval& tv);

}  // namespace v4l2va

#include "v4l2/queue.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace v4l2va {
namespace {

v4l2_buf_type buffer_type(PlanesApi api, Queue::Direction direction) {
  const bool output = direction == Queue::Direction::Output;
  if (api == PlanesApi::Multi) return output ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
  return output ? V4L2_BUF_TYPE_VIDEO_OUTPUT : V4L2_BUF_TYPE_VIDEO_CAPTURE;
}

std::string fourcc_text(uint32_t f) {
  const char text[5] = {char(f & 0xff), char((f >> 8) & 0xff), char((f >> 16) & 0xff), char((f >> 24) & 0xff), 0};
  return text;
}

// The format of either API as the planes view callers use.
Format format_from(const v4l2_format& fmt, PlanesApi api) {
  Format out;
  if (api == PlanesApi::Multi) {
    const v4l2_pix_format_mplane& mp = fmt.fmt.pix_mp;
    out.pixelformat = mp.pixelformat;
    out.width = mp.width;
    out.height = mp.height;
    out.num_planes = mp.num_planes;
    for (uint32_t p = 0; p < mp.num_planes && p < VIDEO_MAX_PLANES; ++p)
      out.planes[p] = {mp.plane_fmt[p].bytesperline, mp.plane_fmt[p].sizeimage};
  } else {
    const v4l2_pix_format& pix = fmt.fmt.pix;
    out.pixelformat = pix.pixelformat;
    out.width = pix.width;
    out.height = pix.height;
    out.num_planes = 1;
    out.planes[0] = {pix.bytesperline, pix.sizeimage};
  }
  return out;
}

}  // namespace

timeval timeval_from_ns(uint64_t ns) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ns / 1000000000ull);
  tv.tv_usec = static_cast<suseconds_t>((ns % 1000000000ull) / 1000ull);
  return tv;
}

uint64_t ns_from_timeval(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1000000000ull + static_cast<uint64_t>(tv.tv_usec) * 1000ull;
}

Queue::Queue(const VideoDevice& device, PlanesApi api, Direction direction)
    : device_(device), api_(api), direction_(direction), type_(buffer_type(api, direction)) {}

std::vector<uint32_t> Queue::enum_formats() const {
  std::vector<uint32_t> formats;
  for (uint32_t i = 0; i < 64; ++i) {
    v4l2_fmtdesc desc{};
    desc.index = i;
    desc.type = type_;
    // EINVAL ends the list (vidioc-enum-fmt.rst); it is not a failure.
    if (device_.call(VIDIOC_ENUM_FMT, &desc, "VIDIOC_ENUM_FMT", name(), EINVAL)) break;
    formats.push_back(desc.pixelformat);
  }
  return formats;
}

v4l2_format Queue::make_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage) const {
  v4l2_format fmt{};
  fmt.type = type_;
  if (api_ == PlanesApi::Multi) {
    fmt.fmt.pix_mp.pixelformat = pixelformat;
    fmt.fmt.pix_mp.width = width;
    fmt.fmt.pix_mp.height = height;
    fmt.fmt.pix_mp.num_planes = 1;
    fmt.fmt.pix_mp.plane_fmt[0].sizeimage = sizeimage;
    fmt.fmt.pix_mp.field = V4L2_FIELD_NONE;
  } else {
    fmt.fmt.pix.pixelformat = pixelformat;
    fmt.fmt.pix.width = width;
    fmt.fmt.pix.height = height;
    fmt.fmt.pix.sizeimage = sizeimage;
    fmt.fmt.pix.field = V4L2_FIELD_NONE;
  }
  return fmt;
}

Result<Format> Queue::try_format(uint32_t pixelformat, uint32_t width, uint32_t height) const {
  v4l2_format fmt = make_format(pixelformat, width, height, 0);
  auto what = [&] { return std::string(name()) + " queue, " + fourcc_text(pixelformat); };
  if (int err = device_.call(VIDIOC_TRY_FMT, &fmt, "VIDIOC_TRY_FMT", what)) return Failed{status_from_errno(err)};
  return format_from(fmt, api_);
}

VAStatus Queue::set_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage) {
  v4l2_format fmt = make_format(pixelformat, width, height, sizeimage);
  auto what = [&] {
    return std::string(name()) + " queue, " + fourcc_text(pixelformat) + " " + std::to_string(width) + "x" +
           std::to_string(height);
  };
  if (int err = device_.call(VIDIOC_S_FMT, &fmt, "VIDIOC_S_FMT", what)) return status_from_errno(err);
  if (format_from(fmt, api_).pixelformat != pixelformat) {
    device_.log().errorf("VIDIOC_S_FMT on %s (%s): the device chose %s instead", device_.path().c_str(),
                         what().c_str(), fourcc_text(format_from(fmt, api_).pixelformat).c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
  }
  return read_format();
}

VAStatus Queue::read_format() {
  v4l2_format fmt{};
  fmt.type = type_;
  if (int err = device_.call(VIDIOC_G_FMT, &fmt, "VIDIOC_G_FMT", name())) return status_from_errno(err);
  Format read = format_from(fmt, api_);
  if (read.num_planes == 0 || read.num_planes > VIDEO_MAX_PLANES) {
    device_.log().errorf("VIDIOC_G_FMT on %s (%s queue): invalid plane count %u", device_.path().c_str(), name(),
                         read.num_planes);
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  format_ = read;
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::request_buffers(uint32_t count, uint32_t& allocated, uint32_t* capabilities) {
  v4l2_requestbuffers req{};
  req.count = count;
  req.type = type_;
  req.memory = V4L2_MEMORY_MMAP;
  auto what = [&] { return std::string(name()) + " queue, count " + std::to_string(count); };
  if (int err = device_.call(VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS", what)) return status_from_errno(err);
  allocated = req.count;
  buffer_count_ = req.count;
  if (capabilities) *capabilities = req.capabilities;
  return VA_STATUS_SUCCESS;
}

Result<uint32_t> Queue::create_buffers(uint32_t count) {
  v4l2_create_buffers create{};
  create.count = count;
  create.memory = V4L2_MEMORY_MMAP;
  create.format.type = type_;
  if (int err = device_.call(VIDIOC_G_FMT, &create.format, "VIDIOC_G_FMT", name()))
    return Failed{status_from_errno(err)};
  auto what = [&] { return std::string(name()) + " queue, count " + std::to_string(count); };
  if (int err = device_.call(VIDIOC_CREATE_BUFS, &create, "VIDIOC_CREATE_BUFS", what))
    return Failed{status_from_errno(err)};
  if (create.count != count || create.index != buffer_count_) {
    device_.log().errorf("VIDIOC_CREATE_BUFS on %s (%s): created %u buffers at %u, expected %u at %u",
                         device_.path().c_str(), what().c_str(), create.count, create.index, count, buffer_count_);
    // What was created is the queue's now: count it so indices stay right.
    if (create.index + create.count > buffer_count_) buffer_count_ = create.index + create.count;
    return Failed{VA_STATUS_ERROR_ALLOCATION_FAILED};
  }
  buffer_count_ += create.count;
  return create.index;
}

void Queue::prepare(v4l2_buffer& buf, v4l2_plane* planes, uint32_t index) const {
  buf = v4l2_buffer{};
  buf.type = type_;
  buf.memory = V4L2_MEMORY_MMAP;
  buf.index = index;
  if (api_ == PlanesApi::Multi) {
    buf.length = VIDEO_MAX_PLANES;
    buf.m.planes = planes;
  }
}

VAStatus Queue::map_buffer(uint32_t index, MappedBuffer& out) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf;
  prepare(buf, planes, index);
  auto what = [&] { return std::string(name()) + " queue, buffer " + std::to_string(index); };
  if (int err = device_.call(VIDIOC_QUERYBUF, &buf, "VIDIOC_QUERYBUF", what)) return status_from_errno(err);
  // Single-planar: one plane, its length in buf.length and its offset in m.offset.
  const uint32_t count = api_ == PlanesApi::Multi ? buf.length : 1;
  out.index = index;
  out.planes.clear();
  for (uint32_t p = 0; p < count; ++p) {
    const uint32_t length = api_ == PlanesApi::Multi ? planes[p].length : buf.length;
    const uint32_t offset = api_ == PlanesApi::Multi ? planes[p].m.mem_offset : buf.m.offset;
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, device_.fd(), offset);
    if (addr == MAP_FAILED) {
      int err = errno;
      device_.log().errorf("mmap of %s plane %u on %s failed: %s (errno %d)", what().c_str(), p,
                           device_.path().c_str(), std::strerror(err), err);
      out.planes.clear();
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    }
    out.planes.emplace_back(addr, length);
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::export_plane(uint32_t index, uint32_t plane, int flags, UniqueFd& out) {
  v4l2_exportbuffer exp{};
  exp.type = type_;
  exp.index = index;
  exp.plane = plane;
  exp.flags = static_cast<uint32_t>(flags);
  auto what = [&] {
    return std::string(name()) + " queue, buffer " + std::to_string(index) + " plane " + std::to_string(plane);
  };
  if (int err = device_.call(VIDIOC_EXPBUF, &exp, "VIDIOC_EXPBUF", what)) return status_from_errno(err);
  out.reset(exp.fd);
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::queue(uint32_t index, uint32_t bytesused, uint64_t timestamp_ns, int request_fd, uint32_t flags) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf;
  prepare(buf, planes, index);
  buf.flags = flags;
  buf.timestamp = timeval_from_ns(timestamp_ns);
  if (api_ == PlanesApi::Multi) {
    buf.length = format_.num_planes;
    planes[0].bytesused = bytesused;
  } else {
    buf.bytesused = bytesused;
  }
  if (request_fd >= 0) {
    // Request API: the buffer is queued into the request, not to the driver
    // (Documentation/userspace-api/media/mediactl/request-api.rst).
    buf.flags |= V4L2_BUF_FLAG_REQUEST_FD;
    buf.request_fd = request_fd;
  }
  auto what = [&] { return std::string(name()) + " queue, buffer " + std::to_string(index); };
  if (int err = device_.call(VIDIOC_QBUF, &buf, "VIDIOC_QBUF", what)) return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

Queue::Dequeued Queue::dequeue() {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf;
  prepare(buf, planes, 0);
  Dequeued out;
  out.error = device_.call(VIDIOC_DQBUF, &buf, "VIDIOC_DQBUF", name(), EAGAIN);
  if (out.error == 0) out.buffer = {buf.index, buf.flags, ns_from_timeval(buf.timestamp)};
  return out;
}

VAStatus Queue::stream_on() {
  if (streaming_) return VA_STATUS_SUCCESS;
  int type = type_;
  if (int err = device_.call(VIDIOC_STREAMON, &type, "VIDIOC_STREAMON", name())) return status_from_errno(err);
  streaming_ = true;
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::stream_off() {
  if (!streaming_) return VA_STATUS_SUCCESS;
  int type = type_;
  // Whatever STREAMOFF answers, the queue is no longer streaming for us: on
  // failure the next STREAMON tells whether the node is still usable.
  streaming_ = false;
  if (int err = device_.call(VIDIOC_STREAMOFF, &type, "VIDIOC_STREAMOFF", name())) return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va

#include "v4l2/queue.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace v4l2va {

timeval timeval_from_ns(uint64_t ns) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ns / 1000000000ull);
  tv.tv_usec = static_cast<suseconds_t>((ns % 1000000000ull) / 1000ull);
  return tv;
}

uint64_t ns_from_timeval(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1000000000ull + static_cast<uint64_t>(tv.tv_usec) * 1000ull;
}

std::string Queue::what(const char* detail) const {
  std::string s = std::string(name()) + " queue";
  if (detail) s += std::string(", ") + detail;
  return s;
}

VAStatus Queue::set_format(uint32_t pixelformat, uint32_t width, uint32_t height, uint32_t sizeimage) {
  v4l2_format fmt{};
  fmt.type = type_;
  fmt.fmt.pix_mp.pixelformat = pixelformat;
  fmt.fmt.pix_mp.width = width;
  fmt.fmt.pix_mp.height = height;
  fmt.fmt.pix_mp.num_planes = 1;
  fmt.fmt.pix_mp.plane_fmt[0].sizeimage = sizeimage;
  fmt.fmt.pix_mp.field = V4L2_FIELD_NONE;
  char fourcc[5] = {char(pixelformat), char(pixelformat >> 8), char(pixelformat >> 16), char(pixelformat >> 24), 0};
  std::string detail = std::string(fourcc) + " " + std::to_string(width) + "x" + std::to_string(height);
  if (int err = device_.call(VIDIOC_S_FMT, &fmt, "VIDIOC_S_FMT", what(detail.c_str())))
    return status_from_errno(err);
  if (fmt.fmt.pix_mp.pixelformat != pixelformat) {
    device_.log().errorf("VIDIOC_S_FMT on %s (%s): device chose another pixel format", device_.path().c_str(),
                         what(detail.c_str()).c_str());
    return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
  }
  return read_format();
}

VAStatus Queue::read_format() {
  v4l2_format fmt{};
  fmt.type = type_;
  if (int err = device_.call(VIDIOC_G_FMT, &fmt, "VIDIOC_G_FMT", what())) return status_from_errno(err);
  format_.pixelformat = fmt.fmt.pix_mp.pixelformat;
  format_.width = fmt.fmt.pix_mp.width;
  format_.height = fmt.fmt.pix_mp.height;
  format_.num_planes = fmt.fmt.pix_mp.num_planes;
  if (format_.num_planes == 0 || format_.num_planes > VIDEO_MAX_PLANES) {
    device_.log().errorf("VIDIOC_G_FMT on %s (%s): invalid plane count %u", device_.path().c_str(), what().c_str(),
                         format_.num_planes);
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  for (uint32_t p = 0; p < format_.num_planes; ++p) {
    format_.planes[p].bytesperline = fmt.fmt.pix_mp.plane_fmt[p].bytesperline;
    format_.planes[p].sizeimage = fmt.fmt.pix_mp.plane_fmt[p].sizeimage;
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::request_buffers(uint32_t count, uint32_t& allocated, uint32_t* capabilities) {
  v4l2_requestbuffers req{};
  req.count = count;
  req.type = type_;
  req.memory = V4L2_MEMORY_MMAP;
  std::string detail = "count " + std::to_string(count);
  if (int err = device_.call(VIDIOC_REQBUFS, &req, "VIDIOC_REQBUFS", what(detail.c_str())))
    return status_from_errno(err);
  allocated = req.count;
  if (capabilities) *capabilities = req.capabilities;
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::create_buffers(uint32_t count, uint32_t& first_index, uint32_t& created) {
  v4l2_create_buffers create{};
  create.count = count;
  create.memory = V4L2_MEMORY_MMAP;
  create.format.type = type_;
  if (int err = device_.call(VIDIOC_G_FMT, &create.format, "VIDIOC_G_FMT", what()))
    return status_from_errno(err);
  std::string detail = "count " + std::to_string(count);
  if (int err = device_.call(VIDIOC_CREATE_BUFS, &create, "VIDIOC_CREATE_BUFS", what(detail.c_str())))
    return status_from_errno(err);
  first_index = create.index;
  created = create.count;
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::map_buffer(uint32_t index, MappedBuffer& out) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf{};
  buf.type = type_;
  buf.memory = V4L2_MEMORY_MMAP;
  buf.index = index;
  buf.length = VIDEO_MAX_PLANES;
  buf.m.planes = planes;
  std::string detail = "buffer " + std::to_string(index);
  if (int err = device_.call(VIDIOC_QUERYBUF, &buf, "VIDIOC_QUERYBUF", what(detail.c_str())))
    return status_from_errno(err);
  out.index = index;
  out.planes.clear();
  for (uint32_t p = 0; p < buf.length; ++p) {
    void* addr = ::mmap(nullptr, planes[p].length, PROT_READ | PROT_WRITE, MAP_SHARED, device_.fd(),
                        planes[p].m.mem_offset);
    if (addr == MAP_FAILED) {
      int err = errno;
      device_.log().errorf("mmap of %s plane %u on %s failed: %s (errno %d)", what(detail.c_str()).c_str(), p,
                           device_.path().c_str(), std::strerror(err), err);
      out.planes.clear();
      return VA_STATUS_ERROR_ALLOCATION_FAILED;
    }
    out.planes.emplace_back(addr, planes[p].length);
  }
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::export_plane(uint32_t index, uint32_t plane, int flags, UniqueFd& out) {
  v4l2_exportbuffer exp{};
  exp.type = type_;
  exp.index = index;
  exp.plane = plane;
  exp.flags = static_cast<uint32_t>(flags);
  std::string detail = "buffer " + std::to_string(index) + " plane " + std::to_string(plane);
  if (int err = device_.call(VIDIOC_EXPBUF, &exp, "VIDIOC_EXPBUF", what(detail.c_str())))
    return status_from_errno(err);
  out.reset(exp.fd);
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::queue(uint32_t index, const uint32_t* bytesused, uint64_t timestamp_ns, int request_fd,
                      uint32_t flags) {
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf{};
  buf.type = type_;
  buf.memory = V4L2_MEMORY_MMAP;
  buf.index = index;
  buf.length = format_.num_planes;
  buf.m.planes = planes;
  buf.flags = flags;
  buf.timestamp = timeval_from_ns(timestamp_ns);
  for (uint32_t p = 0; p < format_.num_planes; ++p) planes[p].bytesused = bytesused ? bytesused[p] : 0;
  if (request_fd >= 0) {
    // Request API: the buffer is queued into the request, not to the driver
    // (Documentation/userspace-api/media/mediactl/request-api.rst).
    buf.flags |= V4L2_BUF_FLAG_REQUEST_FD;
    buf.request_fd = request_fd;
  }
  std::string detail = "buffer " + std::to_string(index);
  if (int err = device_.call(VIDIOC_QBUF, &buf, "VIDIOC_QBUF", what(detail.c_str())))
    return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

int Queue::dequeue(v4l2_buffer& buf, v4l2_plane* planes) {
  buf = v4l2_buffer{};
  buf.type = type_;
  buf.memory = V4L2_MEMORY_MMAP;
  buf.length = VIDEO_MAX_PLANES;
  buf.m.planes = planes;
  return device_.call(VIDIOC_DQBUF, &buf, "VIDIOC_DQBUF", what(), EAGAIN);
}

VAStatus Queue::stream_on() {
  if (streaming_) return VA_STATUS_SUCCESS;
  int type = type_;
  if (int err = device_.call(VIDIOC_STREAMON, &type, "VIDIOC_STREAMON", what())) return status_from_errno(err);
  streaming_ = true;
  return VA_STATUS_SUCCESS;
}

VAStatus Queue::stream_off() {
  if (!streaming_) return VA_STATUS_SUCCESS;
  int type = type_;
  streaming_ = false;
  if (int err = device_.call(VIDIOC_STREAMOFF, &type, "VIDIOC_STREAMOFF", what())) return status_from_errno(err);
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va

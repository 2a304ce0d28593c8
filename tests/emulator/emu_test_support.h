// Shared helpers for the device-model tests: a trivial decoding backend
// double, and a fixture that talks to the emulated nodes through the
// (interposed) libc calls exactly as a client does.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/media.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "emulator.h"
#include "h264_backend.h"
#include "profiles.h"

namespace emu::test {

// Test double for emu::H264Backend: "decodes" by filling the luma plane with
// the low byte of decode_params.frame_num and the chroma plane with its
// complement, and fails for a bitstream that starts with "BAD". Counts its
// calls and keeps the last target; takes `delay_us` of wall time per decode
// when set (a backend slower than the device's window).
struct FakeBackendStats {
  std::atomic<int> decodes{0};
  std::atomic<int> resets{0};
  std::atomic<unsigned> delay_us{0};
  // Read after the job completed (its request signalled), so no race.
  std::atomic<CaptureLayout> last_layout{CaptureLayout::NV12};
  std::atomic<uint32_t> last_bytesperline{0};
  std::atomic<uint32_t> last_height{0};
};

class FakeBackend : public H264Backend {
 public:
  explicit FakeBackend(FakeBackendStats& stats) : stats_(stats) {}
  DecodeResult decode(const H264RequestControls& controls, const uint8_t* bitstream,
                      size_t length, const CaptureTarget& target) override {
    stats_.decodes++;
    if (const unsigned delay = stats_.delay_us.load())
      std::this_thread::sleep_for(std::chrono::microseconds(delay));
    if (length >= 3 && std::memcmp(bitstream, "BAD", 3) == 0) return {false, "bad bitstream", {}};
    const size_t luma = static_cast<size_t>(target.bytesperline) * target.height;
    std::memset(target.luma.data, controls.decode_params.frame_num & 0xff,
                std::min(target.luma.size, luma));
    std::memset(target.chroma.data, ~controls.decode_params.frame_num & 0xff,
                std::min(target.chroma.size, luma / 2));
    stats_.last_layout = target.layout;
    stats_.last_bytesperline = target.bytesperline;
    stats_.last_height = target.height;
    return {true, {}, {}};
  }
  void reset() override { stats_.resets++; }

 private:
  FakeBackendStats& stats_;
};

inline int xioctl(int fd, unsigned long request, void* arg) {
  const int ret = ::ioctl(fd, request, arg);
  return ret < 0 ? -errno : ret;
}

class EmulatorTest : public ::testing::Test {
 protected:
  // The multiplanar types (hantro, rkvdec, mediatek); single-planar fixtures
  // (cedrus) shadow these. The helpers below use output_type_/capture_type_,
  // the types of the first configured device.
  static constexpr uint32_t kOut = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
  static constexpr uint32_t kCap = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

  void configure(const std::vector<std::string>& profiles, unsigned decode_us = 0,
                 bool cedrus_tiled = false) {
    EmulatorConfig config;
    config.device_profiles = profiles;
    config.profile_name = profiles.empty() ? "hantro" : profiles.front();
    config.decode_us = decode_us;
    config.cedrus_tiled = cedrus_tiled;
    use_queue_types_of(config.profile_name);
    ASSERT_EQ(Emulator::instance().configure(config), "");
    Emulator::instance().set_backend_factory(
        [this](DecodeMode, StartCode) { return std::make_unique<FakeBackend>(stats_); });
    Emulator::instance().counters().reset();
  }

  // The buffer types of a profile's planes API, for the helpers below.
  void use_queue_types_of(const std::string& profile) {
    const HardwareProfile* found = find_profile(profile);
    const bool single = found && found->planes_api == PlanesApiKind::SinglePlanar;
    output_type_ = single ? V4L2_BUF_TYPE_VIDEO_OUTPUT : V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
    capture_type_ = single ? V4L2_BUF_TYPE_VIDEO_CAPTURE : V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
  }

  void SetUp() override { configure({"hantro"}); }
  void TearDown() override {
    for (int fd : open_fds_) ::close(fd);
    open_fds_.clear();
    Emulator::instance().set_backend_factory(nullptr);
  }

  int open_node(const char* path, int flags = O_RDWR) {
    const int fd = ::open(path, flags);
    if (fd >= 0) open_fds_.push_back(fd);
    return fd;
  }
  void close_fd(int fd) {
    std::erase(open_fds_, fd);
    ::close(fd);
  }

  int set_output_format(int video, uint32_t width, uint32_t height, uint32_t sizeimage = 0) {
    v4l2_format format{};
    format.type = output_type_;
    if (V4L2_TYPE_IS_MULTIPLANAR(output_type_)) {
      format.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_H264_SLICE;
      format.fmt.pix_mp.width = width;
      format.fmt.pix_mp.height = height;
      format.fmt.pix_mp.num_planes = 1;
      format.fmt.pix_mp.plane_fmt[0].sizeimage = sizeimage;
    } else {
      format.fmt.pix.pixelformat = V4L2_PIX_FMT_H264_SLICE;
      format.fmt.pix.width = width;
      format.fmt.pix.height = height;
      format.fmt.pix.sizeimage = sizeimage;
    }
    return xioctl(video, VIDIOC_S_FMT, &format);
  }
  // A single-planar format is returned in the multiplanar shape (one plane).
  static v4l2_pix_format_mplane as_mplane(const v4l2_format& format) {
    if (V4L2_TYPE_IS_MULTIPLANAR(format.type)) return format.fmt.pix_mp;
    v4l2_pix_format_mplane out{};
    out.width = format.fmt.pix.width;
    out.height = format.fmt.pix.height;
    out.pixelformat = format.fmt.pix.pixelformat;
    out.field = format.fmt.pix.field;
    out.colorspace = format.fmt.pix.colorspace;
    out.num_planes = 1;
    out.plane_fmt[0].bytesperline = format.fmt.pix.bytesperline;
    out.plane_fmt[0].sizeimage = format.fmt.pix.sizeimage;
    return out;
  }
  v4l2_pix_format_mplane get_format(int video, uint32_t type) {
    v4l2_format format{};
    format.type = type;
    EXPECT_EQ(xioctl(video, VIDIOC_G_FMT, &format), 0);
    return as_mplane(format);
  }
  int reqbufs(int video, uint32_t type, uint32_t count, v4l2_requestbuffers* out = nullptr) {
    v4l2_requestbuffers request{};
    request.type = type;
    request.memory = V4L2_MEMORY_MMAP;
    request.count = count;
    const int ret = xioctl(video, VIDIOC_REQBUFS, &request);
    if (out) *out = request;
    return ret;
  }
  int alloc_request(int media) {
    int request_fd = -1;
    EXPECT_EQ(xioctl(media, MEDIA_IOC_REQUEST_ALLOC, &request_fd), 0);
    if (request_fd >= 0) open_fds_.push_back(request_fd);
    return request_fd;
  }
  int qbuf(int video, uint32_t type, uint32_t index, int request_fd = -1, uint64_t ts_us = 0,
           uint32_t bytesused = 16, v4l2_buffer* out = nullptr) {
    v4l2_plane planes[VIDEO_MAX_PLANES]{};
    planes[0].bytesused = bytesused;
    v4l2_buffer buffer{};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.index = index;
    if (V4L2_TYPE_IS_MULTIPLANAR(type)) {
      buffer.m.planes = planes;
      buffer.length = VIDEO_MAX_PLANES;
    } else {
      buffer.bytesused = bytesused;
    }
    buffer.timestamp.tv_sec = static_cast<time_t>(ts_us / 1000000);
    buffer.timestamp.tv_usec = static_cast<suseconds_t>(ts_us % 1000000);
    if (request_fd >= 0) {
      buffer.flags = V4L2_BUF_FLAG_REQUEST_FD;
      buffer.request_fd = request_fd;
    }
    const int ret = xioctl(video, VIDIOC_QBUF, &buffer);
    if (out) *out = buffer;
    return ret;
  }
  // `plane` receives plane 0 (multiplanar) or the single plane's fields.
  int dqbuf(int video, uint32_t type, v4l2_buffer& buffer, v4l2_plane& plane) {
    v4l2_plane planes[VIDEO_MAX_PLANES]{};
    buffer = {};
    plane = {};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    if (V4L2_TYPE_IS_MULTIPLANAR(type)) {
      buffer.m.planes = planes;
      buffer.length = VIDEO_MAX_PLANES;
    }
    const int ret = xioctl(video, VIDIOC_DQBUF, &buffer);
    if (V4L2_TYPE_IS_MULTIPLANAR(type)) {
      plane = planes[0];
      buffer.m.planes = nullptr;
    } else {
      plane.bytesused = buffer.bytesused;
      plane.length = buffer.length;
      plane.m.mem_offset = buffer.m.offset;
    }
    return ret;
  }
  int stream(int video, uint32_t type, bool on) {
    uint32_t t = type;
    return xioctl(video, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &t);
  }
  int set_ctrl(int video, uint32_t id, void* payload, uint32_t size, int request_fd = -1,
               unsigned long which_ioctl = VIDIOC_S_EXT_CTRLS) {
    v4l2_ext_control control{};
    control.id = id;
    control.size = size;
    control.ptr = payload;
    v4l2_ext_controls controls{};
    controls.which = request_fd >= 0 ? V4L2_CTRL_WHICH_REQUEST_VAL : V4L2_CTRL_WHICH_CUR_VAL;
    controls.request_fd = request_fd;
    controls.count = 1;
    controls.controls = &control;
    return xioctl(video, which_ioctl, &controls);
  }
  static v4l2_ctrl_h264_sps valid_sps(uint32_t width_mbs = 11, uint32_t height_mbs = 9) {
    v4l2_ctrl_h264_sps sps{};
    sps.profile_idc = 77;
    sps.level_idc = 30;
    sps.chroma_format_idc = 1;
    sps.max_num_ref_frames = 4;
    sps.pic_width_in_mbs_minus1 = static_cast<uint16_t>(width_mbs - 1);
    sps.pic_height_in_map_units_minus1 = static_cast<uint16_t>(height_mbs - 1);
    sps.flags = V4L2_H264_SPS_FLAG_FRAME_MBS_ONLY;
    return sps;
  }
  bool wait_pollpri(int request_fd, int timeout_ms = 5000) {
    pollfd p{request_fd, POLLPRI, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLPRI);
  }

  // A streaming instance of the configured device, 176x144, with `outputs` OUTPUT and
  // `captures` CAPTURE buffers and a valid SPS as current value.
  void start_streaming(int& media, int& video, uint32_t outputs = 2, uint32_t captures = 4) {
    media = open_node("/dev/media0");
    video = open_node("/dev/video0");
    ASSERT_GE(media, 0);
    ASSERT_GE(video, 0);
    ASSERT_EQ(set_output_format(video, 176, 144), 0);
    v4l2_ctrl_h264_sps sps = valid_sps();
    ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
    ASSERT_EQ(reqbufs(video, output_type_, outputs), 0);
    ASSERT_EQ(reqbufs(video, capture_type_, captures), 0);
    ASSERT_EQ(stream(video, output_type_, true), 0);
    ASSERT_EQ(stream(video, capture_type_, true), 0);
  }

  // Queues one picture: decode params on the request, OUTPUT buffer in it,
  // CAPTURE buffer without request, then MEDIA_REQUEST_IOC_QUEUE.
  int decode_picture(int video, int request_fd, uint32_t out_index, uint32_t cap_index,
                     uint64_t ts_us, const v4l2_ctrl_h264_decode_params& params) {
    v4l2_ctrl_h264_decode_params copy = params;
    if (int ret = set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &copy, sizeof(copy),
                           request_fd))
      return ret;
    if (int ret = qbuf(video, output_type_, out_index, request_fd, ts_us)) return ret;
    if (int ret = qbuf(video, capture_type_, cap_index)) return ret;
    return xioctl(request_fd, MEDIA_REQUEST_IOC_QUEUE, nullptr);
  }

  FakeBackendStats stats_;
  std::vector<int> open_fds_;
  uint32_t output_type_ = kOut;
  uint32_t capture_type_ = kCap;
};

}  // namespace emu::test

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

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "emulator.h"
#include "h264_backend.h"

namespace emu::test {

// Test double for emu::H264Backend: "decodes" by filling the luma plane with
// the low byte of decode_params.frame_num, and fails for a bitstream that
// starts with "BAD". Counts its calls.
struct FakeBackendStats {
  std::atomic<int> decodes{0};
  std::atomic<int> resets{0};
};

class FakeBackend : public H264Backend {
 public:
  explicit FakeBackend(FakeBackendStats& stats) : stats_(stats) {}
  DecodeResult decode(const H264RequestControls& controls, const uint8_t* bitstream,
                      size_t length, const CaptureTarget& target) override {
    stats_.decodes++;
    if (length >= 3 && std::memcmp(bitstream, "BAD", 3) == 0) return {false, "bad bitstream"};
    std::memset(target.data, controls.decode_params.frame_num & 0xff,
                static_cast<size_t>(target.bytesperline) * target.height);
    return {true, {}};
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
  static constexpr uint32_t kOut = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
  static constexpr uint32_t kCap = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

  void configure(const std::vector<std::string>& profiles, unsigned decode_us = 0) {
    EmulatorConfig config;
    config.device_profiles = profiles;
    config.profile_name = profiles.empty() ? "hantro" : profiles.front();
    config.decode_us = decode_us;
    Emulator::instance().configure(config);
    Emulator::instance().set_backend_factory(
        [this](DecodeMode, StartCode) { return std::make_unique<FakeBackend>(stats_); });
    Emulator::instance().counters().reset();
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

  int set_output_format(int video, uint32_t width, uint32_t height) {
    v4l2_format format{};
    format.type = kOut;
    format.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_H264_SLICE;
    format.fmt.pix_mp.width = width;
    format.fmt.pix_mp.height = height;
    format.fmt.pix_mp.num_planes = 1;
    return xioctl(video, VIDIOC_S_FMT, &format);
  }
  v4l2_pix_format_mplane get_format(int video, uint32_t type) {
    v4l2_format format{};
    format.type = type;
    EXPECT_EQ(xioctl(video, VIDIOC_G_FMT, &format), 0);
    return format.fmt.pix_mp;
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
    v4l2_plane plane{};
    plane.bytesused = bytesused;
    v4l2_buffer buffer{};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.index = index;
    buffer.m.planes = &plane;
    buffer.length = 1;
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
  int dqbuf(int video, uint32_t type, v4l2_buffer& buffer, v4l2_plane& plane) {
    buffer = {};
    plane = {};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.m.planes = &plane;
    buffer.length = 1;
    return xioctl(video, VIDIOC_DQBUF, &buffer);
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

  // A streaming hantro instance, 176x144, with `outputs` OUTPUT and
  // `captures` CAPTURE buffers and a valid SPS as current value.
  void start_streaming(int& media, int& video, uint32_t outputs = 2, uint32_t captures = 4) {
    media = open_node("/dev/media0");
    video = open_node("/dev/video0");
    ASSERT_GE(media, 0);
    ASSERT_GE(video, 0);
    ASSERT_EQ(set_output_format(video, 176, 144), 0);
    v4l2_ctrl_h264_sps sps = valid_sps();
    ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
    ASSERT_EQ(reqbufs(video, kOut, outputs), 0);
    ASSERT_EQ(reqbufs(video, kCap, captures), 0);
    ASSERT_EQ(stream(video, kOut, true), 0);
    ASSERT_EQ(stream(video, kCap, true), 0);
  }

  // Queues one picture: decode params on the request, OUTPUT buffer in it,
  // CAPTURE buffer without request, then MEDIA_REQUEST_IOC_QUEUE.
  int decode_picture(int video, int request_fd, uint32_t out_index, uint32_t cap_index,
                     uint64_t ts_us, const v4l2_ctrl_h264_decode_params& params) {
    v4l2_ctrl_h264_decode_params copy = params;
    if (int ret = set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &copy, sizeof(copy),
                           request_fd))
      return ret;
    if (int ret = qbuf(video, kOut, out_index, request_fd, ts_us)) return ret;
    if (int ret = qbuf(video, kCap, cap_index)) return ret;
    return xioctl(request_fd, MEDIA_REQUEST_IOC_QUEUE, nullptr);
  }

  FakeBackendStats stats_;
  std::vector<int> open_fds_;
};

}  // namespace emu::test

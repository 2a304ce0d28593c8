// The cedrus profile as Linux 6.12's staging cedrus driver behaves
// (cedrus.c, cedrus_video.c), except that the emulator keeps the
// multiplanar API: slice-based decoding without start codes, per-slice
// controls, CAPTURE NV12 (UNTILED variants) or NV12_32L32 only
// (V4L2_EMU_CEDRUS_TILED=1), cedrus_prepare_format() sizes, no
// ENUM_FRAMESIZES, and multi-slice pictures through a held CAPTURE buffer.
#include "emu_test_support.h"

namespace emu::test {
namespace {

class CedrusTest : public EmulatorTest {
 protected:
  void SetUp() override { configure_cedrus(false); }
  void configure_cedrus(bool tiled) {
    EmulatorConfig config;
    config.device_profiles = {"cedrus"};
    config.profile_name = "cedrus";
    config.cedrus_tiled = tiled;
    Emulator::instance().configure(config);
    Emulator::instance().set_backend_factory(
        [this](DecodeMode mode, StartCode start_code) {
          backend_modes_.push_back({mode, start_code});
          return std::make_unique<FakeBackend>(stats_);
        });
    Emulator::instance().counters().reset();
  }
  std::vector<uint32_t> capture_formats(int video) {
    std::vector<uint32_t> formats;
    for (uint32_t index = 0;; ++index) {
      v4l2_fmtdesc desc{};
      desc.index = index;
      desc.type = kCap;
      if (xioctl(video, VIDIOC_ENUM_FMT, &desc) != 0) break;
      formats.push_back(desc.pixelformat);
    }
    return formats;
  }
  int set_capture_format(int video, uint32_t pixelformat, v4l2_pix_format_mplane* out = nullptr) {
    v4l2_format format{};
    format.type = kCap;
    format.fmt.pix_mp.pixelformat = pixelformat;
    const int ret = xioctl(video, VIDIOC_S_FMT, &format);
    if (out) *out = format.fmt.pix_mp;
    return ret;
  }
  std::vector<std::pair<DecodeMode, StartCode>> backend_modes_;
};

TEST_F(CedrusTest, CaptureFormatsAreLinearNv12ThenTiled) {
  const int video = open_node("/dev/video0");
  EXPECT_EQ(capture_formats(video),
            (std::vector<uint32_t>{V4L2_PIX_FMT_NV12, V4L2_PIX_FMT_NV12_32L32}));
  ASSERT_EQ(set_output_format(video, 170, 100), 0);
  // cedrus_prepare_format() NV12: 16-aligned stride and height.
  const v4l2_pix_format_mplane nv12 = get_format(video, kCap);
  EXPECT_EQ(nv12.pixelformat, V4L2_PIX_FMT_NV12);
  EXPECT_EQ(nv12.width, 170u);
  EXPECT_EQ(nv12.height, 112u);
  EXPECT_EQ(nv12.plane_fmt[0].bytesperline, 176u);
  EXPECT_EQ(nv12.plane_fmt[0].sizeimage, 176u * 112u * 3u / 2u);
  // NV12_32L32: 32-aligned stride and height, chroma of ALIGN(height, 64) / 2 lines.
  ASSERT_EQ(set_output_format(video, 170, 80), 0);
  v4l2_pix_format_mplane tiled{};
  ASSERT_EQ(set_capture_format(video, V4L2_PIX_FMT_NV12_32L32, &tiled), 0);
  EXPECT_EQ(tiled.pixelformat, V4L2_PIX_FMT_NV12_32L32);
  EXPECT_EQ(tiled.height, 96u);
  EXPECT_EQ(tiled.plane_fmt[0].bytesperline, 192u);
  EXPECT_EQ(tiled.plane_fmt[0].sizeimage, 192u * 96u + 192u * 128u / 2u);
  // cedrus_s_fmt_vid_out_p() -> cedrus_reset_cap_format(): back to the default.
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  EXPECT_EQ(get_format(video, kCap).pixelformat, V4L2_PIX_FMT_NV12);
}

TEST_F(CedrusTest, TiledOnlyVariantOffersJustNv12_32L32) {
  configure_cedrus(true);
  const int video = open_node("/dev/video0");
  EXPECT_EQ(capture_formats(video), (std::vector<uint32_t>{V4L2_PIX_FMT_NV12_32L32}));
  // cedrus_find_format(): an unoffered format becomes the first valid one.
  v4l2_pix_format_mplane format{};
  ASSERT_EQ(set_capture_format(video, V4L2_PIX_FMT_NV12, &format), 0);
  EXPECT_EQ(format.pixelformat, V4L2_PIX_FMT_NV12_32L32);
}

TEST_F(CedrusTest, OutputFormatIsClampedNotAlignedAndHasNoFrameSizes) {
  const int video = open_node("/dev/video0");
  v4l2_frmsizeenum sizes{};
  sizes.pixel_format = V4L2_PIX_FMT_H264_SLICE;
  EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), -ENOTTY);
  ASSERT_EQ(set_output_format(video, 170, 100), 0);
  v4l2_pix_format_mplane output = get_format(video, kOut);
  EXPECT_EQ(output.width, 170u);
  EXPECT_EQ(output.height, 100u);
  EXPECT_EQ(output.plane_fmt[0].sizeimage, 1024u);  // max(SZ_1K, 0)
  ASSERT_EQ(set_output_format(video, 5000, 3000), 0);
  output = get_format(video, kOut);
  EXPECT_EQ(output.width, 4096u);
  EXPECT_EQ(output.height, 2304u);
}

TEST_F(CedrusTest, OnlySliceBasedWithoutStartCodesAndPerSliceControls) {
  const int video = open_node("/dev/video0");
  for (uint32_t id : {V4L2_CID_STATELESS_H264_DECODE_MODE, V4L2_CID_STATELESS_H264_START_CODE}) {
    v4l2_query_ext_ctrl query{};
    query.id = id;
    ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
    EXPECT_EQ(query.minimum, 0);  // SLICE_BASED, START_CODE_NONE
    EXPECT_EQ(query.maximum, 0);
    EXPECT_EQ(query.default_value, 0);
  }
  for (uint32_t id : {V4L2_CID_STATELESS_H264_SLICE_PARAMS, V4L2_CID_STATELESS_H264_PRED_WEIGHTS}) {
    v4l2_query_ext_ctrl query{};
    query.id = id;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
  }
  // cedrus_try_ctrl(): 4:2:0 only, so a monochrome SPS is refused.
  v4l2_ctrl_h264_sps mono = valid_sps();
  mono.profile_idc = 100;
  mono.chroma_format_idc = 0;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &mono, sizeof(mono)), -EINVAL);
}

// A two-slice picture as a slice-based client sends it: one request per
// slice, the CAPTURE buffer queued with the first and held until the last.
TEST_F(CedrusTest, MultiSlicePictureDecodesIntoOneHeldCaptureBuffer) {
  const int media = open_node("/dev/media0");
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  v4l2_ctrl_h264_sps sps = valid_sps();
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
  v4l2_requestbuffers request_buffers{};
  ASSERT_EQ(reqbufs(video, kOut, 2, &request_buffers), 0);
  EXPECT_TRUE(request_buffers.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
  ASSERT_EQ(reqbufs(video, kCap, 2), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);

  const int first = alloc_request(media);
  const int second = alloc_request(media);
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = 7;
  params.nal_ref_idc = 1;
  v4l2_ctrl_h264_slice_params slice{};
  slice.slice_type = V4L2_H264_SLICE_TYPE_I;
  for (int request : {first, second}) {
    ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &params, sizeof(params), request), 0);
    ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SLICE_PARAMS, &slice, sizeof(slice), request), 0);
    slice.first_mb_in_slice = 50;
  }
  v4l2_plane plane{};
  plane.bytesused = 16;
  v4l2_buffer output{};
  output.type = kOut;
  output.memory = V4L2_MEMORY_MMAP;
  output.index = 0;
  output.m.planes = &plane;
  output.length = 1;
  output.timestamp.tv_usec = 40;
  output.flags = V4L2_BUF_FLAG_REQUEST_FD | V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;
  output.request_fd = first;
  ASSERT_EQ(xioctl(video, VIDIOC_QBUF, &output), 0);
  ASSERT_EQ(qbuf(video, kCap, 1), 0);
  ASSERT_EQ(xioctl(first, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);
  output.index = 1;
  output.flags = V4L2_BUF_FLAG_REQUEST_FD;  // last slice: release the CAPTURE buffer
  output.request_fd = second;
  ASSERT_EQ(xioctl(video, VIDIOC_QBUF, &output), 0);
  ASSERT_EQ(xioctl(second, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);

  ASSERT_TRUE(wait_pollpri(second));
  v4l2_buffer capture{};
  v4l2_plane capture_plane{};
  ASSERT_EQ(dqbuf(video, kCap, capture, capture_plane), 0);
  EXPECT_EQ(capture.index, 1u);
  EXPECT_EQ(capture.timestamp.tv_usec, 40);
  EXPECT_FALSE(capture.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(stats_.decodes.load(), 2);
  ASSERT_FALSE(backend_modes_.empty());
  EXPECT_EQ(backend_modes_.back().first, DecodeMode::SliceBased);
  EXPECT_EQ(backend_modes_.back().second, StartCode::None);
  // Nothing else was returned: the buffer was held across both slices.
  const int flags = ::fcntl(video, F_GETFL);
  ::fcntl(video, F_SETFL, flags | O_NONBLOCK);
  EXPECT_EQ(dqbuf(video, kCap, capture, capture_plane), -EAGAIN);
  ::fcntl(video, F_SETFL, flags);
}

}  // namespace
}  // namespace emu::test

// The cedrus profile as Linux 6.12's staging cedrus driver behaves
// (cedrus.c, cedrus_video.c): a single-planar device (V4L2_CAP_VIDEO_M2M,
// buffer types VIDEO_OUTPUT/VIDEO_CAPTURE, struct v4l2_pix_format,
// v4l2_buffer.m.offset), slice-based decoding without start codes,
// per-slice controls, CAPTURE NV12 (UNTILED variants) or NV12_32L32 only
// (V4L2_EMU_CEDRUS_TILED=1), cedrus_prepare_format() sizes, no
// ENUM_FRAMESIZES, and multi-slice pictures through a held CAPTURE buffer.
#include "emu_test_support.h"

namespace emu::test {
namespace {

class CedrusTest : public EmulatorTest {
 protected:
  // cedrus_queue_init(): single-planar queues.
  static constexpr uint32_t kOut = V4L2_BUF_TYPE_VIDEO_OUTPUT;
  static constexpr uint32_t kCap = V4L2_BUF_TYPE_VIDEO_CAPTURE;

  void SetUp() override { configure_cedrus(false); }
  void configure_cedrus(bool tiled) {
    configure({"cedrus"}, 0, tiled);
    Emulator::instance().set_backend_factory(
        [this](DecodeMode mode, StartCode start_code) {
          backend_modes_.push_back({mode, start_code});
          return std::make_unique<FakeBackend>(stats_);
        });
  }
  std::vector<uint32_t> output_formats(int video) {
    std::vector<uint32_t> formats;
    for (uint32_t index = 0;; ++index) {
      v4l2_fmtdesc desc{};
      desc.index = index;
      desc.type = kOut;
      if (xioctl(video, VIDIOC_ENUM_FMT, &desc) != 0) break;
      formats.push_back(desc.pixelformat);
    }
    return formats;
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
    format.fmt.pix.pixelformat = pixelformat;
    const int ret = xioctl(video, VIDIOC_S_FMT, &format);
    if (out) *out = as_mplane(format);
    return ret;
  }
  std::vector<std::pair<DecodeMode, StartCode>> backend_modes_;
};

// cedrus_video_device: .device_caps = V4L2_CAP_VIDEO_M2M | V4L2_CAP_STREAMING;
// v4l_querycap() adds V4L2_CAP_EXT_PIX_FORMAT.
TEST_F(CedrusTest, QuerycapIsSinglePlanarM2m) {
  const int video = open_node("/dev/video0");
  v4l2_capability cap{};
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYCAP, &cap), 0);
  EXPECT_EQ(cap.device_caps, V4L2_CAP_VIDEO_M2M | V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT);
  EXPECT_EQ(cap.capabilities, cap.device_caps | V4L2_CAP_DEVICE_CAPS);
  EXPECT_STREQ(reinterpret_cast<const char*>(cap.driver), "cedrus");
  EXPECT_STREQ(reinterpret_cast<const char*>(cap.bus_info), "platform:cedrus");
}

// check_fmt() in v4l2-ioctl.c: cedrus has only the single-planar ops, so
// every *_MPLANE type is EINVAL; STREAMON/STREAMOFF and EXPBUF reach vb2,
// whose queue type does not match (EINVAL too). A multiplanar plane array
// is still copied in first (check_array_args): a missing one is EFAULT.
TEST_F(CedrusTest, MultiplanarTypesAreRefused) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  for (uint32_t type : {V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE}) {
    SCOPED_TRACE(type);
    v4l2_fmtdesc desc{};
    desc.type = type;
    EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), -EINVAL);
    for (unsigned long request : {VIDIOC_G_FMT, VIDIOC_S_FMT, VIDIOC_TRY_FMT}) {
      v4l2_format format{};
      format.type = type;
      format.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_NV12;
      format.fmt.pix_mp.num_planes = 1;
      EXPECT_EQ(xioctl(video, request, &format), -EINVAL);
    }
    v4l2_requestbuffers request{};
    request.type = type;
    request.memory = V4L2_MEMORY_MMAP;
    request.count = 1;
    EXPECT_EQ(xioctl(video, VIDIOC_REQBUFS, &request), -EINVAL);
    v4l2_create_buffers create{};
    create.memory = V4L2_MEMORY_MMAP;
    create.count = 1;
    create.format.type = type;
    create.format.fmt.pix_mp.num_planes = 1;
    create.format.fmt.pix_mp.plane_fmt[0].sizeimage = 1 << 20;
    EXPECT_EQ(xioctl(video, VIDIOC_CREATE_BUFS, &create), -EINVAL);
    v4l2_plane plane{};
    v4l2_buffer buffer{};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.length = 1;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EFAULT);
    buffer.m.planes = &plane;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EINVAL);
    EXPECT_EQ(xioctl(video, VIDIOC_QBUF, &buffer), -EINVAL);
    EXPECT_EQ(xioctl(video, VIDIOC_DQBUF, &buffer), -EINVAL);
    uint32_t stream_type = type;
    EXPECT_EQ(xioctl(video, VIDIOC_STREAMON, &stream_type), -EINVAL);
    EXPECT_EQ(xioctl(video, VIDIOC_STREAMOFF, &stream_type), -EINVAL);
    v4l2_exportbuffer exported{};
    exported.type = type;
    EXPECT_EQ(xioctl(video, VIDIOC_EXPBUF, &exported), -EINVAL);
  }
}

// The single-planar structures: v4l2_pix_format with priv =
// V4L2_PIX_FMT_PRIV_MAGIC (v4l_g_fmt/v4l_s_fmt), v4l2_buffer with m.offset,
// length and bytesused (__fill_v4l2_buffer), EXPBUF of plane 0 only.
TEST_F(CedrusTest, BuffersUseOffsetAndLength) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144, 64 * 1024), 0);
  v4l2_format format{};
  format.type = kCap;
  ASSERT_EQ(xioctl(video, VIDIOC_G_FMT, &format), 0);
  EXPECT_EQ(format.fmt.pix.priv, V4L2_PIX_FMT_PRIV_MAGIC);
  EXPECT_EQ(format.fmt.pix.bytesperline, 176u);
  EXPECT_EQ(format.fmt.pix.sizeimage, 176u * 144u * 3u / 2u);
  ASSERT_EQ(reqbufs(video, kOut, 2), 0);
  ASSERT_EQ(reqbufs(video, kCap, 2), 0);
  v4l2_buffer buffer{};
  buffer.type = kCap;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.index = 1;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
  EXPECT_EQ(buffer.length, 176u * 144u * 3u / 2u);
  // vb2 cookie: buffer 1, plane 0, plus v4l2-mem2mem's DST_QUEUE_OFF_BASE.
  EXPECT_EQ(buffer.m.offset, (1u << 30) + (1u << 15));
  void* mapping = ::mmap(nullptr, buffer.length, PROT_READ | PROT_WRITE, MAP_SHARED, video,
                         buffer.m.offset);
  ASSERT_NE(mapping, MAP_FAILED);
  ::munmap(mapping, buffer.length);
  v4l2_buffer output{};
  output.type = kOut;
  output.memory = V4L2_MEMORY_MMAP;
  output.index = 0;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &output), 0);
  EXPECT_EQ(output.length, 64u * 1024u);
  EXPECT_EQ(output.m.offset, 0u);
  v4l2_exportbuffer exported{};
  exported.type = kCap;
  exported.index = 1;
  exported.plane = 1;
  EXPECT_EQ(xioctl(video, VIDIOC_EXPBUF, &exported), -EINVAL);
  exported.plane = 0;
  exported.flags = O_CLOEXEC;
  ASSERT_EQ(xioctl(video, VIDIOC_EXPBUF, &exported), 0);
  ::close(exported.fd);
  // __verify_length(): bytesused beyond the buffer is EINVAL.
  const int media = open_node("/dev/media0");
  const int request = alloc_request(media);
  EXPECT_EQ(qbuf(video, kOut, 0, request, 0, 64 * 1024 + 1), -EINVAL);
  v4l2_buffer queued{};
  ASSERT_EQ(qbuf(video, kOut, 0, request, 0, 100, &queued), 0);
  EXPECT_EQ(queued.bytesused, 100u);
  EXPECT_TRUE(queued.flags & V4L2_BUF_FLAG_IN_REQUEST);
}

// vb2_create_bufs(): the size is fmt.pix.sizeimage (0 is EINVAL);
// cedrus_queue_setup(): not below the current format's.
TEST_F(CedrusTest, CreateBufsTakesPixSizeimage) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  v4l2_create_buffers create{};
  create.memory = V4L2_MEMORY_MMAP;
  create.count = 1;
  create.format.type = kCap;
  EXPECT_EQ(xioctl(video, VIDIOC_CREATE_BUFS, &create), -EINVAL);
  create.format.fmt.pix.sizeimage = 176 * 144;
  EXPECT_EQ(xioctl(video, VIDIOC_CREATE_BUFS, &create), -EINVAL);
  create.format.fmt.pix.sizeimage = 176 * 144 * 2;
  ASSERT_EQ(xioctl(video, VIDIOC_CREATE_BUFS, &create), 0);
  EXPECT_EQ(create.count, 1u);
  EXPECT_EQ(create.format.fmt.pix.priv, V4L2_PIX_FMT_PRIV_MAGIC);
}

// cedrus_formats[] for the H6 (UNTILED) variant and cedrus_open() ->
// cedrus_reset_out_format(): the first coded format, MPEG-2, at 16x16.
TEST_F(CedrusTest, OutputStartsAsMpeg2AtTheMinimumSize) {
  const int video = open_node("/dev/video0");
  EXPECT_EQ(output_formats(video),
            (std::vector<uint32_t>{V4L2_PIX_FMT_MPEG2_SLICE, V4L2_PIX_FMT_H264_SLICE,
                                   V4L2_PIX_FMT_HEVC_SLICE, V4L2_PIX_FMT_VP8_FRAME}));
  const v4l2_pix_format_mplane output = get_format(video, kOut);
  EXPECT_EQ(output.pixelformat, V4L2_PIX_FMT_MPEG2_SLICE);
  EXPECT_EQ(output.width, 16u);
  EXPECT_EQ(output.height, 16u);
  EXPECT_EQ(output.plane_fmt[0].sizeimage, 1024u);
  // HOLD_CAPTURE_BUF only for H264_SLICE (and HEVC_SLICE).
  v4l2_requestbuffers request{};
  ASSERT_EQ(reqbufs(video, kOut, 1, &request), 0);
  EXPECT_FALSE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
  // A coded format the emulator cannot decode is accepted as the driver
  // does; its jobs fail (the emulator decodes H.264 only).
  configure_cedrus(true);
  const int tiled = open_node("/dev/video0");
  EXPECT_EQ(output_formats(tiled), (std::vector<uint32_t>{V4L2_PIX_FMT_MPEG2_SLICE,
                                                          V4L2_PIX_FMT_H264_SLICE,
                                                          V4L2_PIX_FMT_VP8_FRAME}));
}

// v4l_sanitize_format(): without the magic the extended fields are zeroed;
// cedrus_s_fmt_vid_out_p() propagates the colorimetry to CAPTURE.
TEST_F(CedrusTest, ColorimetryFollowsTheOutputFormat) {
  const int video = open_node("/dev/video0");
  v4l2_format format{};
  format.type = kOut;
  format.fmt.pix.pixelformat = V4L2_PIX_FMT_H264_SLICE;
  format.fmt.pix.width = 176;
  format.fmt.pix.height = 144;
  format.fmt.pix.colorspace = V4L2_COLORSPACE_REC709;
  format.fmt.pix.quantization = V4L2_QUANTIZATION_FULL_RANGE;  // dropped: no magic
  ASSERT_EQ(xioctl(video, VIDIOC_S_FMT, &format), 0);
  EXPECT_EQ(format.fmt.pix.quantization, V4L2_QUANTIZATION_DEFAULT);
  format.fmt.pix.priv = V4L2_PIX_FMT_PRIV_MAGIC;
  format.fmt.pix.quantization = V4L2_QUANTIZATION_FULL_RANGE;
  ASSERT_EQ(xioctl(video, VIDIOC_S_FMT, &format), 0);
  v4l2_format capture{};
  capture.type = kCap;
  ASSERT_EQ(xioctl(video, VIDIOC_G_FMT, &capture), 0);
  EXPECT_EQ(capture.fmt.pix.colorspace, V4L2_COLORSPACE_REC709);
  EXPECT_EQ(capture.fmt.pix.quantization, V4L2_QUANTIZATION_FULL_RANGE);
}

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
  v4l2_buffer output{};
  output.type = kOut;
  output.memory = V4L2_MEMORY_MMAP;
  output.index = 0;
  output.bytesused = 16;
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

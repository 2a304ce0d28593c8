// The mediatek profile: mtk-vcodec's stateless H.264 decoder as Linux 6.12
// runs it on MT8183 (mtk_vcodec_dec.c, mtk_vcodec_dec_stateless.c,
// vdec_h264_req_if.c): multiplanar, OUTPUT H264_SLICE and CAPTURE MM21 in two
// memory planes sized from the S_FMT resolution aligned to 64, frame-based
// with Annex-B start codes, no HOLD_CAPTURE_BUF, one buffer per request, the
// instance state machine (FREE -> INIT at S_FMT(OUTPUT) -> HEADER at the
// first OUTPUT buffer; FLUSH at CAPTURE STREAMOFF), mtk_vdec_s_ctrl()'s SPS
// check, and the EIO abort.
#include "emu_test_support.h"

namespace emu::test {
namespace {

class MediatekTest : public EmulatorTest {
 protected:
  void SetUp() override { configure({"mediatek"}); }

  std::vector<uint32_t> formats(int video, uint32_t type) {
    std::vector<uint32_t> list;
    for (uint32_t index = 0;; ++index) {
      v4l2_fmtdesc desc{};
      desc.index = index;
      desc.type = type;
      if (xioctl(video, VIDIOC_ENUM_FMT, &desc) != 0) break;
      list.push_back(desc.pixelformat);
    }
    return list;
  }
  int try_format(int video, uint32_t type, uint32_t pixelformat, uint32_t width, uint32_t height,
                 uint32_t sizeimage, v4l2_pix_format_mplane* out,
                 unsigned long request = VIDIOC_TRY_FMT) {
    v4l2_format format{};
    format.type = type;
    format.fmt.pix_mp.pixelformat = pixelformat;
    format.fmt.pix_mp.width = width;
    format.fmt.pix_mp.height = height;
    format.fmt.pix_mp.num_planes = 1;
    format.fmt.pix_mp.plane_fmt[0].sizeimage = sizeimage;
    const int ret = xioctl(video, request, &format);
    if (out) *out = format.fmt.pix_mp;
    return ret;
  }
  // A streaming 176x144 instance with the CAPTURE buffers queued.
  void start(int& media, int& video, uint32_t captures = 2) {
    media = open_node("/dev/media0");
    video = open_node("/dev/video0");
    ASSERT_EQ(set_output_format(video, 176, 144, 64 * 1024), 0);
    v4l2_ctrl_h264_sps sps = valid_sps();
    ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
    ASSERT_EQ(reqbufs(video, kOut, 2), 0);
    ASSERT_EQ(reqbufs(video, kCap, captures), 0);
    ASSERT_EQ(stream(video, kOut, true), 0);
    ASSERT_EQ(stream(video, kCap, true), 0);
  }
  static v4l2_ctrl_h264_decode_params frame_params(uint16_t frame_num) {
    v4l2_ctrl_h264_decode_params params{};
    params.frame_num = frame_num;
    params.nal_ref_idc = 1;
    return params;
  }
};

TEST_F(MediatekTest, QuerycapAndMediaInfoNameTheMt8183Decoder) {
  const int video = open_node("/dev/video0");
  v4l2_capability cap{};
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYCAP, &cap), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(cap.driver), "mtk-vcodec-dec");
  EXPECT_STREQ(reinterpret_cast<const char*>(cap.card), "MT8183 video decoder");
  EXPECT_STREQ(reinterpret_cast<const char*>(cap.bus_info), "platform:16020000.video-codec");
  EXPECT_EQ(cap.device_caps,
            V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT);
  const int media = open_node("/dev/media0");
  media_device_info info{};
  ASSERT_EQ(xioctl(media, MEDIA_IOC_DEVICE_INFO, &info), 0);
  EXPECT_STREQ(info.driver, "mtk-vcodec-dec");
  EXPECT_STREQ(info.model, "mtk-vcodec-dec");
  EXPECT_STREQ(info.bus_info, "platform:16020000.video-codec");
}

// mtk_vcodec_get_supported_formats() with MT8183's forced
// MTK_VDEC_FORMAT_H264_SLICE | MTK_VDEC_FORMAT_MM21; vidioc_enum_framesizes().
TEST_F(MediatekTest, FormatsAndFrameSizes) {
  const int video = open_node("/dev/video0");
  EXPECT_EQ(formats(video, kOut), (std::vector<uint32_t>{V4L2_PIX_FMT_H264_SLICE}));
  EXPECT_EQ(formats(video, kCap), (std::vector<uint32_t>{V4L2_PIX_FMT_MM21}));
  v4l2_fmtdesc desc{};
  desc.type = kCap;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(desc.description), "Mediatek 8-bit Block Format");
  v4l2_frmsizeenum sizes{};
  sizes.pixel_format = V4L2_PIX_FMT_H264_SLICE;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), 0);
  EXPECT_EQ(sizes.type, V4L2_FRMSIZE_TYPE_STEPWISE);
  EXPECT_EQ(sizes.stepwise.min_width, 64u);
  EXPECT_EQ(sizes.stepwise.max_width, 4096u);
  EXPECT_EQ(sizes.stepwise.step_width, 16u);
  EXPECT_EQ(sizes.stepwise.min_height, 64u);
  EXPECT_EQ(sizes.stepwise.max_height, 2304u);
  sizes.pixel_format = V4L2_PIX_FMT_MM21;  // "Only coded formats have frame sizes set"
  EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), -ENOTTY);
  sizes.pixel_format = V4L2_PIX_FMT_NV12;
  EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), -EINVAL);
}

// mtk_vcodec_dec_set_default_params(): 64x64 on both queues; CAPTURE is MM21
// in two planes from the start. Before S_FMT the driver has no picture info.
TEST_F(MediatekTest, DefaultFormatsAtOpen) {
  const int video = open_node("/dev/video0");
  const v4l2_pix_format_mplane output = get_format(video, kOut);
  EXPECT_EQ(output.pixelformat, V4L2_PIX_FMT_H264_SLICE);
  EXPECT_EQ(output.width, 64u);
  EXPECT_EQ(output.height, 64u);
  EXPECT_EQ(output.num_planes, 1u);
  EXPECT_EQ(output.plane_fmt[0].sizeimage, 64u * 64u);
  EXPECT_EQ(output.colorspace, V4L2_COLORSPACE_REC709);
  const v4l2_pix_format_mplane capture = get_format(video, kCap);
  EXPECT_EQ(capture.pixelformat, V4L2_PIX_FMT_MM21);
  EXPECT_EQ(capture.width, 64u);
  EXPECT_EQ(capture.height, 64u);
  ASSERT_EQ(capture.num_planes, 2u);
  EXPECT_EQ(capture.plane_fmt[0].bytesperline, 64u);
  EXPECT_EQ(capture.plane_fmt[0].sizeimage, 64u * 64u);
  EXPECT_EQ(capture.plane_fmt[1].bytesperline, 64u);
  EXPECT_EQ(capture.plane_fmt[1].sizeimage, 64u * 64u / 2);
}

// vidioc_vdec_s_fmt() (stateless): the S_FMT size, aligned to 64 by
// get_pic_info(), becomes the CAPTURE size, whichever queue it is set on;
// G_FMT(OUTPUT) keeps reporting the 64x64 "visible" size.
TEST_F(MediatekTest, OutputFormatSizesTheMm21Capture) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144, 50000), 0);
  const v4l2_pix_format_mplane capture = get_format(video, kCap);
  EXPECT_EQ(capture.pixelformat, V4L2_PIX_FMT_MM21);
  EXPECT_EQ(capture.width, 192u);
  EXPECT_EQ(capture.height, 192u);
  ASSERT_EQ(capture.num_planes, 2u);
  EXPECT_EQ(capture.plane_fmt[0].bytesperline, 192u);
  EXPECT_EQ(capture.plane_fmt[0].sizeimage, 192u * 192u);
  EXPECT_EQ(capture.plane_fmt[1].bytesperline, 192u);
  EXPECT_EQ(capture.plane_fmt[1].sizeimage, 192u * 192u / 2);
  const v4l2_pix_format_mplane output = get_format(video, kOut);
  EXPECT_EQ(output.width, 64u);
  EXPECT_EQ(output.height, 64u);
  EXPECT_EQ(output.plane_fmt[0].sizeimage, 50000u);
  // S_FMT(CAPTURE) sets the picture size too: 1920x1080 -> 1920x1088 (v4l_bound_align_image
  // to 64 rounds 1080 to 1088) -> buffers of 1920x1088.
  v4l2_pix_format_mplane set{};
  ASSERT_EQ(try_format(video, kCap, V4L2_PIX_FMT_MM21, 1920, 1080, 0, &set, VIDIOC_S_FMT), 0);
  EXPECT_EQ(set.width, 1920u);
  EXPECT_EQ(set.height, 1088u);
  EXPECT_EQ(get_format(video, kCap).plane_fmt[0].sizeimage, 1920u * 1088u);
}

// vidioc_try_fmt(): 64-aligned CAPTURE sizes rounded to nearest, plus 64
// when that rounded down; OUTPUT clamped to 64..4096 x 64..2304 unaligned.
TEST_F(MediatekTest, TryFormatRules) {
  const int video = open_node("/dev/video0");
  v4l2_pix_format_mplane pix{};
  ASSERT_EQ(try_format(video, kCap, V4L2_PIX_FMT_NV12, 100, 70, 0, &pix), 0);
  EXPECT_EQ(pix.pixelformat, V4L2_PIX_FMT_MM21);  // unknown: the current CAPTURE format
  EXPECT_EQ(pix.width, 128u);
  EXPECT_EQ(pix.height, 128u);  // 70 rounds to 64, below 70: plus 64
  EXPECT_EQ(pix.num_planes, 2u);
  EXPECT_EQ(pix.plane_fmt[1].sizeimage, 128u * 128u / 2);
  // "sizeimage of output format must be given" (TRY only).
  EXPECT_EQ(try_format(video, kOut, V4L2_PIX_FMT_H264_SLICE, 176, 144, 0, &pix), -EINVAL);
  ASSERT_EQ(try_format(video, kOut, V4L2_PIX_FMT_H264_SLICE, 30, 5000, 1000, &pix), 0);
  EXPECT_EQ(pix.width, 64u);
  EXPECT_EQ(pix.height, 2304u);
  EXPECT_EQ(pix.plane_fmt[0].sizeimage, 1000u);
  // S_FMT takes a zero OUTPUT sizeimage; then queue_setup has a 0-byte
  // plane and vb2_core_reqbufs() refuses it.
  ASSERT_EQ(set_output_format(video, 176, 144, 0), 0);
  EXPECT_EQ(reqbufs(video, kOut, 1), -EINVAL);
}

// vidioc_vdec_s_fmt() computes EBUSY for a busy CAPTURE queue but never
// returns it: the new size applies, and the allocated buffers no longer fit
// (vb2ops_vdec_buf_prepare: QBUF EINVAL).
TEST_F(MediatekTest, CaptureFormatChangesEvenWithBuffers) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144, 4096), 0);
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  v4l2_pix_format_mplane pix{};
  ASSERT_EQ(try_format(video, kCap, V4L2_PIX_FMT_MM21, 640, 480, 0, &pix, VIDIOC_S_FMT), 0);
  EXPECT_EQ(get_format(video, kCap).plane_fmt[0].sizeimage, 640u * 512u);
  EXPECT_EQ(qbuf(video, kCap, 0), -EINVAL);
}

TEST_F(MediatekTest, NoHoldCaptureAndOneBufferPerRequest) {
  const int media = open_node("/dev/media0");
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144, 4096), 0);
  v4l2_requestbuffers request_buffers{};
  ASSERT_EQ(reqbufs(video, kOut, 2, &request_buffers), 0);
  EXPECT_FALSE(request_buffers.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
  EXPECT_TRUE(request_buffers.capabilities & V4L2_BUF_CAP_SUPPORTS_REQUESTS);
  EXPECT_TRUE(request_buffers.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS);
  const int request = alloc_request(media);
  ASSERT_EQ(qbuf(video, kOut, 0, request), 0);
  ASSERT_EQ(qbuf(video, kOut, 1, request), 0);
  // fops_media_request_validate(): "Too many buffers".
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), -EINVAL);
}

// MM21 buffers have two memory planes: QUERYBUF reports both with their
// own mmap cookie, EXPBUF exports either, and a decode writes the luma to
// plane 0 and the CbCr to plane 1 with the 64-aligned geometry.
TEST_F(MediatekTest, DecodeWritesBothPlanesOfMm21) {
  int media = -1, video = -1;
  start(media, video);
  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer query{};
  query.type = kCap;
  query.memory = V4L2_MEMORY_MMAP;
  query.index = 1;
  query.m.planes = planes;
  query.length = 1;  // fewer entries than the buffer's planes
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &query), -EINVAL);
  query.length = VIDEO_MAX_PLANES;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &query), 0);
  ASSERT_EQ(query.length, 2u);
  EXPECT_EQ(planes[0].length, 192u * 192u);
  EXPECT_EQ(planes[1].length, 192u * 192u / 2);
  EXPECT_EQ(planes[0].m.mem_offset, (1u << 30) + (1u << 15));
  EXPECT_EQ(planes[1].m.mem_offset, (1u << 30) + (1u << 15) + (1u << 12));

  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 1, 7, frame_params(9)), 0);
  ASSERT_TRUE(wait_pollpri(request));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(stats_.last_layout.load(), CaptureLayout::MM21);
  EXPECT_EQ(stats_.last_bytesperline.load(), 192u);
  EXPECT_EQ(stats_.last_height.load(), 192u);
  for (uint32_t p = 0; p < 2; ++p) {
    v4l2_exportbuffer exported{};
    exported.type = kCap;
    exported.index = 1;
    exported.plane = p;
    exported.flags = O_CLOEXEC | O_RDWR;
    ASSERT_EQ(xioctl(video, VIDIOC_EXPBUF, &exported), 0);
    open_fds_.push_back(exported.fd);
    auto* bytes = static_cast<uint8_t*>(
        ::mmap(nullptr, planes[p].length, PROT_READ, MAP_SHARED, exported.fd, 0));
    ASSERT_NE(bytes, MAP_FAILED);
    EXPECT_EQ(bytes[0], p == 0 ? 9 : static_cast<uint8_t>(~9));
    ::munmap(bytes, planes[p].length);
  }
  v4l2_exportbuffer beyond{};
  beyond.type = kCap;
  beyond.index = 1;
  beyond.plane = 2;
  EXPECT_EQ(xioctl(video, VIDIOC_EXPBUF, &beyond), -EINVAL);
}

// mtk_vdec_s_ctrl(): no try_ctrl, so TRY accepts any bit depth; setting an
// SPS with both depths non-zero (and not both 10-bit) is EINVAL. Neither
// the chroma format nor the profile is checked.
TEST_F(MediatekTest, SpsBitDepthIsCheckedWhenSet) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144, 4096), 0);
  v4l2_ctrl_h264_sps sps = valid_sps();
  sps.profile_idc = 110;  // below High 10 std_validate_compound() zeroes the depths
  sps.bit_depth_luma_minus8 = 1;
  sps.bit_depth_chroma_minus8 = 1;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps), -1,
                     VIDIOC_TRY_EXT_CTRLS),
            0);
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), -EINVAL);
  sps.bit_depth_chroma_minus8 = 0;  // only one of them: accepted
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
  v4l2_ctrl_h264_sps mono = valid_sps();
  mono.profile_idc = 100;
  mono.chroma_format_idc = 0;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &mono, sizeof(mono)), 0);
}

// In a request the SPS is only checked by v4l2_ctrl_request_setup() when
// the job starts; mtk_vdec_worker() ignores that error and the rest of the
// request's controls stay unapplied. The model returns the job as ERROR.
TEST_F(MediatekTest, SpsRefusedAtRequestSetupFailsTheJob) {
  int media = -1, video = -1;
  start(media, video);
  const int request = alloc_request(media);
  v4l2_ctrl_h264_sps sps = valid_sps();
  sps.profile_idc = 110;  // below High 10 std_validate_compound() zeroes the depths
  sps.bit_depth_luma_minus8 = 1;
  sps.bit_depth_chroma_minus8 = 1;
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps), request), 0);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(stats_.decodes.load(), 0);
  // Decoding goes on with the next request.
  const int next = alloc_request(media);
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  ASSERT_EQ(decode_picture(video, next, 1, 1, 2, frame_params(1)), 0);
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
}

// m2mops_vdec_job_ready(): without S_FMT(OUTPUT) the instance stays FREE and
// no job runs. CAPTURE STREAMOFF forces FLUSH and STREAMON then HEADER, so a
// job runs without a decoder instance: vdec_if_decode() fails with EIO, and
// dequeuing that OUTPUT buffer (vb2ops_vdec_buf_finish) aborts the instance:
// QBUF/DQBUF then fail with EIO.
TEST_F(MediatekTest, NoJobBeforeOutputFormatAndEioAbortsTheInstance) {
  const int media = open_node("/dev/media0");
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kOut, 1), 0);
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  EXPECT_FALSE(wait_pollpri(request, 100));
  EXPECT_EQ(stats_.decodes.load(), 0);
  ASSERT_EQ(stream(video, kCap, false), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  ASSERT_EQ(qbuf(video, kCap, 0), 0);
  ASSERT_TRUE(wait_pollpri(request));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(qbuf(video, kCap, 0), -EIO);
  EXPECT_EQ(dqbuf(video, kCap, buffer, plane), -EIO);
}

// vb2ops_vdec_stop_streaming(): CAPTURE STREAMOFF flushes the decoder;
// vb2ops_vdec_start_streaming() resumes decoding (FLUSH -> HEADER).
TEST_F(MediatekTest, CaptureStreamoffFlushesAndStreamonResumes) {
  int media = -1, video = -1;
  start(media, video);
  const int first = alloc_request(media);
  ASSERT_EQ(decode_picture(video, first, 0, 0, 1, frame_params(0)), 0);
  ASSERT_TRUE(wait_pollpri(first));
  ASSERT_EQ(stream(video, kCap, false), 0);
  ASSERT_EQ(stream(video, kOut, false), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  const int second = alloc_request(media);
  ASSERT_EQ(decode_picture(video, second, 1, 1, 2, frame_params(1)), 0);
  ASSERT_TRUE(wait_pollpri(second));
  EXPECT_EQ(stats_.decodes.load(), 2);
  EXPECT_GE(stats_.resets.load(), 1);
}

// Without HOLD_CAPTURE_BUF a field pair takes two jobs into one CAPTURE
// buffer: the client queues the buffer again for the second field (same
// timestamp), and the second field joins the first for the DPB.
TEST_F(MediatekTest, SecondFieldDecodesIntoTheRequeuedCaptureBuffer) {
  int media = -1, video = -1;
  start(media, video);
  v4l2_ctrl_h264_decode_params top = frame_params(0);
  top.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC | V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
  const int first = alloc_request(media);
  ASSERT_EQ(decode_picture(video, first, 0, 0, 5, top), 0);
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  v4l2_ctrl_h264_decode_params bottom = frame_params(0);
  bottom.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC | V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
  bottom.bottom_field_order_cnt = 1;
  const int second = alloc_request(media);
  ASSERT_EQ(decode_picture(video, second, 1, 0, 5, bottom), 0);
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  // A P frame referencing both fields of that buffer passes the DPB check.
  v4l2_ctrl_h264_decode_params next = frame_params(1);
  next.top_field_order_cnt = next.bottom_field_order_cnt = 4;
  v4l2_h264_dpb_entry& entry = next.dpb[0];
  entry.reference_ts = 5000;
  entry.frame_num = 0;
  entry.fields = V4L2_H264_FRAME_REF;
  entry.bottom_field_order_cnt = 1;
  entry.flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE;
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  const int third = alloc_request(media);
  ASSERT_EQ(decode_picture(video, third, 0, 1, 6, next), 0);
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(Emulator::instance().counters().snapshot().dpb_mismatches, 0u);
}

// The controls mtk_stateless_controls[] creates for H.264 on MT8183.
TEST_F(MediatekTest, ControlsAreFrameBasedAnnexBWithoutSliceControls) {
  const int video = open_node("/dev/video0");
  v4l2_query_ext_ctrl query{};
  query.id = V4L2_CID_STATELESS_H264_DECODE_MODE;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
  EXPECT_EQ(query.minimum, V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED);
  EXPECT_EQ(query.maximum, V4L2_STATELESS_H264_DECODE_MODE_FRAME_BASED);
  query = {};
  query.id = V4L2_CID_STATELESS_H264_START_CODE;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
  EXPECT_EQ(query.minimum, V4L2_STATELESS_H264_START_CODE_ANNEX_B);
  EXPECT_EQ(query.maximum, V4L2_STATELESS_H264_START_CODE_ANNEX_B);
  query = {};
  query.id = V4L2_CID_MPEG_VIDEO_H264_LEVEL;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
  EXPECT_EQ(query.maximum, V4L2_MPEG_VIDEO_H264_LEVEL_4_2);
  EXPECT_EQ(query.default_value, V4L2_MPEG_VIDEO_H264_LEVEL_4_1);
  query = {};
  query.id = V4L2_CID_MPEG_VIDEO_H264_PROFILE;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
  EXPECT_EQ(query.maximum, V4L2_MPEG_VIDEO_H264_PROFILE_HIGH);
  v4l2_querymenu item{};
  item.id = V4L2_CID_MPEG_VIDEO_H264_PROFILE;
  item.index = V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE;  // in menu_skip_mask
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYMENU, &item), -EINVAL);
  for (uint32_t id : {V4L2_CID_STATELESS_H264_SLICE_PARAMS, V4L2_CID_STATELESS_H264_PRED_WEIGHTS}) {
    query = {};
    query.id = id;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), -EINVAL);
  }
}

}  // namespace
}  // namespace emu::test

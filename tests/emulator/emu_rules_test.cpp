// Each kernel rule the device model enforces, broken on purpose, must fail
// with the errno the real kernel returns. Driven through the interposed libc.
#include <sys/socket.h>

#include "emu_test_support.h"

namespace emu::test {
namespace {

using RulesTest = EmulatorTest;

// vidioc-reqbufs.rst / hantro_set_fmt_out(): hantro admits S_FMT(OUTPUT) with
// buffers (resolution change), and CAPTURE follows the new OUTPUT size.
TEST_F(RulesTest, HantroOutputFormatChangeWithBuffersIsAllowed) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  ASSERT_EQ(reqbufs(video, kOut, 2), 0);
  EXPECT_EQ(set_output_format(video, 352, 288), 0);
  EXPECT_EQ(get_format(video, kCap).width, 352u);
}

// rkvdec_s_output_fmt(): EBUSY once CAPTURE has buffers, or while streaming.
TEST_F(RulesTest, StrictOutputFormatWithCaptureBuffersIsBusy) {
  configure({"rkvdec"});
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  ASSERT_EQ(reqbufs(video, kCap, 2), 0);
  EXPECT_EQ(set_output_format(video, 352, 288), -EBUSY);
}

// rkvdec_s_capture_fmt(): S_FMT(CAPTURE) on a queue with buffers is EBUSY.
TEST_F(RulesTest, StrictCaptureFormatWithBuffersIsBusy) {
  configure({"rkvdec"});
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kCap, 2), 0);
  v4l2_format format{};
  format.type = kCap;
  format.fmt.pix_mp.pixelformat = V4L2_PIX_FMT_NV12;
  EXPECT_EQ(xioctl(video, VIDIOC_S_FMT, &format), -EBUSY);
}

TEST_F(RulesTest, StrictOutputFormatWhileStreamingIsBusy) {
  configure({"rkvdec"});
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kOut, 1), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  EXPECT_EQ(set_output_format(video, 352, 288), -EBUSY);
}

// dev-stateless-decoder.rst: the CAPTURE format follows OUTPUT, sizes aligned
// to macroblocks (v4l2_apply_frmsize_constraints, step 16), NV12 pitch = width,
// plus hantro_h264_mv_size().
TEST_F(RulesTest, CaptureFormatIsDerivedFromOutputLikeHantro) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  v4l2_pix_format_mplane cap = get_format(video, kCap);
  EXPECT_EQ(cap.pixelformat, V4L2_PIX_FMT_NV12);
  EXPECT_EQ(cap.width, 176u);
  EXPECT_EQ(cap.height, 144u);
  EXPECT_EQ(cap.plane_fmt[0].bytesperline, 176u);
  EXPECT_EQ(cap.plane_fmt[0].sizeimage, 176u * 144u * 3 / 2 + 64u * 11 * 9 + 32);
  ASSERT_EQ(set_output_format(video, 1920, 1080), 0);
  cap = get_format(video, kCap);
  EXPECT_EQ(cap.width, 1920u);
  EXPECT_EQ(cap.height, 1088u);
  ASSERT_EQ(set_output_format(video, 4096, 4096), 0);  // clamped to hantro's 1920x1088
  EXPECT_EQ(get_format(video, kOut).width, 1920u);
  EXPECT_EQ(get_format(video, kOut).height, 1088u);
  ASSERT_EQ(set_output_format(video, 8, 8), 0);  // and to its 48x48 minimum
  EXPECT_EQ(get_format(video, kCap).width, 48u);
}

// vidioc-qbuf.rst: queueing a buffer that is still queued is EINVAL.
TEST_F(RulesTest, QbufOfQueuedCaptureBufferIsInvalid) {
  int media = -1, video = -1;
  start_streaming(media, video);
  ASSERT_EQ(qbuf(video, kCap, 0), 0);
  EXPECT_EQ(qbuf(video, kCap, 0), -EINVAL);
}

// videobuf2-v4l2.c vb2_queue_or_prepare_buf(): a buffer given with a request
// must be dequeued; one already in a request is EINVAL.
TEST_F(RulesTest, QbufOfOutputBufferAlreadyInRequestIsInvalid) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int first = alloc_request(media);
  const int second = alloc_request(media);
  ASSERT_EQ(qbuf(video, kOut, 0, first), 0);
  EXPECT_EQ(qbuf(video, kOut, 0, second), -EINVAL);
}

// vidioc-qbuf.rst: EBADR when a queue that requires requests gets none.
TEST_F(RulesTest, QbufOutputWithoutRequestIsEbadr) {
  int media = -1, video = -1;
  start_streaming(media, video);
  EXPECT_EQ(qbuf(video, kOut, 0), -EBADR);
}

// vidioc-qbuf.rst: EBADR when a queue that does not support requests gets one.
TEST_F(RulesTest, QbufCaptureWithRequestIsEbadr) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  EXPECT_EQ(qbuf(video, kCap, 0, request), -EBADR);
}

// media_request_get_by_fd(): an fd that is not a request of this device is EINVAL.
TEST_F(RulesTest, QbufWithForeignRequestFdIsInvalid) {
  int media = -1, video = -1;
  start_streaming(media, video);
  EXPECT_EQ(qbuf(video, kOut, 0, media), -EINVAL);
  EXPECT_EQ(qbuf(video, kOut, 0, 999), -EINVAL);
}

// media-request-ioc-queue.rst + vb2_request_validate(): no buffer -> ENOENT.
TEST_F(RulesTest, QueueOfRequestWithoutBufferIsEnoent) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  v4l2_ctrl_h264_decode_params params{};
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &params, sizeof(params), request), 0);
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), -ENOENT);
}

// vb2_request_validate() has no maximum: hantro accepts two OUTPUT buffers in
// one request. rkvdec_request_validate() rejects more than one with EINVAL.
TEST_F(RulesTest, TwoOutputBuffersInOneRequest) {
  int media = -1, video = -1;
  start_streaming(media, video);
  int request = alloc_request(media);
  ASSERT_EQ(qbuf(video, kOut, 0, request), 0);
  ASSERT_EQ(qbuf(video, kOut, 1, request), 0);
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);

  configure({"rkvdec"});
  start_streaming(media, video);
  request = alloc_request(media);
  ASSERT_EQ(qbuf(video, kOut, 0, request), 0);
  ASSERT_EQ(qbuf(video, kOut, 1, request), 0);
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), -EINVAL);
}

// A queued request cannot be changed: REINIT (media-request-ioc-reinit.rst),
// QUEUE again (media-request-ioc-queue.rst), new controls or buffers
// (media_request_lock_for_update) are all EBUSY; G_EXT_CTRLS before
// completion is EACCES (vidioc-g-ext-ctrls.rst).
TEST_F(RulesTest, QueuedRequestIsImmutable) {
  const int media = open_node("/dev/media0");
  const int video = open_node("/dev/video0");
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  ASSERT_EQ(reqbufs(video, kOut, 2), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);  // CAPTURE never streams: the job cannot run
  const int request = alloc_request(media);
  ASSERT_EQ(qbuf(video, kOut, 0, request), 0);
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), -EBUSY);
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), -EBUSY);
  v4l2_ctrl_h264_decode_params params{};
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &params, sizeof(params), request),
            -EBUSY);
  EXPECT_EQ(qbuf(video, kOut, 1, request), -EBUSY);
  v4l2_ext_control control{};
  control.id = V4L2_CID_STATELESS_H264_DECODE_PARAMS;
  control.size = sizeof(params);
  control.ptr = &params;
  v4l2_ext_controls controls{};
  controls.which = V4L2_CTRL_WHICH_REQUEST_VAL;
  controls.request_fd = request;
  controls.count = 1;
  controls.controls = &control;
  EXPECT_EQ(xioctl(video, VIDIOC_G_EXT_CTRLS, &controls), -EACCES);
  // STREAMOFF cancels the buffer, which completes the request; then REINIT works.
  ASSERT_EQ(stream(video, kOut, false), 0);
  EXPECT_TRUE(wait_pollpri(request, 0));
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
}

// vidioc-g-ext-ctrls.rst: REQUEST_VAL without a valid request fd is EINVAL.
TEST_F(RulesTest, RequestValWithoutRequestFdIsInvalid) {
  const int video = open_node("/dev/video0");
  v4l2_ctrl_h264_decode_params params{};
  v4l2_ext_control control{};
  control.id = V4L2_CID_STATELESS_H264_DECODE_PARAMS;
  control.size = sizeof(params);
  control.ptr = &params;
  v4l2_ext_controls controls{};
  controls.which = V4L2_CTRL_WHICH_REQUEST_VAL;
  controls.request_fd = -1;
  controls.count = 1;
  controls.controls = &control;
  EXPECT_EQ(xioctl(video, VIDIOC_S_EXT_CTRLS, &controls), -EINVAL);
}

// v4l2-ctrls-api.c prepare_ext_ctrls(): a compound payload smaller than the
// control is EFAULT on set, ENOSPC (with the needed size) on get.
TEST_F(RulesTest, CompoundControlSizeIsChecked) {
  const int video = open_node("/dev/video0");
  v4l2_ctrl_h264_sps sps = valid_sps();
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps) - 1), -EFAULT);
  v4l2_ext_control control{};
  control.id = V4L2_CID_STATELESS_H264_SPS;
  control.size = 4;
  control.ptr = &sps;
  v4l2_ext_controls controls{};
  controls.count = 1;
  controls.controls = &control;
  EXPECT_EQ(xioctl(video, VIDIOC_G_EXT_CTRLS, &controls), -ENOSPC);
  EXPECT_EQ(control.size, sizeof(v4l2_ctrl_h264_sps));
}

// std_validate_compound(): out-of-range PPS fields are EINVAL.
TEST_F(RulesTest, InvalidPpsIsRejected) {
  const int video = open_node("/dev/video0");
  v4l2_ctrl_h264_pps pps{};
  pps.pic_init_qp_minus26 = 26;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_PPS, &pps, sizeof(pps)), -EINVAL);
  pps.pic_init_qp_minus26 = 0;
  pps.weighted_bipred_idc = 3;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_PPS, &pps, sizeof(pps)), -EINVAL);
  pps.weighted_bipred_idc = 2;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_PPS, &pps, sizeof(pps)), 0);
}

// hantro_try_ctrl(): 4:2:2 and high bit depth SPS are EINVAL on hantro even
// where the core accepts them (High 4:2:2 profile).
TEST_F(RulesTest, HantroRejectsUnsupportedSps) {
  const int video = open_node("/dev/video0");
  v4l2_ctrl_h264_sps sps = valid_sps();
  sps.profile_idc = 122;
  sps.chroma_format_idc = 2;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), -EINVAL);
  sps.chroma_format_idc = 1;
  sps.bit_depth_luma_minus8 = sps.bit_depth_chroma_minus8 = 2;
  EXPECT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), -EINVAL);
}

// Field note (visl, 6.12): profile_idc 0 with chroma_format_idc 4 is accepted,
// because the core resets chroma_format_idc to 1 for profiles without it; the
// normalised value is copied back to the caller.
TEST_F(RulesTest, SpsConditionalFieldsAreNormalisedNotRejected) {
  const int video = open_node("/dev/video0");
  v4l2_ctrl_h264_sps sps = valid_sps();
  sps.profile_idc = 0;
  sps.chroma_format_idc = 4;
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
  EXPECT_EQ(sps.chroma_format_idc, 1);
}

// std_validate_elem(): a menu value outside min..max is ERANGE, a skipped
// item EINVAL. Hantro's decode mode is frame-based only.
TEST_F(RulesTest, MenuControlsAreRangeChecked) {
  const int video = open_node("/dev/video0");
  v4l2_control control{V4L2_CID_STATELESS_H264_DECODE_MODE,
                       V4L2_STATELESS_H264_DECODE_MODE_SLICE_BASED};
  EXPECT_EQ(xioctl(video, VIDIOC_S_CTRL, &control), -ERANGE);
  control = {V4L2_CID_MPEG_VIDEO_H264_PROFILE, V4L2_MPEG_VIDEO_H264_PROFILE_EXTENDED};
  EXPECT_EQ(xioctl(video, VIDIOC_S_CTRL, &control), -EINVAL);
  control = {V4L2_CID_MPEG_VIDEO_H264_PROFILE, V4L2_MPEG_VIDEO_H264_PROFILE_HIGH};
  EXPECT_EQ(xioctl(video, VIDIOC_S_CTRL, &control), 0);
}

// vb2_core_streamon(): no buffers -> EINVAL; vb2_core_reqbufs(): streaming -> EBUSY.
TEST_F(RulesTest, StreamonWithoutBuffersAndReqbufsWhileStreaming) {
  const int video = open_node("/dev/video0");
  EXPECT_EQ(stream(video, kOut, true), -EINVAL);
  ASSERT_EQ(reqbufs(video, kOut, 1), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  EXPECT_EQ(reqbufs(video, kOut, 0), -EBUSY);
}

// __vb2_wait_for_done_vb(): DQBUF on a stopped queue is EINVAL, and with
// O_NONBLOCK and nothing done it is EAGAIN.
TEST_F(RulesTest, DqbufRules) {
  const int video = open_node("/dev/video0", O_RDWR | O_NONBLOCK);
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  EXPECT_EQ(dqbuf(video, kCap, buffer, plane), -EINVAL);
  ASSERT_EQ(stream(video, kCap, true), 0);
  EXPECT_EQ(dqbuf(video, kCap, buffer, plane), -EAGAIN);
}

// vb2_fill_vb2_v4l2_buffer(): bytesused beyond the plane is EINVAL.
TEST_F(RulesTest, BytesusedBeyondBufferIsInvalid) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  EXPECT_EQ(qbuf(video, kOut, 0, request, 0, 1u << 30), -EINVAL);
}

// vb2_mmap(): the offset must be a buffer's mem_offset and the mapping shared.
TEST_F(RulesTest, MmapRules) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  v4l2_plane plane{};
  v4l2_buffer buffer{};
  buffer.type = kCap;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.index = 0;
  buffer.m.planes = &plane;
  buffer.length = 1;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
  void* bad = ::mmap(nullptr, plane.length, PROT_READ, MAP_SHARED, video, plane.m.mem_offset + 4096);
  EXPECT_EQ(bad, MAP_FAILED);
  EXPECT_EQ(errno, EINVAL);
  void* priv = ::mmap(nullptr, plane.length, PROT_READ, MAP_PRIVATE, video, plane.m.mem_offset);
  EXPECT_EQ(priv, MAP_FAILED);
  void* good = ::mmap(nullptr, plane.length, PROT_READ | PROT_WRITE, MAP_SHARED, video,
                      plane.m.mem_offset);
  ASSERT_NE(good, MAP_FAILED);
  static_cast<uint8_t*>(good)[0] = 7;
  ::munmap(good, plane.length);
}

// QUERYBUF/QBUF: check_array_args() copies a plane array of 1..VIDEO_MAX_PLANES
// entries (EFAULT when it is missing, EINVAL beyond 8); vb2's
// __verify_planes_array() then wants an array (EINVAL) at least as long as
// the buffer's planes (EINVAL).
TEST_F(RulesTest, PlanesArrayIsVerified) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  v4l2_buffer buffer{};
  buffer.type = kCap;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.length = 1;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EFAULT);
  buffer.length = 0;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EINVAL);
  v4l2_plane planes[VIDEO_MAX_PLANES + 1]{};
  buffer.m.planes = planes;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EINVAL);
  buffer.length = VIDEO_MAX_PLANES + 1;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), -EINVAL);
  buffer.length = 1;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
}

}  // namespace
}  // namespace emu::test

// V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF: which drivers advertise it and when
// (hantro_v4l2.c, rkvdec.c, cedrus_video.c), and the v4l2-mem2mem.c rules for
// a held CAPTURE buffer: it stays for the next job with the same timestamp
// (the second field of a field pair, the next slice of a picture) and is
// returned when a job runs without the flag or the next OUTPUT buffer carries
// another timestamp. GStreamer's v4l2slh264dec decodes field pairs this way
// and refuses field streams on a device without the capability.
#include "emu_test_support.h"

namespace emu::test {
namespace {

v4l2_ctrl_h264_decode_params field_params(uint16_t frame_num, int32_t poc, bool bottom) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.nal_ref_idc = 1;
  params.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC |
                 (bottom ? V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD : 0);
  if (bottom) params.bottom_field_order_cnt = poc;
  else params.top_field_order_cnt = poc;
  return params;
}

v4l2_ctrl_h264_decode_params frame_params(uint16_t frame_num, int32_t poc) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.top_field_order_cnt = poc;
  params.bottom_field_order_cnt = poc;
  params.nal_ref_idc = 1;
  return params;
}

void add_field_reference(v4l2_ctrl_h264_decode_params& params, size_t slot, uint64_t ts_us,
                         uint16_t frame_num, int32_t top_poc, int32_t bottom_poc, uint8_t fields) {
  v4l2_h264_dpb_entry& entry = params.dpb[slot];
  entry.reference_ts = ts_us * 1000;  // v4l2_timeval_to_ns()
  entry.frame_num = frame_num;
  entry.fields = fields;
  entry.top_field_order_cnt = top_poc;
  entry.bottom_field_order_cnt = bottom_poc;
  entry.flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE |
                V4L2_H264_DPB_ENTRY_FLAG_FIELD;
}

class HoldFixture : public EmulatorTest {
 protected:
  // OUTPUT buffer `out_index` in `request` with `flags` (e.g. HOLD), the
  // decode params on the request, optionally a CAPTURE buffer, then QUEUE.
  int queue_job(int video, int request, uint32_t out_index, int cap_index, uint64_t ts_us,
                const v4l2_ctrl_h264_decode_params& params, uint32_t flags) {
    v4l2_ctrl_h264_decode_params copy = params;
    if (int ret = set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &copy, sizeof(copy),
                           request))
      return ret;
    v4l2_plane plane{};
    plane.bytesused = 16;
    v4l2_buffer buffer{};
    buffer.type = kOut;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.index = out_index;
    buffer.m.planes = &plane;
    buffer.length = 1;
    buffer.timestamp.tv_sec = static_cast<time_t>(ts_us / 1000000);
    buffer.timestamp.tv_usec = static_cast<suseconds_t>(ts_us % 1000000);
    buffer.flags = V4L2_BUF_FLAG_REQUEST_FD | flags;
    buffer.request_fd = request;
    if (int ret = xioctl(video, VIDIOC_QBUF, &buffer)) return ret;
    last_output_qbuf_flags_ = buffer.flags;
    if (cap_index >= 0)
      if (int ret = qbuf(video, kCap, static_cast<uint32_t>(cap_index))) return ret;
    return xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr);
  }
  // Waits for the request, dequeues its OUTPUT buffer, reinits the request.
  void finish_request(int video, int request, v4l2_buffer& output) {
    ASSERT_TRUE(wait_pollpri(request));
    v4l2_plane plane{};
    ASSERT_EQ(dqbuf(video, kOut, output, plane), 0);
    ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
  }
  int dqbuf_capture_nonblocking(int video, v4l2_buffer& buffer) {
    const int flags = ::fcntl(video, F_GETFL);
    ::fcntl(video, F_SETFL, flags | O_NONBLOCK);
    v4l2_plane plane{};
    const int ret = dqbuf(video, kCap, buffer, plane);
    ::fcntl(video, F_SETFL, flags);
    return ret;
  }
  uint32_t capture_flags(int video, uint32_t index) {
    v4l2_plane plane{};
    v4l2_buffer buffer{};
    buffer.type = kCap;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.index = index;
    buffer.m.planes = &plane;
    buffer.length = 1;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
    return buffer.flags;
  }
  uint32_t last_output_qbuf_flags_ = 0;
};

TEST_F(HoldFixture, HantroAdvertisesHoldForH264FromOpen) {
  // hantro_reset_encoded_fmt() -> hantro_set_fmt_out() ->
  // hantro_update_requires_hold_capture_buf(H264_SLICE) at open.
  const int video = open_node("/dev/video0");
  v4l2_requestbuffers request{};
  ASSERT_EQ(reqbufs(video, kOut, 2, &request), 0);
  EXPECT_TRUE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
  ASSERT_EQ(reqbufs(video, kCap, 2, &request), 0);
  EXPECT_FALSE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
}

TEST_F(HoldFixture, RkvdecAndCedrusAdvertiseHoldOnlyAfterSettingTheOutputFormat) {
  for (const char* profile : {"rkvdec", "cedrus"}) {
    SCOPED_TRACE(profile);
    configure({profile});
    const int video = open_node("/dev/video0");
    v4l2_requestbuffers request{};
    ASSERT_EQ(reqbufs(video, output_type_, 1, &request), 0);
    EXPECT_FALSE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
    ASSERT_EQ(reqbufs(video, output_type_, 0), 0);
    ASSERT_EQ(set_output_format(video, 176, 144), 0);
    ASSERT_EQ(reqbufs(video, output_type_, 1, &request), 0);
    EXPECT_TRUE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF);
    close_fd(video);
  }
}

TEST_F(HoldFixture, HoldFlagIsDroppedByAQueueWithoutTheCapability) {
  // rkvdec before S_FMT(OUTPUT): vb2 clears the flag (__fill_vb2_buffer), so
  // the CAPTURE buffer is returned after the job.
  configure({"rkvdec"});
  const int media = open_node("/dev/media0");
  const int video = open_node("/dev/video0");
  // rkvdec_h264_validate_sps(): not larger than the (default 48x48) OUTPUT format.
  v4l2_ctrl_h264_sps sps = valid_sps(3, 3);
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &sps, sizeof(sps)), 0);
  ASSERT_EQ(reqbufs(video, kOut, 1), 0);
  ASSERT_EQ(reqbufs(video, kCap, 1), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  const int request = alloc_request(media);
  ASSERT_EQ(queue_job(video, request, 0, 0, 10, field_params(0, 0, false),
                      V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF),
            0);
  EXPECT_FALSE(last_output_qbuf_flags_ & V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF);
  v4l2_buffer output{};
  finish_request(video, request, output);
  v4l2_buffer capture{};
  EXPECT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
}

// GStreamer's field pair: the first field's request carries OUTPUT + CAPTURE
// with HOLD; the second field's request carries only an OUTPUT buffer with the
// same timestamp and decodes into the held CAPTURE buffer.
TEST_F(HoldFixture, SecondFieldWithoutCaptureBufferDecodesIntoTheHeldOne) {
  int media = -1, video = -1;
  start_streaming(media, video, 2, 2);
  const int first = alloc_request(media);
  const int second = alloc_request(media);
  ASSERT_EQ(queue_job(video, first, 0, 1, 500, field_params(0, 0, false),
                      V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF),
            0);
  EXPECT_TRUE(last_output_qbuf_flags_ & V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF);
  v4l2_buffer output{};
  finish_request(video, first, output);
  EXPECT_FALSE(output.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_TRUE(output.flags & V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF);

  // Held: still queued, not dequeueable.
  v4l2_buffer capture{};
  EXPECT_EQ(dqbuf_capture_nonblocking(video, capture), -EAGAIN);
  EXPECT_TRUE(capture_flags(video, 1) & V4L2_BUF_FLAG_QUEUED);

  v4l2_ctrl_h264_decode_params bottom = field_params(0, 1, true);
  add_field_reference(bottom, 0, 500, 0, 0, 0, V4L2_H264_TOP_FIELD_REF);
  ASSERT_EQ(queue_job(video, second, 1, -1, 500, bottom, 0), 0);
  finish_request(video, second, output);
  EXPECT_FALSE(output.flags & V4L2_BUF_FLAG_ERROR);
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_EQ(capture.index, 1u);
  EXPECT_EQ(capture.timestamp.tv_usec, 500);
  EXPECT_FALSE(capture.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(stats_.decodes.load(), 2);

  // The complete frame is a reference for the next picture by its timestamp.
  v4l2_ctrl_h264_decode_params next = field_params(1, 4, false);
  add_field_reference(next, 0, 500, 0, 0, 1, V4L2_H264_FRAME_REF);
  ASSERT_EQ(queue_job(video, first, 0, 0, 600, next, 0), 0);
  finish_request(video, first, output);
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_EQ(capture.index, 0u);
  EXPECT_FALSE(capture.flags & V4L2_BUF_FLAG_ERROR);
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.frames_decoded, 3u);
  EXPECT_EQ(counters.dpb_mismatches, 0u);
}

TEST_F(HoldFixture, HeldBufferIsReturnedWhenTheNextOutputHasAnotherTimestamp) {
  int media = -1, video = -1;
  start_streaming(media, video, 2, 2);
  const int first = alloc_request(media);
  const int next = alloc_request(media);
  ASSERT_EQ(queue_job(video, first, 0, 0, 100, field_params(0, 0, false),
                      V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF),
            0);
  v4l2_buffer output{};
  finish_request(video, first, output);
  v4l2_buffer capture{};
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), -EAGAIN);

  // __v4l2_m2m_try_queue(): timestamp mismatch returns the held buffer (DONE)
  // before the job, which takes the next CAPTURE buffer.
  ASSERT_EQ(queue_job(video, next, 1, 1, 200, frame_params(1, 4), 0), 0);
  finish_request(video, next, output);
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_EQ(capture.index, 0u);
  EXPECT_EQ(capture.timestamp.tv_usec, 100);
  EXPECT_FALSE(capture.flags & V4L2_BUF_FLAG_ERROR);
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_EQ(capture.index, 1u);
  EXPECT_EQ(capture.timestamp.tv_usec, 200);
}

TEST_F(HoldFixture, FailureOfAHeldJobIsReportedWhenTheBufferReturns) {
  int media = -1, video = -1;
  start_streaming(media, video, 2, 2);
  const int first = alloc_request(media);
  const int second = alloc_request(media);
  v4l2_ctrl_h264_decode_params top = field_params(1, 4, false);
  add_field_reference(top, 0, 999, 0, 0, 1, V4L2_H264_FRAME_REF);  // no such picture
  ASSERT_EQ(queue_job(video, first, 0, 0, 100, top, V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF), 0);
  v4l2_buffer output{};
  finish_request(video, first, output);
  EXPECT_TRUE(output.flags & V4L2_BUF_FLAG_ERROR);
  ASSERT_EQ(queue_job(video, second, 1, -1, 100, field_params(1, 5, true), 0), 0);
  finish_request(video, second, output);
  EXPECT_FALSE(output.flags & V4L2_BUF_FLAG_ERROR);
  v4l2_buffer capture{};
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_TRUE(capture.flags & V4L2_BUF_FLAG_ERROR);
}

TEST_F(HoldFixture, StreamoffOfCaptureForgetsReferencePictures) {
  // __vb2_queue_cancel() clears copied_timestamp: vb2_find_buffer() cannot
  // find the old pictures by reference_ts any more.
  int media = -1, video = -1;
  start_streaming(media, video, 1, 2);
  const int request = alloc_request(media);
  ASSERT_EQ(queue_job(video, request, 0, 0, 100, frame_params(0, 0), 0), 0);
  v4l2_buffer output{};
  finish_request(video, request, output);
  v4l2_buffer capture{};
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  ASSERT_EQ(stream(video, kCap, false), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  v4l2_ctrl_h264_decode_params params = frame_params(1, 4);
  add_field_reference(params, 0, 100, 0, 0, 0, V4L2_H264_FRAME_REF);
  params.dpb[0].flags &= ~V4L2_H264_DPB_ENTRY_FLAG_FIELD;
  ASSERT_EQ(queue_job(video, request, 0, 1, 200, params, 0), 0);
  finish_request(video, request, output);
  ASSERT_EQ(dqbuf_capture_nonblocking(video, capture), 0);
  EXPECT_TRUE(capture.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(Emulator::instance().counters().snapshot().dpb_mismatches, 1u);
}

}  // namespace
}  // namespace emu::test

// Decode jobs end to end through the preloaded calls: completion as POLLPRI,
// timestamps, the DPB check, ordering, counters, poll/select/epoll.
#include <sys/epoll.h>
#include <sys/select.h>

#include "emu_test_support.h"

namespace emu::test {
namespace {

using DecodeTest = EmulatorTest;

v4l2_ctrl_h264_decode_params frame_params(uint16_t frame_num, int32_t poc) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.top_field_order_cnt = poc;
  params.bottom_field_order_cnt = poc;
  params.nal_ref_idc = 1;
  return params;
}

void add_reference(v4l2_ctrl_h264_decode_params& params, size_t slot, uint64_t ts_us,
                   uint16_t frame_num, int32_t poc, uint8_t fields = V4L2_H264_FRAME_REF) {
  v4l2_h264_dpb_entry& entry = params.dpb[slot];
  entry.reference_ts = ts_us * 1000;  // v4l2_timeval_to_ns()
  entry.frame_num = frame_num;
  entry.fields = fields;
  entry.top_field_order_cnt = poc;
  entry.bottom_field_order_cnt = poc;
  entry.flags = V4L2_H264_DPB_ENTRY_FLAG_VALID | V4L2_H264_DPB_ENTRY_FLAG_ACTIVE;
}

TEST_F(DecodeTest, CompletedRequestSignalsPollpriAndCopiesTheTimestamp) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 1, 1234567, frame_params(5, 0)), 0);
  ASSERT_TRUE(wait_pollpri(request));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_EQ(buffer.index, 1u);
  EXPECT_EQ(buffer.timestamp.tv_sec, 1);
  EXPECT_EQ(buffer.timestamp.tv_usec, 234567);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(plane.bytesused, get_format(video, kCap).plane_fmt[0].sizeimage);
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_REQUEST_FD);
  EXPECT_EQ(stats_.decodes.load(), 1);

  // The picture is in the CAPTURE buffer, also through an exported fd.
  v4l2_exportbuffer exported{};
  exported.type = kCap;
  exported.index = 1;
  exported.flags = O_CLOEXEC | O_RDWR;
  ASSERT_EQ(xioctl(video, VIDIOC_EXPBUF, &exported), 0);
  open_fds_.push_back(exported.fd);
  auto* pixels = static_cast<uint8_t*>(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, exported.fd, 0));
  ASSERT_NE(pixels, MAP_FAILED);
  EXPECT_EQ(pixels[0], 5);
  ::munmap(pixels, 4096);

  // vidioc-g-ext-ctrls.rst: a completed request's values can be read back.
  v4l2_ctrl_h264_decode_params readback{};
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &readback, sizeof(readback),
                     request, VIDIOC_G_EXT_CTRLS),
            0);
  EXPECT_EQ(readback.frame_num, 5);

  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.frames_decoded, 1u);
  EXPECT_EQ(counters.errors, 0u);
  EXPECT_EQ(counters.requests_allocated, 1u);
  EXPECT_EQ(counters.ioctls.at("MEDIA_REQUEST_IOC_QUEUE"), 1u);
}

TEST_F(DecodeTest, RequestIsReusedAfterReinit) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  for (uint16_t frame = 0; frame < 6; ++frame) {
    ASSERT_EQ(decode_picture(video, request, 0, frame % 4, 1000 + frame, frame_params(frame, 2 * frame)), 0);
    ASSERT_TRUE(wait_pollpri(request));
    v4l2_buffer buffer{};
    v4l2_plane plane{};
    ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
    ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
    ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
    pollfd p{request, POLLPRI, 0};
    ASSERT_EQ(::poll(&p, 1, 0), 1);
    EXPECT_EQ(p.revents, POLLERR);  // media_request_poll(): an idle request is POLLERR
  }
  EXPECT_EQ(Emulator::instance().counters().snapshot().frames_decoded, 6u);
}

// The DPB check: a reference must name a CAPTURE buffer holding that picture.
TEST_F(DecodeTest, ReferenceToUnknownTimestampIsFlaggedAsError) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  v4l2_ctrl_h264_decode_params params = frame_params(1, 2);
  add_reference(params, 0, 999, 0, 0);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 2000, params), 0);
  ASSERT_TRUE(wait_pollpri(request));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.errors, 1u);
  EXPECT_EQ(counters.dpb_mismatches, 1u);
  EXPECT_EQ(counters.frames_decoded, 0u);
}

TEST_F(DecodeTest, ReferenceMatchingOrNotTheStoredPicture) {
  int media = -1, video = -1;
  start_streaming(media, video, 1, 4);
  const int request = alloc_request(media);
  auto run = [&](uint32_t cap, uint64_t ts, const v4l2_ctrl_h264_decode_params& params) {
    EXPECT_EQ(decode_picture(video, request, 0, cap, ts, params), 0);
    EXPECT_TRUE(wait_pollpri(request));
    v4l2_buffer buffer{};
    v4l2_plane plane{};
    EXPECT_EQ(dqbuf(video, kCap, buffer, plane), 0);
    v4l2_buffer out{};
    v4l2_plane out_plane{};
    EXPECT_EQ(dqbuf(video, kOut, out, out_plane), 0);
    EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
    return (buffer.flags & V4L2_BUF_FLAG_ERROR) != 0;
  };
  EXPECT_FALSE(run(0, 100, frame_params(0, 0)));  // IDR into buffer 0
  v4l2_ctrl_h264_decode_params p = frame_params(1, 4);
  add_reference(p, 0, 100, 0, 0);
  EXPECT_FALSE(run(1, 200, p));  // right frame_num and POC
  v4l2_ctrl_h264_decode_params wrong_frame = frame_params(2, 8);
  add_reference(wrong_frame, 0, 100, 7, 0);
  EXPECT_TRUE(run(2, 300, wrong_frame));
  v4l2_ctrl_h264_decode_params wrong_poc = frame_params(2, 8);
  add_reference(wrong_poc, 0, 200, 1, 6);
  EXPECT_TRUE(run(3, 400, wrong_poc));
  // A reference to the buffer being overwritten (its old picture) is an error too.
  v4l2_ctrl_h264_decode_params self = frame_params(3, 12);
  add_reference(self, 0, 100, 0, 0);
  EXPECT_TRUE(run(0, 500, self));
  EXPECT_EQ(Emulator::instance().counters().snapshot().dpb_mismatches, 3u);
}

TEST_F(DecodeTest, SecondFieldMayReferenceTheFirstFieldInTheSameBuffer) {
  int media = -1, video = -1;
  start_streaming(media, video, 2, 2);
  const int first = alloc_request(media);
  const int second = alloc_request(media);
  v4l2_ctrl_h264_decode_params top = frame_params(0, 0);
  top.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC;
  top.bottom_field_order_cnt = 0;
  ASSERT_EQ(decode_picture(video, first, 0, 0, 700, top), 0);
  ASSERT_TRUE(wait_pollpri(first));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  v4l2_ctrl_h264_decode_params bottom = frame_params(0, 1);
  bottom.flags = V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC | V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD;
  add_reference(bottom, 0, 700, 0, 0, V4L2_H264_TOP_FIELD_REF);
  ASSERT_EQ(decode_picture(video, second, 1, 0, 700, bottom), 0);
  ASSERT_TRUE(wait_pollpri(second));
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_FALSE(buffer.flags & V4L2_BUF_FLAG_ERROR);
}

TEST_F(DecodeTest, JobsCompleteInQueueOrderWithDecodeTime) {
  configure({"hantro"}, 2000);
  int media = -1, video = -1;
  start_streaming(media, video, 4, 4);
  std::vector<int> requests;
  for (uint32_t i = 0; i < 4; ++i) {
    requests.push_back(alloc_request(media));
    ASSERT_EQ(decode_picture(video, requests.back(), i, 3 - i, 10 + i, frame_params(static_cast<uint16_t>(i), 0)), 0);
  }
  for (uint32_t i = 0; i < 4; ++i) {
    v4l2_buffer buffer{};
    v4l2_plane plane{};
    ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);  // blocking DQBUF waits for the job
    EXPECT_EQ(buffer.index, 3 - i);
    EXPECT_EQ(buffer.sequence, i);
    EXPECT_EQ(buffer.timestamp.tv_usec, static_cast<suseconds_t>(10 + i));
  }
  for (int request : requests) EXPECT_TRUE(wait_pollpri(request, 0));
  EXPECT_GE(Emulator::instance().counters().snapshot().max_requests_in_flight, 2u);
}

TEST_F(DecodeTest, BackendFailureIsReturnedAsErrorBuffer) {
  int media = -1, video = -1;
  start_streaming(media, video);
  v4l2_plane plane{};
  v4l2_buffer query{};
  query.type = kOut;
  query.memory = V4L2_MEMORY_MMAP;
  query.index = 0;
  query.m.planes = &plane;
  query.length = 1;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &query), 0);
  void* bitstream = ::mmap(nullptr, plane.length, PROT_WRITE, MAP_SHARED, video, plane.m.mem_offset);
  ASSERT_NE(bitstream, MAP_FAILED);
  std::memcpy(bitstream, "BAD", 3);
  ::munmap(bitstream, plane.length);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0, 0)), 0);
  v4l2_buffer buffer{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(Emulator::instance().counters().snapshot().errors, 1u);
}

TEST_F(DecodeTest, SpsLargerThanCaptureFormatIsAnError) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  v4l2_ctrl_h264_sps big = valid_sps(120, 68);
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_SPS, &big, sizeof(big), request), 0);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0, 0)), 0);
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kCap, buffer, plane), 0);
  EXPECT_TRUE(buffer.flags & V4L2_BUF_FLAG_ERROR);
  EXPECT_EQ(stats_.decodes.load(), 0);
}

TEST_F(DecodeTest, VideoFdPollReportsDoneQueuesAndIdleError) {
  int media = -1, video = -1;
  start_streaming(media, video);
  pollfd p{video, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLERR);  // v4l2_m2m_poll(): nothing queued anywhere
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0, 0)), 0);
  p = {video, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_TRUE(p.revents & POLLIN);
  p = {video, POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_TRUE(p.revents & POLLOUT);
}

TEST_F(DecodeTest, SelectAndEpollSeeRequestCompletion) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0, 0)), 0);
  fd_set except;
  FD_ZERO(&except);
  FD_SET(request, &except);
  timeval timeout{5, 0};
  ASSERT_EQ(::select(request + 1, nullptr, nullptr, &except, &timeout), 1);
  EXPECT_TRUE(FD_ISSET(request, &except));
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  epoll_event event{};
  event.events = EPOLLPRI;
  event.data.fd = request;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), 0);
  epoll_event out{};
  EXPECT_EQ(::epoll_wait(epoll, &out, 1, 5000), 1);
  EXPECT_TRUE(out.events & EPOLLPRI);
  ::close(epoll);
}

TEST_F(DecodeTest, ClosingTheVideoFdWithQueuedWorkDoesNotHang) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(set_output_format(video, 176, 144), 0);
  ASSERT_EQ(qbuf(video, kOut, 0, request, 1), 0);
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);  // no CAPTURE queued
  close_fd(video);
  EXPECT_TRUE(wait_pollpri(request, 0));  // cancelled buffers complete their request
}

TEST_F(DecodeTest, CountersLineFollowsTheContract) {
  Counters counters;
  counters.count_ioctl(VIDIOC_QBUF);
  counters.count_ioctl(VIDIOC_QBUF);
  counters.frame_decoded();
  counters.request_allocated();
  counters.request_queued();
  counters.request_queued();
  counters.request_completed();
  JobTiming timing;
  timing.backend = std::chrono::microseconds(3000);
  timing.busy = std::chrono::microseconds(3000);
  timing.over_budget = true;
  timing.late = std::chrono::microseconds(40);
  counters.job_timed(timing);
  timing.backend = std::chrono::microseconds(1000);
  timing.busy = std::chrono::microseconds(2000);
  timing.over_budget = false;
  timing.late = std::chrono::microseconds(60);
  counters.job_timed(timing);
  EXPECT_EQ(counters.to_json(42, "hantro", 2000),
            "{\"pid\":42,\"profile\":\"hantro\",\"frames_decoded\":1,\"errors\":0,"
            "\"dpb_mismatches\":0,\"requests_allocated\":1,\"max_requests_in_flight\":2,"
            "\"decode_us\":2000,\"jobs\":2,\"jobs_over_budget\":1,\"backend_us_total\":4000,"
            "\"backend_us_max\":3000,\"device_busy_us\":5000,\"late_us_total\":100,"
            "\"ioctls\":{\"VIDIOC_QBUF\":2}}");
}

}  // namespace
}  // namespace emu::test

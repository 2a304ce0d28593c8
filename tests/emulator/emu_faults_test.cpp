// V4L2_EMU_FAULTS: the rules' syntax, their triggers, and that every fault
// leaves the model where the kernel would (docs/emulator.md, "Faults").
#include <chrono>
#include <thread>

#include "emu_test_support.h"

namespace emu::test {
namespace {

v4l2_ctrl_h264_decode_params picture_params(uint16_t frame_num, int32_t poc, bool idr = false) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.top_field_order_cnt = poc;
  params.bottom_field_order_cnt = poc;
  params.nal_ref_idc = 1;
  if (idr) params.flags = V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC;
  return params;
}

class FaultsTest : public EmulatorTest {
 protected:
  void set_faults(const std::string& spec, uint64_t seed = 1, const std::string& profile = "hantro") {
    EmulatorConfig config;
    config.device_profiles = {profile};
    config.profile_name = profile;
    config.faults = spec;
    config.faults_seed = seed;
    ASSERT_EQ(Emulator::instance().configure(config), "");
    Emulator::instance().set_backend_factory(
        [this](DecodeMode, StartCode) { return std::make_unique<FakeBackend>(stats_); });
    Emulator::instance().counters().reset();
  }
  void TearDown() override {
    EmulatorTest::TearDown();
    Emulator::instance().faults().configure({}, 1);
  }
  static FaultSnapshot faults() { return Emulator::instance().faults().snapshot(); }
  static uint64_t injected(const std::string& kind) {
    const FaultSnapshot s = faults();
    const auto it = s.injected.find(kind);
    return it == s.injected.end() ? 0 : it->second;
  }
  int querycap(int video) {
    v4l2_capability cap{};
    return xioctl(video, VIDIOC_QUERYCAP, &cap);
  }
  // Dequeues CAPTURE and OUTPUT after `request` completed; true if the
  // CAPTURE buffer carries V4L2_BUF_FLAG_ERROR.
  bool collect(int video, int request) {
    EXPECT_TRUE(wait_pollpri(request));
    v4l2_buffer buffer{};
    v4l2_plane plane{};
    EXPECT_EQ(dqbuf(video, kCap, buffer, plane), 0);
    const bool error = buffer.flags & V4L2_BUF_FLAG_ERROR;
    v4l2_buffer out{};
    v4l2_plane out_plane{};
    EXPECT_EQ(dqbuf(video, kOut, out, out_plane), 0);
    EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
    return error;
  }
  uint32_t buffer_flags(int video, uint32_t type, uint32_t index) {
    v4l2_plane plane{};
    v4l2_buffer buffer{};
    buffer.type = type;
    buffer.memory = V4L2_MEMORY_MMAP;
    buffer.index = index;
    buffer.m.planes = &plane;
    buffer.length = 1;
    EXPECT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
    return buffer.flags;
  }
};

TEST(FaultRulesTest, ParsesTargetsActionsAndTriggers) {
  std::vector<FaultRule> rules;
  ASSERT_EQ(parse_fault_rules("VIDIOC_QBUF:EINVAL:0.01, MEDIA_REQUEST_IOC_REINIT:EBUSY:0.1,"
                              "job:error:0.05,job:hang:0.01,job:slow:0.02:us=5000,job:timeout:ms=30,"
                              "unplug:after=150,VIDIOC_DQBUF:EIO:nth=3,mmap:ENOMEM:count=2:after=1:until=9,"
                              "poll:POLLERR:p=0.5,open:EACCES",
                              rules),
            "");
  ASSERT_EQ(rules.size(), 11u);
  EXPECT_EQ(rules[0].target, "VIDIOC_QBUF");
  EXPECT_EQ(rules[0].error, EINVAL);
  EXPECT_DOUBLE_EQ(rules[0].probability, 0.01);
  EXPECT_EQ(rules[1].error, EBUSY);
  EXPECT_EQ(rules[2].job, JobFaultKind::Error);
  EXPECT_EQ(rules[3].job, JobFaultKind::Hang);
  EXPECT_EQ(rules[4].job, JobFaultKind::Slow);
  EXPECT_EQ(rules[4].delay_us, 5000u);
  EXPECT_EQ(rules[5].job, JobFaultKind::Timeout);
  EXPECT_EQ(rules[5].delay_us, 30000u);
  EXPECT_EQ(rules[6].target, "unplug");
  EXPECT_EQ(rules[6].after, 150u);
  EXPECT_EQ(rules[6].max_count, 1u);
  EXPECT_EQ(rules[7].nth, 3u);
  EXPECT_EQ(rules[8].max_count, 2u);
  EXPECT_EQ(rules[8].after, 1u);
  EXPECT_EQ(rules[8].until, 9u);
  EXPECT_DOUBLE_EQ(rules[9].probability, 0.5);
  EXPECT_EQ(rules[10].error, EACCES);
  EXPECT_EQ(rules[10].kind(), "open:EACCES");
}

TEST(FaultRulesTest, RefusesWhatA612KernelCannotReturn) {
  std::vector<FaultRule> rules;
  // REINIT fails only with EBUSY (media_request_ioctl_reinit).
  EXPECT_NE(parse_fault_rules("MEDIA_REQUEST_IOC_REINIT:EINVAL", rules).find("EBUSY"), std::string::npos);
  EXPECT_NE(parse_fault_rules("VIDIOC_FOO:EINVAL", rules), "");
  EXPECT_NE(parse_fault_rules("VIDIOC_QBUF:EWHAT", rules), "");
  EXPECT_NE(parse_fault_rules("VIDIOC_QBUF", rules), "");
  EXPECT_NE(parse_fault_rules("VIDIOC_QBUF:EINVAL:1.5", rules), "");
  EXPECT_NE(parse_fault_rules("VIDIOC_QBUF:EINVAL:sometimes=1", rules), "");
  EXPECT_NE(parse_fault_rules("job:explode", rules), "");
  EXPECT_NE(parse_fault_rules("unplug:now", rules), "");
  EXPECT_NE(parse_fault_rules("poll:EINVAL", rules), "");
  EXPECT_EQ(parse_fault_rules("", rules), "");
  EXPECT_TRUE(rules.empty());
  // Every errno listed for a target is accepted for it.
  for (const char* target : {"VIDIOC_QBUF", "VIDIOC_DQBUF", "MEDIA_REQUEST_IOC_QUEUE", "VIDIOC_S_EXT_CTRLS"})
    for (int error : plausible_errnos(target))
      EXPECT_EQ(parse_fault_rules(std::string(target) + ":" + errno_name(error), rules), "") << target;
}

TEST(FaultRulesTest, HelpListsEveryTargetWithItsActions) {
  const std::string json = fault_targets_json();
  EXPECT_NE(json.find("\"MEDIA_REQUEST_IOC_REINIT\":[\"EBUSY\"]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"job\":[\"error\",\"hang\",\"slow\",\"timeout\"]"), std::string::npos);
  EXPECT_NE(json.find("\"VIDIOC_QBUF\":[\"EINVAL\""), std::string::npos);
}

TEST_F(FaultsTest, BadSpecIsReportedAndInjectsNothing) {
  EmulatorConfig config;
  config.device_profiles = {"hantro"};
  config.faults = "VIDIOC_QBUF:ENOSPC";
  EXPECT_NE(Emulator::instance().configure(config), "");
  EXPECT_FALSE(Emulator::instance().faults().active());
}

TEST_F(FaultsTest, NthCallFailsAndOnlyIt) {
  set_faults("VIDIOC_QUERYCAP:EINTR:nth=2");
  const int video = open_node("/dev/video0");
  EXPECT_EQ(querycap(video), 0);
  EXPECT_EQ(querycap(video), -EINTR);
  EXPECT_EQ(querycap(video), 0);
  EXPECT_EQ(injected("VIDIOC_QUERYCAP:EINTR"), 1u);
  EXPECT_EQ(faults().total, 1u);
}

TEST_F(FaultsTest, AfterUntilAndCountBoundTheInjections) {
  set_faults("VIDIOC_QUERYCAP:EINTR:after=2:until=6:count=3");
  const int video = open_node("/dev/video0");
  std::vector<int> results;
  for (int i = 0; i < 8; ++i) results.push_back(querycap(video));
  EXPECT_EQ(results, (std::vector<int>{0, 0, -EINTR, -EINTR, -EINTR, 0, 0, 0}));
}

TEST_F(FaultsTest, ProbabilityIsReproducibleFromTheSeed) {
  auto pattern = [&](uint64_t seed) {
    set_faults("VIDIOC_QUERYCAP:EINTR:0.3", seed);
    const int video = open_node("/dev/video0");
    std::string failures;
    for (int i = 0; i < 200; ++i) failures += querycap(video) ? '1' : '0';
    close_fd(video);
    return failures;
  };
  const std::string first = pattern(7);
  EXPECT_EQ(pattern(7), first);
  EXPECT_NE(pattern(8), first);
  const auto count = std::count(first.begin(), first.end(), '1');
  EXPECT_GT(count, 30);   // 60 expected; the bounds are 5 standard deviations wide
  EXPECT_LT(count, 95);
}

TEST_F(FaultsTest, FailedQbufChangesNothing) {
  set_faults("VIDIOC_QBUF:EINVAL:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  EXPECT_EQ(qbuf(video, kCap, 1), -EINVAL);
  EXPECT_FALSE(buffer_flags(video, kCap, 1) & V4L2_BUF_FLAG_QUEUED);
  EXPECT_EQ(qbuf(video, kCap, 1), 0);  // the same buffer queues now
  EXPECT_TRUE(buffer_flags(video, kCap, 1) & V4L2_BUF_FLAG_QUEUED);
}

TEST_F(FaultsTest, FailedRequestQueueLeavesTheRequestIdle) {
  set_faults("MEDIA_REQUEST_IOC_QUEUE:EIO:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  EXPECT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), -EIO);
  EXPECT_TRUE(buffer_flags(video, kOut, 0) & V4L2_BUF_FLAG_IN_REQUEST);
  pollfd p{request, POLLPRI, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLERR);  // media_request_poll(): idle
  // Queued again, it decodes.
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);
  EXPECT_FALSE(collect(video, request));
  EXPECT_EQ(stats_.decodes.load(), 1);
}

TEST_F(FaultsTest, JobErrorReturnsBothBuffersWithErrorAndDecodesNothing) {
  set_faults("job:error:nth=2");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(collect(video, request));
  ASSERT_EQ(decode_picture(video, request, 0, 1, 200, picture_params(1, 2)), 0);
  EXPECT_TRUE(collect(video, request));
  EXPECT_EQ(stats_.decodes.load(), 1);
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.errors, 1u);
  EXPECT_EQ(counters.frames_decoded, 1u);
  EXPECT_EQ(injected("job:error"), 1u);
}

TEST_F(FaultsTest, HungJobCompletesOnlyWhenStreamoffCancelsIt) {
  set_faults("job:hang:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(wait_pollpri(request, 300));
  pollfd p{video, POLLIN | POLLOUT, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // nothing done on either queue
  EXPECT_EQ(stream(video, kOut, false), 0);
  EXPECT_TRUE(wait_pollpri(request, 0));  // aborted, then cancelled: the request completed
  EXPECT_EQ(stream(video, kCap, false), 0);
  EXPECT_EQ(stats_.decodes.load(), 0);
  EXPECT_EQ(injected("job:hang"), 1u);
  // The instance works again after STREAMON.
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
  ASSERT_EQ(stream(video, kOut, true), 0);
  ASSERT_EQ(stream(video, kCap, true), 0);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 200, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(collect(video, request));
}

TEST_F(FaultsTest, HungJobIsAbortedByClose) {
  set_faults("job:hang");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(wait_pollpri(request, 100));
  close_fd(video);
  EXPECT_TRUE(wait_pollpri(request, 0));
}

TEST_F(FaultsTest, SlowJobDecodesLateWithoutError) {
  set_faults("job:slow:us=1000000:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(wait_pollpri(request, 0));
  EXPECT_FALSE(collect(video, request));
  EXPECT_EQ(stats_.decodes.load(), 1);
  EXPECT_EQ(injected("job:slow"), 1u);
}

TEST_F(FaultsTest, WatchdogTimeoutEndsTheJobWithError) {
  set_faults("job:timeout:ms=20:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_TRUE(collect(video, request));
  EXPECT_EQ(stats_.decodes.load(), 0);
}

TEST_F(FaultsTest, UnplugMakesTheNodesGoAwayAsAfterVideoUnregisterDevice) {
  set_faults("unplug:after=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const int second = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(collect(video, request));  // the first job runs
  ASSERT_EQ(decode_picture(video, second, 1, 1, 200, picture_params(1, 2)), 0);
  // The second does not: the device went away when it was due.
  EXPECT_FALSE(wait_pollpri(second, 300));
  EXPECT_TRUE(Emulator::instance().faults().unplugged(0));
  EXPECT_EQ(injected("unplug"), 1u);

  EXPECT_EQ(querycap(video), -ENODEV);          // v4l2_ioctl()
  EXPECT_EQ(stream(video, kOut, false), -ENODEV);
  media_device_info info{};
  EXPECT_EQ(xioctl(media, MEDIA_IOC_DEVICE_INFO, &info), -EIO);  // media_ioctl()
  pollfd p{video, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_EQ(p.revents, POLLERR | POLLHUP);  // v4l2_poll(), masked to what poll reports
  pollfd m{media, POLLIN, 0};
  ASSERT_EQ(::poll(&m, 1, 0), 1);
  EXPECT_EQ(m.revents, POLLERR | POLLHUP);  // media_poll()
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, video, 0), MAP_FAILED);
  EXPECT_EQ(errno, ENODEV);
  // The nodes are gone from /dev.
  EXPECT_LT(::open("/dev/video0", O_RDWR), 0);
  EXPECT_EQ(errno, ENOENT);
  struct stat st {};
  EXPECT_NE(::stat("/dev/media0", &st), 0);
  // Request fds have their own file operations: REINIT of the completed one works.
  EXPECT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
  // Closing the video node cancels what was queued.
  close_fd(video);
  EXPECT_TRUE(wait_pollpri(second, 0));
}

TEST_F(FaultsTest, PollErrMmapAndOpenFaults) {
  set_faults("poll:POLLERR:nth=1,mmap:ENOMEM:nth=1,open:EACCES:nth=3");
  int media = -1, video = -1;
  start_streaming(media, video);
  EXPECT_EQ(open_node("/dev/video0"), -1);  // the third open; start_streaming made two
  EXPECT_EQ(errno, EACCES);
  ASSERT_EQ(qbuf(video, kCap, 0), 0);
  pollfd p{video, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLERR);
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // once only
  v4l2_plane plane{};
  v4l2_buffer buffer{};
  buffer.type = kCap;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.index = 1;
  buffer.m.planes = &plane;
  buffer.length = 1;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYBUF, &buffer), 0);
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, plane.length, PROT_READ, MAP_SHARED, video, plane.m.mem_offset), MAP_FAILED);
  EXPECT_EQ(errno, ENOMEM);
  void* mapped = ::mmap(nullptr, plane.length, PROT_READ, MAP_SHARED, video, plane.m.mem_offset);
  ASSERT_NE(mapped, MAP_FAILED);
  ::munmap(mapped, plane.length);
  EXPECT_EQ(faults().total, 3u);
}

TEST_F(FaultsTest, PollCanBeInterruptedLikeBySignal) {
  set_faults("poll:EINTR:nth=1");
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  pollfd p{request, POLLPRI, 0};
  errno = 0;
  EXPECT_EQ(::poll(&p, 1, 5000), -1);
  EXPECT_EQ(errno, EINTR);
  EXPECT_TRUE(wait_pollpri(request));  // the next call waits as usual
  EXPECT_EQ(injected("poll:EINTR"), 1u);
}

TEST_F(FaultsTest, UntilIdrStopsFaultsAtAnIdr) {
  set_faults("VIDIOC_QBUF:EBUSY:until_idr=2");
  int media = -1, video = -1;
  start_streaming(media, video, 1, 4);
  const int request = alloc_request(media);
  // The first IDR's QBUFs fail (one IDR submitted so far).
  EXPECT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), -EBUSY);
  // The second IDR: two submitted, no more faults.
  v4l2_ctrl_h264_decode_params second = picture_params(0, 0, true);
  second.idr_pic_id = 1;
  ASSERT_EQ(decode_picture(video, request, 0, 0, 200, second), 0);
  EXPECT_FALSE(collect(video, request));
  EXPECT_EQ(faults().idr_seen, 2u);
}

TEST_F(FaultsTest, LastFaultIsPlacedByPictureAndIdr) {
  set_faults("VIDIOC_QBUF:EBUSY:nth=4");
  int media = -1, video = -1;
  start_streaming(media, video, 2, 4);
  const int request = alloc_request(media);
  // QBUF calls: OUTPUT 1, CAPTURE 2 (picture 1), OUTPUT 3, CAPTURE 4 (picture 2: fails).
  ASSERT_EQ(decode_picture(video, request, 0, 0, 100, picture_params(0, 0, true)), 0);
  EXPECT_FALSE(collect(video, request));
  EXPECT_EQ(decode_picture(video, request, 0, 1, 200, picture_params(1, 2)), -EBUSY);
  const FaultSnapshot s = faults();
  EXPECT_EQ(s.pictures_seen, 2u);
  EXPECT_EQ(s.idr_seen, 1u);
  EXPECT_EQ(s.last_fault_picture, 2);
  EXPECT_EQ(s.last_fault_idr, 1);
  EXPECT_NE(Emulator::instance().faults().to_json().find("\"VIDIOC_QBUF:EBUSY\":1"), std::string::npos);
}

}  // namespace
}  // namespace emu::test

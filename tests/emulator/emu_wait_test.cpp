// Waiting on emulated fds as on the kernel's: poll, ppoll, select, pselect
// and epoll sleep until the model changes (no CPU while a job runs), report
// exactly what media_request_poll / v4l2_m2m_poll would, and time out; and
// the hardware timing of V4L2_EMU_DECODE_US (a job holds the device for its
// window, a slower backend is counted).
//
// CPU figures are printed; only generous bounds are asserted (the machine is
// shared), and time is asserted only as a lower bound (a wait must not end
// before its timeout or its job).
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include <cstdio>

#include "emu_test_support.h"

namespace emu::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr unsigned kSlowJobUs = 500000;       // the job a client waits for
constexpr milliseconds kCpuBound{50};         // generous: a spinning wait uses ~500

milliseconds as_ms(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d); }

std::chrono::microseconds thread_cpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) +
         std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(ts.tv_nsec));
}

std::chrono::microseconds process_cpu() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// CPU and wall time of one wait, taken in the waiting thread.
class WaitProbe {
 public:
  WaitProbe() : wall_(Clock::now()), thread_(thread_cpu()), process_(process_cpu()) {}
  void finish(const char* what) {
    wall_elapsed = as_ms(Clock::now() - wall_);
    thread_used = std::chrono::duration_cast<milliseconds>(thread_cpu() - thread_);
    process_used = std::chrono::duration_cast<milliseconds>(process_cpu() - process_);
    std::printf("[ wait     ] %s: %lld ms waited, CPU %lld ms (thread), %lld ms (process)\n", what,
                static_cast<long long>(wall_elapsed.count()),
                static_cast<long long>(thread_used.count()),
                static_cast<long long>(process_used.count()));
  }
  milliseconds wall_elapsed{0}, thread_used{0}, process_used{0};

 private:
  Clock::time_point wall_;
  std::chrono::microseconds thread_, process_;
};

v4l2_ctrl_h264_decode_params frame_params(uint16_t frame_num) {
  v4l2_ctrl_h264_decode_params params{};
  params.frame_num = frame_num;
  params.nal_ref_idc = 1;
  return params;
}

class WaitTest : public EmulatorTest {
 protected:
  // A streaming instance whose first picture is queued and takes kSlowJobUs.
  int queue_slow_job(int& media, int& video) {
    configure({"hantro"}, kSlowJobUs);
    start_streaming(media, video);
    const int request = alloc_request(media);
    EXPECT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
    return request;
  }
  void expect_no_cpu(const WaitProbe& probe) {
    EXPECT_LT(probe.thread_used, kCpuBound);
    EXPECT_LT(probe.process_used, kCpuBound);
  }
};

TEST_F(WaitTest, PollOnAQueuedRequestSleepsUntilCompletion) {
  int media = -1, video = -1;
  const int request = queue_slow_job(media, video);
  WaitProbe probe;
  pollfd p{request, POLLPRI, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  probe.finish("poll(POLLPRI) on a request");
  EXPECT_EQ(p.revents, POLLPRI);
  EXPECT_GE(probe.wall_elapsed, milliseconds(kSlowJobUs / 1000 - 20));  // the job's window
  expect_no_cpu(probe);
}

TEST_F(WaitTest, PselectExceptfdsOnAQueuedRequestSleepsUntilCompletion) {
  int media = -1, video = -1;
  const int request = queue_slow_job(media, video);
  fd_set except;
  FD_ZERO(&except);
  FD_SET(request, &except);
  timespec timeout{5, 0};
  WaitProbe probe;
  ASSERT_EQ(::pselect(request + 1, nullptr, nullptr, &except, &timeout, nullptr), 1);
  probe.finish("pselect(exceptfds) on a request");
  EXPECT_TRUE(FD_ISSET(request, &except));
  expect_no_cpu(probe);
}

TEST_F(WaitTest, EpollPriOnAQueuedRequestSleepsUntilCompletionWithTheClientsData) {
  int media = -1, video = -1;
  const int request = queue_slow_job(media, video);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  open_fds_.push_back(epoll);
  epoll_event event{};
  event.events = EPOLLPRI;
  event.data.u64 = 0x1234567890abcdefull;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), 0);
  EXPECT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), -1);
  EXPECT_EQ(errno, EEXIST);
  epoll_event out[2]{};
  WaitProbe probe;
  ASSERT_EQ(::epoll_wait(epoll, out, 2, 5000), 1);
  probe.finish("epoll_wait(EPOLLPRI) on a request");
  EXPECT_EQ(out[0].events, static_cast<uint32_t>(EPOLLPRI));
  EXPECT_EQ(out[0].data.u64, 0x1234567890abcdefull);
  expect_no_cpu(probe);
}

TEST_F(WaitTest, PpollOnTheVideoFdSleepsUntilTheCaptureBufferIsDone) {
  int media = -1, video = -1;
  queue_slow_job(media, video);
  pollfd p{video, POLLIN, 0};
  timespec timeout{5, 0};
  WaitProbe probe;
  ASSERT_EQ(::ppoll(&p, 1, &timeout, nullptr), 1);
  probe.finish("ppoll(POLLIN) on the video fd");
  EXPECT_EQ(p.revents, POLLIN);  // POLLOUT was not asked for
  expect_no_cpu(probe);
}

// v4l2_m2m_poll() answers POLLOUT when only the OUTPUT buffer is done (the
// CAPTURE buffer held for the next slice); a poll for POLLIN alone must then
// sleep to its timeout, not spin on the POLLOUT it did not ask for.
TEST_F(WaitTest, PollForCaptureSleepsWhileOnlyTheOutputBufferIsDone) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  v4l2_ctrl_h264_decode_params params = frame_params(0);
  ASSERT_EQ(set_ctrl(video, V4L2_CID_STATELESS_H264_DECODE_PARAMS, &params, sizeof(params), request), 0);
  v4l2_plane plane{};
  plane.bytesused = 16;
  v4l2_buffer buffer{};
  buffer.type = kOut;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.index = 0;
  buffer.m.planes = &plane;
  buffer.length = 1;
  buffer.flags = V4L2_BUF_FLAG_REQUEST_FD | V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF;
  buffer.request_fd = request;
  ASSERT_EQ(xioctl(video, VIDIOC_QBUF, &buffer), 0);
  ASSERT_EQ(qbuf(video, kCap, 0), 0);
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_QUEUE, nullptr), 0);
  ASSERT_TRUE(wait_pollpri(request));
  pollfd p{video, POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  p = {video, POLLIN, 0};
  WaitProbe probe;
  EXPECT_EQ(::poll(&p, 1, 300), 0);
  probe.finish("poll(POLLIN) while only POLLOUT is ready, to its 300 ms timeout");
  EXPECT_EQ(p.revents, 0);
  EXPECT_GE(probe.wall_elapsed, milliseconds(300));
  expect_no_cpu(probe);
}

TEST_F(WaitTest, PollTimeoutOnAQueuedRequestReturnsZero) {
  int media = -1, video = -1;
  const int request = queue_slow_job(media, video);
  pollfd p{request, POLLPRI, 0};
  WaitProbe probe;
  EXPECT_EQ(::poll(&p, 1, 100), 0);
  probe.finish("poll(POLLPRI) to its 100 ms timeout");
  EXPECT_EQ(p.revents, 0);
  EXPECT_GE(probe.wall_elapsed, milliseconds(100));
  // media_request_poll(): without POLLPRI requested, nothing is ever reported.
  p = {request, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST_F(WaitTest, AReadyRealFdEndsTheWaitWhileTheRequestIsStillQueued) {
  int media = -1, video = -1;
  const int request = queue_slow_job(media, video);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  open_fds_.push_back(pipe_fds[0]);
  open_fds_.push_back(pipe_fds[1]);
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(::write(pipe_fds[1], "x", 1), 1);
  });
  pollfd p[2] = {{request, POLLPRI, 0}, {pipe_fds[0], POLLIN, 0}};
  WaitProbe probe;
  const int ready = ::poll(p, 2, 5000);
  probe.finish("poll on a request and a pipe, woken by the pipe");
  writer.join();
  ASSERT_EQ(ready, 1);
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_EQ(p[1].revents, POLLIN);
  // The job is still running; then it completes.
  ASSERT_TRUE(wait_pollpri(request));
}

TEST_F(WaitTest, EpollIsLevelTriggeredUntilReinitAndAnIdleRequestIsErr) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  open_fds_.push_back(epoll);
  epoll_event event{};
  event.events = EPOLLPRI;
  event.data.u32 = 7;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), 0);
  epoll_event out{};
  // media_request_poll(): an idle request is EPOLLERR.
  ASSERT_EQ(::epoll_wait(epoll, &out, 1, 0), 1);
  EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLERR));
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  ASSERT_EQ(::epoll_wait(epoll, &out, 1, 5000), 1);
  EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLPRI));
  EXPECT_EQ(out.data.u32, 7u);
  ASSERT_EQ(::epoll_wait(epoll, &out, 1, 0), 1);  // level-triggered: again
  EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLPRI));
  v4l2_buffer buffer{};
  v4l2_plane plane{};
  ASSERT_EQ(dqbuf(video, kOut, buffer, plane), 0);
  ASSERT_EQ(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr), 0);
  ASSERT_EQ(::epoll_wait(epoll, &out, 1, 0), 1);
  EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLERR));
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_DEL, request, nullptr), 0);
  EXPECT_EQ(::epoll_wait(epoll, &out, 1, 0), 0);
  EXPECT_EQ(::epoll_ctl(epoll, EPOLL_CTL_DEL, request, nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(WaitTest, EpollEdgeTriggeredAndOneShotReportOnce) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  open_fds_.push_back(epoll);
  const int copy = ::dup(video);
  ASSERT_GE(copy, 0);
  open_fds_.push_back(copy);
  epoll_event event{};
  event.events = EPOLLPRI | EPOLLET;
  event.data.u32 = 1;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), 0);
  event.events = EPOLLIN | EPOLLONESHOT;
  event.data.u32 = 2;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, copy, &event), 0);
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  ASSERT_TRUE(wait_pollpri(request));
  epoll_event out[4]{};
  int seen_request = 0, seen_video = 0;
  for (int round = 0; round < 3; ++round) {
    const int n = ::epoll_wait(epoll, out, 4, round == 0 ? 5000 : 0);
    for (int i = 0; i < n; ++i) {
      if (out[i].data.u32 == 1) {
        ++seen_request;
        EXPECT_EQ(out[i].events, static_cast<uint32_t>(EPOLLPRI));
      } else if (out[i].data.u32 == 2) {
        ++seen_video;
        EXPECT_EQ(out[i].events, static_cast<uint32_t>(EPOLLIN));
      }
    }
  }
  EXPECT_EQ(seen_request, 1);
  EXPECT_EQ(seen_video, 1);
  // EPOLL_CTL_MOD re-arms the one-shot registration.
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_MOD, copy, &event), 0);
  ASSERT_EQ(::epoll_wait(epoll, out, 4, 0), 1);
  EXPECT_EQ(out[0].data.u32, 2u);
}

TEST_F(WaitTest, AnEpollRegistrationGoesWithTheLastFdOfTheFile) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const int copy = ::dup(request);
  ASSERT_GE(copy, 0);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  open_fds_.push_back(epoll);
  epoll_event event{};
  event.events = EPOLLPRI;
  ASSERT_EQ(::epoll_ctl(epoll, EPOLL_CTL_ADD, request, &event), 0);
  epoll_event out{};
  close_fd(request);
  // eventpoll_release() runs when the file goes, not the fd: still there.
  ASSERT_EQ(::epoll_wait(epoll, &out, 1, 0), 1);
  EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLERR));
  ::close(copy);
  EXPECT_EQ(::epoll_wait(epoll, &out, 1, 0), 0);
}

int open_fd_count() {
  int count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir))
      if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
  }
  return count;
}

// A wait leaves no fd behind (clients count their fds): a set of emulated
// fds sleeps on a futex, a mixed set on an eventfd made for that one call.
TEST_F(WaitTest, WaitsLeaveNoFdBehind) {
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  open_fds_.push_back(pipe_fds[0]);
  open_fds_.push_back(pipe_fds[1]);
  const int before = open_fd_count();
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  pollfd alone{request, POLLPRI, 0};
  ASSERT_EQ(::poll(&alone, 1, 5000), 1);
  pollfd mixed[2] = {{request, POLLPRI, 0}, {pipe_fds[0], POLLIN, 0}};
  ASSERT_EQ(::poll(mixed, 2, 5000), 1);
  EXPECT_EQ(mixed[0].revents, POLLPRI);
  EXPECT_EQ(open_fd_count(), before);
}

// V4L2_EMU_DECODE_US: the job holds the device for its whole window even
// with an instant backend, and nothing is over budget.
TEST_F(WaitTest, AJobTakesItsWindowFromItsStart) {
  configure({"hantro"}, 200000);
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const Clock::time_point queued = Clock::now();
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  ASSERT_TRUE(wait_pollpri(request));
  const milliseconds took = as_ms(Clock::now() - queued);
  std::printf("[ timing   ] 200 ms window, instant backend: completed after %lld ms\n",
              static_cast<long long>(took.count()));
  EXPECT_GE(took, milliseconds(200));
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.jobs, 1u);
  EXPECT_EQ(counters.jobs_over_budget, 0u);
  EXPECT_GE(counters.device_busy_us, 200000u);
}

// A backend slower than the window sets the pace, and the counters say so.
TEST_F(WaitTest, ABackendSlowerThanTheWindowIsCountedOverBudget) {
  configure({"hantro"}, 50000);
  stats_.delay_us = 150000;
  int media = -1, video = -1;
  start_streaming(media, video);
  const int request = alloc_request(media);
  const Clock::time_point queued = Clock::now();
  ASSERT_EQ(decode_picture(video, request, 0, 0, 1, frame_params(0)), 0);
  ASSERT_TRUE(wait_pollpri(request));
  EXPECT_GE(as_ms(Clock::now() - queued), milliseconds(150));
  const CounterSnapshot counters = Emulator::instance().counters().snapshot();
  EXPECT_EQ(counters.jobs, 1u);
  EXPECT_EQ(counters.jobs_over_budget, 1u);
  EXPECT_GE(counters.backend_us_max, 150000u);
  EXPECT_GE(counters.backend_us_total, 150000u);
}

}  // namespace
}  // namespace emu::test

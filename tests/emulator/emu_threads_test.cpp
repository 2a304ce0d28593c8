// The fd table and interposers under several threads (several decoders in one
// process, as in Firefox), and fd numbers the kernel reuses for unrelated files.
// Built in a -Db_sanitize=thread directory these also run under TSan.
#include <drm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <thread>

#include "emu_test_support.h"

namespace emu::test {
namespace {

using ThreadsTest = EmulatorTest;

int query_caps(int video) {
  v4l2_capability cap{};
  return xioctl(video, VIDIOC_QUERYCAP, &cap);
}

// What one decoder thread does with its own fds while others do the same:
// every call on an fd it owns must reach the right file, whatever numbers
// the other threads open, dup and close meanwhile.
struct ThreadOutcome {
  int iterations = 0;
  int failures = 0;
  std::string first_failure;
  void check(bool ok, const char* what, int value) {
    if (ok) return;
    if (failures++ == 0) first_failure = std::string(what) + " -> " + std::to_string(value);
  }
};

void decoder_like_loop(int iterations, ThreadOutcome& outcome) {
  for (int i = 0; i < iterations; ++i) {
    const int video = ::open("/dev/video0", O_RDWR | O_CLOEXEC);
    const int media = ::open("/dev/media0", O_RDWR | O_CLOEXEC);
    outcome.check(video >= 0 && media >= 0, "open", video < 0 ? video : media);
    if (video < 0 || media < 0) {
      if (video >= 0) ::close(video);
      if (media >= 0) ::close(media);
      continue;
    }
    const int caps = query_caps(video);
    outcome.check(caps == 0, "QUERYCAP", caps);
    int request = -1;
    const int alloc = xioctl(media, MEDIA_IOC_REQUEST_ALLOC, &request);
    outcome.check(alloc == 0 && request >= 0, "REQUEST_ALLOC", alloc);
    if (request >= 0) {
      // media_request_poll(): an idle request reports POLLERR at once.
      pollfd p{request, POLLPRI, 0};
      const int polled = ::poll(&p, 1, 0);
      outcome.check(polled == 1 && (p.revents & POLLERR), "poll idle request", p.revents);
      outcome.check(xioctl(request, MEDIA_REQUEST_IOC_REINIT, nullptr) == 0, "REINIT", 0);
    }
    const int copy = ::dup(video);
    outcome.check(copy >= 0 && query_caps(copy) == 0, "QUERYCAP on dup", copy);
    // dup2 over the copy closes it: that number is no emulated node any more.
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (copy >= 0 && null_fd >= 0) {
      outcome.check(::dup2(null_fd, copy) == copy, "dup2", copy);
      const int after = query_caps(copy);
      outcome.check(after == -ENOTTY, "QUERYCAP after dup2 over the copy", after);
    }
    if (null_fd >= 0) ::close(null_fd);
    if (copy >= 0) ::close(copy);
    if (request >= 0) ::close(request);
    ::close(media);
    ::close(video);
    ++outcome.iterations;
  }
}

// Opens and closes unrelated files as fast as it can, so that the numbers the
// decoder threads close are handed out again at once.
void unrelated_files_loop(int iterations, ThreadOutcome& outcome) {
  for (int i = 0; i < iterations; ++i) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    outcome.check(fd >= 0, "open /dev/null", fd);
    if (fd < 0) continue;
    struct stat st {};
    outcome.check(::fstat(fd, &st) == 0 && st.st_rdev == makedev(1, 3), "fstat /dev/null",
                  static_cast<int>(st.st_rdev));
    const int caps = query_caps(fd);
    outcome.check(caps == -ENOTTY, "QUERYCAP on /dev/null", caps);
    ::close(fd);
    ++outcome.iterations;
  }
}

TEST_F(ThreadsTest, ParallelOpenIoctlPollDupCloseEachThreadReachesItsOwnFiles) {
  constexpr int kDecoders = 4;
  constexpr int kIterations = 150;
  std::vector<ThreadOutcome> outcomes(kDecoders + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kDecoders; ++t)
    threads.emplace_back(decoder_like_loop, kIterations, std::ref(outcomes[t]));
  threads.emplace_back(unrelated_files_loop, kIterations * 4, std::ref(outcomes[kDecoders]));
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < outcomes.size(); ++t) {
    EXPECT_EQ(outcomes[t].failures, 0) << "thread " << t << ": " << outcomes[t].first_failure;
    EXPECT_EQ(outcomes[t].iterations, t < kDecoders ? kIterations : kIterations * 4);
  }
  // Every emulated fd was closed through close(): nothing is left behind.
  EXPECT_TRUE(Emulator::instance().fds().empty());
}

TEST_F(ThreadsTest, NumberClosedBehindTheEmulatorsBackAndReusedIsNotEmulated) {
  const int render = ::open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
  ASSERT_GE(render, 0);
  // A close the emulator does not see (raw syscall, as close_range would do).
  ASSERT_EQ(::syscall(SYS_close, render), 0);
  // POSIX: open returns the lowest free number, which is the one just closed.
  const int unrelated = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_EQ(unrelated, render);
  drm_version version{};
  EXPECT_EQ(xioctl(unrelated, DRM_IOCTL_VERSION, &version), -ENOTTY);
  struct stat st {};
  ASSERT_EQ(::fstat(unrelated, &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  ::close(unrelated);
  EXPECT_TRUE(Emulator::instance().fds().empty());
}

TEST_F(ThreadsTest, Dup2OntoAnEmulatedFdReplacesItAndKeepsTheSource) {
  const int video = open_node("/dev/video0");
  const int render = open_node("/dev/dri/renderD128");
  ASSERT_GE(video, 0);
  ASSERT_GE(render, 0);
  // dup2 closes `render` and makes it a second fd of the video instance.
  ASSERT_EQ(::dup2(video, render), render);
  EXPECT_EQ(query_caps(render), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(render, &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(kVideoMajor, 0));
  close_fd(video);
  EXPECT_EQ(query_caps(render), 0);  // the shared instance lives on
  close_fd(render);
  EXPECT_TRUE(Emulator::instance().fds().empty());
}

TEST_F(ThreadsTest, FcntlDupfdSharesTheFileAndClosingTheSourceKeepsIt) {
  const int media = open_node("/dev/media0");
  ASSERT_GE(media, 0);
  const int copy = ::fcntl(media, F_DUPFD_CLOEXEC, 100);
  ASSERT_GE(copy, 100);
  open_fds_.push_back(copy);
  close_fd(media);
  media_device_info info{};
  EXPECT_EQ(xioctl(copy, MEDIA_IOC_DEVICE_INFO, &info), 0);
  EXPECT_STREQ(info.driver, "hantro-vpu");
}

}  // namespace
}  // namespace emu::test

// How a client thread sleeps in the emulator's poll/select/epoll until an
// emulated request or video node may have changed: the kernel's wait queues
// (include/linux/wait.h; fs/select.c poll_wait; fs/eventpoll.c
// ep_poll_callback), with an eventfd as the thing the real syscall sleeps on.
//
// Only read(2)/write(2) on an eventfd, ppoll/epoll_wait and futexes (the
// mutexes) are used on the signalling path: Firefox's RDD seccomp policy
// (SandboxFilter.cpp, RDDSandboxPolicy over SandboxPolicyCommon) allows each
// on every thread, and eventfd2 to create one. docs/emulator.md has the list.
#pragma once

#include <time.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "unique_fd.h"

namespace emu {

// One sleeper's interest in one model object (a wait_queue_entry_t).
class WaitEntry {
 public:
  virtual ~WaitEntry() = default;
  // The object's readiness may have changed. `event` is true where the kernel
  // itself calls wake_up() (a buffer done, a request completed, a queue
  // cancelled): edge-triggered epoll reports those again even when the
  // readiness bits are unchanged. Called with the object's poll lock held.
  virtual void wake(bool event) = 0;
};

// wait_queue_head_t: whom to wake when an object changes. Guarded by the
// owning object's poll lock.
class WaitQueue {
 public:
  void add(WaitEntry* entry) { entries_.push_back(entry); }
  void remove(WaitEntry* entry);
  void wake_all(bool event);

 private:
  std::vector<WaitEntry*> entries_;
};

// What an emulated file offers to poll: the driver's .poll (what it returns
// for the requested events) and the wait queue a sleeper joins.
class PollTarget {
 public:
  virtual ~PollTarget() = default;
  virtual std::mutex& poll_lock() = 0;
  // Both need poll_lock() held.
  virtual WaitQueue& wait_queue() = 0;
  virtual int ready_events(short requested) = 0;
};

// A thread sleeping in the emulator's poll/select (the kernel's
// poll_wqueues), made per call so no fd outlives the wait. When only emulated
// files are waited on, it sleeps on a futex word (no fd at all); when real
// fds or a signal mask are part of the wait, an eventfd made for the call is
// polled beside them in one real ppoll().
class PollWaiter : public WaitEntry {
 public:
  enum class Mode { Futex, EventFd };
  explicit PollWaiter(Mode mode);
  // False (errno set) when the eventfd could not be made.
  bool valid() const { return mode_ == Mode::Futex || event_.valid(); }
  void wake(bool event) override;

  // Futex mode. Read generation() before sampling readiness, then sleep(seen):
  // it returns at once if a wake came in between. `deadline` is absolute on
  // CLOCK_MONOTONIC (null: none). Returns 0, or -1 with errno EINTR.
  uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
  int sleep(uint32_t seen, const struct timespec* deadline);

  // EventFd mode: the fd to poll, and what to do once it was readable.
  int fd() const { return event_.get(); }
  void consume();

 private:
  const Mode mode_;
  std::atomic<uint32_t> generation_{0};  // the futex word
  UniqueFd event_;
  std::atomic<bool> pending_{false};
};

// Holds `entry` on `target`'s wait queue for its lifetime (poll_wait() ...
// poll_freewait()).
class WaitRegistration {
 public:
  WaitRegistration(PollTarget& target, WaitEntry& entry);
  ~WaitRegistration();
  WaitRegistration(const WaitRegistration&) = delete;
  WaitRegistration& operator=(const WaitRegistration&) = delete;

 private:
  PollTarget& target_;
  WaitEntry& entry_;
};

// target.ready_events(requested) under the target's lock: the driver's .poll.
int driver_poll(PollTarget& target, short requested);

}  // namespace emu

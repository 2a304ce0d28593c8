#include "wait_queue.h"

#include <poll.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "fd_table.h"

namespace emu {
void WaitQueue::remove(WaitEntry* entry) {
  auto it = std::find(entries_.begin(), entries_.end(), entry);
  if (it != entries_.end()) entries_.erase(it);
}

void WaitQueue::wake_all(bool event) {
  for (WaitEntry* entry : entries_) entry->wake(event);
}

PollWaiter::PollWaiter(Mode mode) : mode_(mode) {
  if (mode_ == Mode::EventFd) {
    // eventfd2: allowed by Firefox's RDD policy ("We use this in our DMABuf
    // support code"). Non-blocking, so consume() never sleeps.
    const long fd = ::syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd >= 0) event_.reset(static_cast<int>(fd));
  }
}

void PollWaiter::wake(bool) {
  if (mode_ == Mode::Futex) {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    ::syscall(SYS_futex, &generation_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    return;
  }
  // One write per sleep: later wakes before consume() add nothing.
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  const uint64_t one = 1;
  ::syscall(SYS_write, event_.get(), &one, sizeof(one));
}

int PollWaiter::sleep(uint32_t seen, const struct timespec* deadline) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  const long result = ::syscall(SYS_futex, &generation_, FUTEX_WAIT_BITSET_PRIVATE, seen,
                                deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
  if (result != 0 && errno == EINTR) return -1;
  return 0;  // woken, the word moved on already (EAGAIN), or the deadline passed
}

void PollWaiter::consume() {
  // Cleared before the read: a wake racing with this either lands before the
  // read (drained now) or writes again (seen by the next wait).
  pending_.store(false, std::memory_order_release);
  uint64_t count = 0;
  ::syscall(SYS_read, event_.get(), &count, sizeof(count));
}

WaitRegistration::WaitRegistration(PollTarget& target, WaitEntry& entry)
    : target_(target), entry_(entry) {
  std::lock_guard lock(target_.poll_lock());
  // Reached from TSan's poll interceptors, which hide this lock from TSan.
  SanitizerLockScope sanitizer_scope(&target_.poll_lock());
  target_.wait_queue().add(&entry_);
}

WaitRegistration::~WaitRegistration() {
  std::lock_guard lock(target_.poll_lock());
  SanitizerLockScope sanitizer_scope(&target_.poll_lock());
  target_.wait_queue().remove(&entry_);
}

int driver_poll(PollTarget& target, short requested) {
  std::lock_guard lock(target.poll_lock());
  SanitizerLockScope sanitizer_scope(&target.poll_lock());
  return target.ready_events(requested);
}

}  // namespace emu

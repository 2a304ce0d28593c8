#include "epoll_watch.h"

#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>

#include "emulator.h"

namespace emu {
namespace {

// The real registration's epoll_data: a tag no user-space pointer or small
// integer carries (bit 63 set, then 'EMU') and a serial that is never reused,
// so an event of a watch deleted meanwhile is recognised and dropped.
constexpr uint64_t kTag = 0xC54D55ull << 40;
constexpr uint64_t kTagMask = 0xFFFFFFull << 40;

// Flags that act on the registration itself; the rest are the model's events.
constexpr uint32_t kRegistrationFlags = EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;

}  // namespace

class EpollWatches::Watch : public WaitEntry {
 public:
  Watch(uint64_t id, std::shared_ptr<EmulatedFile> file, PollTarget& target, UniqueFd level,
        const epoll_event& event)
      : id_(id), file_(std::move(file)), target_(target), level_(std::move(level)),
        events_(event.events), data_(event.data) {
    registration_.emplace(target_, *this);
    std::lock_guard lock(target_.poll_lock());
    SanitizerLockScope sanitizer_scope(&target_.poll_lock());
    wake(false);
  }

  uint64_t id() const { return id_; }
  int level_fd() const { return level_.get(); }
  const EmulatedFile* file() const { return file_.get(); }

  // EPOLL_CTL_MOD: new events and data; the level follows the new events.
  void modify(const epoll_event& event) {
    std::lock_guard lock(target_.poll_lock());
    SanitizerLockScope sanitizer_scope(&target_.poll_lock());
    events_ = event.events;
    data_ = event.data;
    wake(false);
  }

  // What epoll_wait reports now (ep_item_poll at delivery), or nullopt.
  std::optional<epoll_event> deliver() {
    std::lock_guard lock(target_.poll_lock());
    SanitizerLockScope sanitizer_scope(&target_.poll_lock());
    const int ready = ready_now(true);
    if (!ready) {
      wake(false);  // the level is stale: lower it rather than wake again
      return std::nullopt;
    }
    epoll_event out{};
    out.events = static_cast<uint32_t>(ready);
    out.data = data_;
    return out;
  }

  // Called with the target's lock held: the eventfd is readable exactly
  // while the model has something for the registered events; with EPOLLET a
  // kernel wake-up (or new readiness bits) writes again, which is a new edge.
  void wake(bool event) override {
    const int ready = ready_now();
    const bool edge = (events_ & EPOLLET) && ready && (event || (ready & ~last_ready_));
    if (ready && (!raised_ || edge)) {
      const uint64_t one = 1;
      ::syscall(SYS_write, level_.get(), &one, sizeof(one));
      raised_ = true;
    } else if (!ready && raised_) {
      uint64_t count = 0;
      ::syscall(SYS_read, level_.get(), &count, sizeof(count));
      raised_ = false;
    }
    last_ready_ = ready;
  }

 private:
  // The driver's answer, after the fault layer (faults.h: an unplugged node;
  // an injected POLLERR only when `reported`, i.e. delivered), masked as
  // ep_item_poll() masks it.
  int ready_now(bool reported = false) {
    const auto requested = static_cast<short>(events_ & ~kRegistrationFlags);
    const int events = Emulator::instance().faults().on_poll(
        file_->node_kind(), file_->decoder_index(), target_.ready_events(requested), reported);
    return events & static_cast<int>((events_ & ~kRegistrationFlags) | EPOLLERR | EPOLLHUP);
  }

  const uint64_t id_;
  const std::shared_ptr<EmulatedFile> file_;  // keeps target_ alive
  PollTarget& target_;
  UniqueFd level_;
  // Guarded by the target's poll lock.
  uint32_t events_;
  epoll_data_t data_;
  bool raised_ = false;
  int last_ready_ = 0;
  // Last: leaves the wait queue before anything above is destroyed.
  std::optional<WaitRegistration> registration_;
};

EpollWatches& EpollWatches::instance() {
  // Never destroyed: close() may run during static destruction.
  static EpollWatches* watches = new EpollWatches();
  return *watches;
}

int EpollWatches::control(CtlFn real_ctl, int epfd, int op, int fd,
                          std::shared_ptr<EmulatedFile> file, PollTarget& target,
                          const epoll_event* event) {
  if (op != EPOLL_CTL_DEL && !event) return -EFAULT;
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(epfd, fd);
  auto it = by_fd_.find(key);
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (it != by_fd_.end()) return -EEXIST;
      // eventfd2, read and write: allowed by Firefox's RDD sandbox.
      const long level = ::syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (level < 0) return -errno;
      const uint64_t id = kTag | ++next_serial_;
      auto watch = std::make_unique<Watch>(id, std::move(file), target,
                                           UniqueFd(static_cast<int>(level)), *event);
      epoll_event real{};
      real.events = EPOLLIN | (event->events & kRegistrationFlags);
      real.data.u64 = id;
      if (real_ctl(epfd, EPOLL_CTL_ADD, watch->level_fd(), &real) != 0) return -errno;
      by_id_.emplace(id, watch.get());
      by_fd_.emplace(key, std::move(watch));
      count_.fetch_add(1, std::memory_order_release);
      return 0;
    }
    case EPOLL_CTL_MOD: {
      if (it == by_fd_.end()) return -ENOENT;
      epoll_event real{};
      real.events = EPOLLIN | (event->events & kRegistrationFlags);
      real.data.u64 = it->second->id();
      if (real_ctl(epfd, EPOLL_CTL_MOD, it->second->level_fd(), &real) != 0) return -errno;
      it->second->modify(*event);
      return 0;
    }
    case EPOLL_CTL_DEL: {
      if (it == by_fd_.end()) return -ENOENT;
      const int result = real_ctl(epfd, EPOLL_CTL_DEL, it->second->level_fd(), nullptr);
      const int error = errno;
      by_id_.erase(it->second->id());
      by_fd_.erase(it);
      count_.fetch_sub(1, std::memory_order_release);
      return result == 0 ? 0 : -error;
    }
    default:
      return -EINVAL;
  }
}

int EpollWatches::translate(epoll_event* events, int count) {
  std::lock_guard lock(mutex_);
  int kept = 0;
  for (int i = 0; i < count; ++i) {
    const uint64_t data = events[i].data.u64;
    if ((data & kTagMask) != kTag) {
      events[kept++] = events[i];
      continue;
    }
    auto it = by_id_.find(data);
    if (it == by_id_.end()) continue;  // deleted after the kernel queued it
    if (std::optional<epoll_event> out = it->second->deliver()) events[kept++] = *out;
  }
  return kept;
}

void EpollWatches::erase_if_locked(const std::function<bool(int epfd, const Watch&)>& doomed) {
  for (auto it = by_fd_.begin(); it != by_fd_.end();) {
    if (doomed(it->first.first, *it->second)) {
      // Closing the eventfd takes it out of the real epoll set.
      by_id_.erase(it->second->id());
      it = by_fd_.erase(it);
      count_.fetch_sub(1, std::memory_order_release);
    } else {
      ++it;
    }
  }
}

void EpollWatches::epoll_fd_closed(int epfd) {
  std::lock_guard lock(mutex_);
  erase_if_locked([epfd](int watch_epfd, const Watch&) { return watch_epfd == epfd; });
}

void EpollWatches::file_released(const EmulatedFile* file) {
  std::lock_guard lock(mutex_);
  erase_if_locked([file](int, const Watch& watch) { return watch.file() == file; });
}

}  // namespace emu

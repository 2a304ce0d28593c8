// epoll on emulated request and video fds (fs/eventpoll.c). Each
// registration of an emulated fd in an epoll set becomes a private eventfd in
// the real set, whose level follows the model's readiness for the registered
// events (a WaitEntry on the file's wait queue); epoll_wait's results for it
// are rewritten to the model's events (EPOLLPRI for a completed request,
// EPOLLERR for an idle one, EPOLLIN/EPOLLOUT/EPOLLERR as v4l2_m2m_poll) and
// the client's own epoll_data.
//
// Registrations are keyed by (epoll fd number, fd number), as the kernel keys
// them by (file, fd); EPOLLET, EPOLLONESHOT, EPOLLWAKEUP and EPOLLEXCLUSIVE
// act on the eventfd's registration. A registration goes when the client
// deletes it, closes the epoll fd, or closes the last fd of the emulated file.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "fd_table.h"
#include "wait_queue.h"

namespace emu {

class EpollWatches {
 public:
  using CtlFn = int (*)(int, int, int, struct epoll_event*);

  static EpollWatches& instance();

  // Nothing registered: epoll_wait results need no rewriting.
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }
  // epoll_ctl(epfd, op, fd, event) where fd is an emulated file with a poll
  // target. Returns 0 or -errno.
  int control(CtlFn real_ctl, int epfd, int op, int fd, std::shared_ptr<EmulatedFile> file,
              PollTarget& target, const epoll_event* event);
  // Rewrites the `count` events a real epoll_wait returned: events of watches
  // get the model's answer and the client's data, and are dropped when the
  // model has nothing (any more) for them. Returns how many remain.
  int translate(epoll_event* events, int count);
  // The client closes an epoll fd, or the last fd of an emulated file.
  void epoll_fd_closed(int epfd);
  void file_released(const EmulatedFile* file);

 private:
  class Watch;
  void erase_if_locked(const std::function<bool(int epfd, const Watch&)>& doomed);

  std::mutex mutex_;
  std::map<std::pair<int, int>, std::unique_ptr<Watch>> by_fd_;  // (epfd, fd)
  std::unordered_map<uint64_t, Watch*> by_id_;  // the real registration's data
  uint64_t next_serial_ = 0;
  std::atomic<size_t> count_{0};
};

}  // namespace emu

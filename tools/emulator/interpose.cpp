// The libc entry points the emulator replaces when preloaded (or linked
// first). Each one hands emulated paths/fds to the model and everything else
// to the next definition (libc) found with dlsym(RTLD_NEXT).
//
// Built without _FILE_OFFSET_BITS=64 so that `open`, `fstat`, ... name the
// plain symbols here and the *64 variants are defined separately.
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "emulator.h"
#include "epoll_watch.h"
#include "wait_queue.h"

using emu::Emulator;

namespace {

// The next definition (libc's, or a sanitizer's) of a function replaced here,
// resolved with dlsym(RTLD_NEXT) on first use. Threads may resolve it at the
// same time; they find the same address, and the atomic makes storing it
// twice harmless. Constant-initialised, so it works before any constructor
// (ld.so and sanitizer runtimes call open()/fstat() that early).
template <typename Fn>
class NextFunction {
 public:
  explicit constexpr NextFunction(const char* name) : name_(name) {}
  // Null when no later object defines the symbol.
  Fn get() {
    void* address = address_.load(std::memory_order_acquire);
    if (!address) {
      address = dlsym(RTLD_NEXT, name_);
      address_.store(address, std::memory_order_release);
    }
    return reinterpret_cast<Fn>(address);
  }

 private:
  const char* name_;
  std::atomic<void*> address_{nullptr};
};

using OpenFn = int (*)(const char*, int, ...);
using OpenatFn = int (*)(int, const char*, int, ...);
using StatFn = int (*)(const char*, struct stat*);
using FstatFn = int (*)(int, struct stat*);
using FstatatFn = int (*)(int, const char*, struct stat*, int);
using StatxFn = int (*)(int, const char*, int, unsigned int, struct statx*);
using AccessFn = int (*)(const char*, int);
using IoctlFn = int (*)(int, unsigned long, ...);
using CloseFn = int (*)(int);
using DupFn = int (*)(int);
using Dup2Fn = int (*)(int, int);
using Dup3Fn = int (*)(int, int, int);
using FcntlFn = int (*)(int, int, ...);
using MmapFn = void* (*)(void*, size_t, int, int, int, off_t);
using FopenFn = FILE* (*)(const char*, const char*);
using PpollFn = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
using SelectFn = int (*)(int, fd_set*, fd_set*, fd_set*, struct timeval*);
using PselectFn = int (*)(int, fd_set*, fd_set*, fd_set*, const struct timespec*, const sigset_t*);
using EpollCtlFn = int (*)(int, int, int, struct epoll_event*);
using EpollWaitFn = int (*)(int, struct epoll_event*, int, int);
using EpollPwaitFn = int (*)(int, struct epoll_event*, int, int, const sigset_t*);
using EpollPwait2Fn = int (*)(int, struct epoll_event*, int, const struct timespec*,
                              const sigset_t*);

constinit NextFunction<OpenFn> next_open{"open"}, next_open64{"open64"};
constinit NextFunction<OpenatFn> next_openat{"openat"}, next_openat64{"openat64"};
constinit NextFunction<StatFn> next_stat{"stat"}, next_stat64{"stat64"}, next_lstat{"lstat"},
    next_lstat64{"lstat64"};
constinit NextFunction<FstatFn> next_fstat{"fstat"};
constinit NextFunction<FstatatFn> next_fstatat{"fstatat"};
constinit NextFunction<StatxFn> next_statx{"statx"};
constinit NextFunction<AccessFn> next_access{"access"};
constinit NextFunction<IoctlFn> next_ioctl{"ioctl"};
constinit NextFunction<CloseFn> next_close{"close"};
constinit NextFunction<DupFn> next_dup{"dup"};
constinit NextFunction<Dup2Fn> next_dup2{"dup2"};
constinit NextFunction<Dup3Fn> next_dup3{"dup3"};
constinit NextFunction<FcntlFn> next_fcntl{"fcntl"}, next_fcntl64{"fcntl64"};
constinit NextFunction<MmapFn> next_mmap{"mmap"}, next_mmap64{"mmap64"};
constinit NextFunction<FopenFn> next_fopen{"fopen"}, next_fopen64{"fopen64"};
constinit NextFunction<PpollFn> next_ppoll{"ppoll"};
constinit NextFunction<SelectFn> next_select{"select"};
constinit NextFunction<PselectFn> next_pselect{"pselect"};
constinit NextFunction<EpollCtlFn> next_epoll_ctl{"epoll_ctl"};
constinit NextFunction<EpollWaitFn> next_epoll_wait{"epoll_wait"};
constinit NextFunction<EpollPwaitFn> next_epoll_pwait{"epoll_pwait"};
constinit NextFunction<EpollPwait2Fn> next_epoll_pwait2{"epoll_pwait2"};

int no_next_function() {
  errno = ENOSYS;
  return -1;
}

int finish(int result) {
  if (result < 0) {
    errno = -result;
    return -1;
  }
  return result;
}

bool emulated_open(const char* path, int flags, int& result) {
  std::optional<int> fd = Emulator::instance().open_path(path, flags);
  if (!fd) return false;
  result = finish(*fd);
  return true;
}

bool is_absolute(const char* path) { return path && path[0] == '/'; }

// AT_EMPTY_PATH with "" (or NULL, which Linux 6.11 accepts) names dirfd itself.
// The volatile copy keeps glibc's nonnull annotation from hiding the NULL case.
bool names_fd_itself(const char* path, int flags) {
  const char* volatile checked = path;
  return (flags & AT_EMPTY_PATH) && (!checked || !*checked);
}

void fill_statx(struct statx* out, const struct stat& st) {
  std::memset(out, 0, sizeof(*out));
  out->stx_mask = STATX_BASIC_STATS;
  out->stx_mode = static_cast<uint16_t>(st.st_mode);
  out->stx_nlink = static_cast<uint32_t>(st.st_nlink);
  out->stx_ino = st.st_ino;
  out->stx_blksize = static_cast<uint32_t>(st.st_blksize);
  out->stx_rdev_major = major(st.st_rdev);
  out->stx_rdev_minor = minor(st.st_rdev);
  out->stx_dev_major = major(st.st_dev);
  out->stx_dev_minor = minor(st.st_dev);
}

// ---- poll/select -------------------------------------------------------

using Clock = std::chrono::steady_clock;

// What is left of a wait: nullopt for "no timeout".
struct Deadline {
  std::optional<Clock::time_point> at;
  static Deadline after(const struct timespec* timeout) {
    if (!timeout) return {};
    return {Clock::now() + std::chrono::seconds(timeout->tv_sec) +
            std::chrono::nanoseconds(timeout->tv_nsec)};
  }
  static Deadline after_ms(int timeout_ms) {
    if (timeout_ms < 0) return {};
    return {Clock::now() + std::chrono::milliseconds(timeout_ms)};
  }
  bool passed() const { return at && Clock::now() >= *at; }
  // The remaining time as a timespec (zero once passed), or null for none.
  const struct timespec* remaining(struct timespec& out) const {
    if (!at) return nullptr;
    const auto left = std::max(*at - Clock::now(), Clock::duration::zero());
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    out.tv_sec = static_cast<time_t>(ns / 1000000000);
    out.tv_nsec = static_cast<long>(ns % 1000000000);
    return &out;
  }
  // The deadline itself on CLOCK_MONOTONIC (steady_clock's clock), or null.
  const struct timespec* absolute(struct timespec& out) const {
    if (!at) return nullptr;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(at->time_since_epoch()).count();
    out.tv_sec = static_cast<time_t>(ns / 1000000000);
    out.tv_nsec = static_cast<long>(ns % 1000000000);
    return &out;
  }
  // Whole milliseconds left, rounded up (epoll_wait's unit); -1 for none.
  int remaining_ms() const {
    if (!at) return -1;
    const auto left = std::max(*at - Clock::now(), Clock::duration::zero());
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::min<long long>(ms, INT_MAX));
  }
};

// The driver's answer for an emulated fd (its .poll, under the file's lock),
// after the fault layer (an unplugged node; an injected POLLERR, fired only
// when `reported`, i.e. when this answer goes back to the client), masked as
// the poll core masks it (do_pollfd: requested | POLLERR | POLLHUP).
int emulated_events(emu::EmulatedFile& file, emu::PollTarget* target, short requested,
                    int native, bool reported) {
  const int events = target ? emu::driver_poll(*target, requested) : native;
  const int faulted = Emulator::instance().faults().on_poll(file.node_kind(), file.decoder_index(),
                                                            events, reported);
  return faulted & (requested | POLLERR | POLLHUP);
}

// The entries with a poll target get the model's answer. Returns how many
// have events.
int sample_emulated(struct pollfd* fds, nfds_t count,
                    const std::vector<std::shared_ptr<emu::EmulatedFile>>& files,
                    const std::vector<emu::PollTarget*>& targets, bool reported) {
  int ready = 0;
  for (nfds_t i = 0; i < count; ++i) {
    if (!targets[i]) continue;
    fds[i].revents = static_cast<short>(
        emulated_events(*files[i], targets[i], fds[i].events, 0, reported));
    if (fds[i].revents) ++ready;
  }
  return ready;
}

// poll/select over a set holding emulated fds, as do_poll() does it: the
// calling thread joins the wait queue of each emulated request or video fd
// and sleeps until a file it waits on changes, a real fd is ready, the
// timeout passes or a signal arrives. Request and video entries are answered
// by the model (POLLPRI for a completed request, as media_request_poll;
// POLLIN, POLLOUT, POLLERR for a video node, as v4l2_m2m_poll), never by
// their memfd; render and media nodes by their memfd (the kernel's
// DEFAULT_POLLMASK) unless the fault layer says otherwise. With only request
// and video fds and no signal mask the sleep is a futex wait (no syscall at
// all when something is ready); otherwise one real ppoll() covers the
// client's other fds and the waiter's eventfd.
int emulated_ppoll(struct pollfd* fds, nfds_t count, const struct timespec* timeout,
                   const sigset_t* sigmask) {
  const PpollFn real_ppoll = next_ppoll.get();
  if (!real_ppoll) return no_next_function();
  std::vector<std::shared_ptr<emu::EmulatedFile>> files(count);
  std::vector<emu::PollTarget*> targets(count, nullptr);
  bool any = false, any_target = false, any_real = false;
  for (nfds_t i = 0; fds && i < count; ++i) {
    files[i] = Emulator::instance().fds().find(fds[i].fd);
    targets[i] = files[i] ? files[i]->poll_target() : nullptr;
    any = any || files[i];
    any_target = any_target || targets[i];
    any_real = any_real || (!targets[i] && fds[i].fd >= 0);
  }
  if (!any) return real_ppoll(fds, count, timeout, sigmask);
  // A signal that interrupts the wait (V4L2_EMU_FAULTS poll:EINTR).
  if (const int error = Emulator::instance().faults().on_poll_call()) {
    errno = error;
    return -1;
  }
  const bool futex = !any_real && !sigmask;
  emu::PollWaiter waiter(futex ? emu::PollWaiter::Mode::Futex : emu::PollWaiter::Mode::EventFd);
  if (!waiter.valid()) return -1;
  std::vector<std::unique_ptr<emu::WaitRegistration>> registrations;
  for (nfds_t i = 0; i < count; ++i)
    if (targets[i])
      registrations.push_back(std::make_unique<emu::WaitRegistration>(*targets[i], waiter));
  const Deadline deadline = Deadline::after(timeout);

  if (futex) {
    struct timespec at {};
    const struct timespec* until = deadline.absolute(at);
    while (true) {
      const uint32_t seen = waiter.generation();
      for (nfds_t i = 0; i < count; ++i)
        if (!targets[i]) fds[i].revents = 0;  // negative fds
      const int ready = sample_emulated(fds, count, files, targets, true);
      if (ready > 0 || deadline.passed()) return ready;
      if (waiter.sleep(seen, until) != 0) return -1;
    }
  }

  // Request and video entries become fd -1 (ignored by the kernel); the
  // waiter's eventfd goes last.
  std::vector<struct pollfd> work(count + 1);
  for (nfds_t i = 0; i < count; ++i) work[i] = {targets[i] ? -1 : fds[i].fd, fds[i].events, 0};
  work[count] = {waiter.fd(), POLLIN, 0};
  while (true) {
    const int ready_before =
        any_target ? sample_emulated(fds, count, files, targets, false) : 0;
    struct timespec slice {};
    const struct timespec* wait = ready_before > 0 ? &slice : deadline.remaining(slice);
    const int result = real_ppoll(work.data(), count + 1, wait, sigmask);
    if (result < 0) return result;
    if (work[count].revents) waiter.consume();
    int ready = sample_emulated(fds, count, files, targets, true);
    for (nfds_t i = 0; i < count; ++i) {
      if (targets[i]) continue;
      fds[i].revents = files[i] ? static_cast<short>(emulated_events(
                                      *files[i], nullptr, fds[i].events, work[i].revents, true))
                                : work[i].revents;
      if (fds[i].revents) ++ready;
    }
    if (ready > 0 || deadline.passed()) return ready;
  }
}

int poll_with_ms(struct pollfd* fds, nfds_t count, int timeout_ms) {
  if (timeout_ms < 0) return emulated_ppoll(fds, count, nullptr, nullptr);
  struct timespec timeout {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  return emulated_ppoll(fds, count, &timeout, nullptr);
}

bool sets_hold_emulated(int nfds, fd_set* r, fd_set* w, fd_set* e) {
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd)
    if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e)))
      if (Emulator::instance().fds().find(fd)) return true;
  return false;
}

// select() expressed as poll(): readfds <-> POLLIN, writefds <-> POLLOUT,
// exceptfds <-> POLLPRI (the request fd's completion).
int select_via_poll(int nfds, fd_set* r, fd_set* w, fd_set* e, const struct timespec* timeout,
                    const sigset_t* sigmask) {
  std::vector<struct pollfd> fds;
  for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
    short events = 0;
    if (r && FD_ISSET(fd, r)) events |= POLLIN;
    if (w && FD_ISSET(fd, w)) events |= POLLOUT;
    if (e && FD_ISSET(fd, e)) events |= POLLPRI;
    if (events) fds.push_back({fd, events, 0});
  }
  const int result = emulated_ppoll(fds.data(), fds.size(), timeout, sigmask);
  if (result < 0) return result;
  if (r) FD_ZERO(r);
  if (w) FD_ZERO(w);
  if (e) FD_ZERO(e);
  int bits = 0;
  for (const auto& p : fds) {
    if (r && (p.events & POLLIN) && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      FD_SET(p.fd, r);
      ++bits;
    }
    if (w && (p.events & POLLOUT) && (p.revents & (POLLOUT | POLLERR))) {
      FD_SET(p.fd, w);
      ++bits;
    }
    if (e && (p.events & POLLPRI) && (p.revents & POLLPRI)) {
      FD_SET(p.fd, e);
      ++bits;
    }
  }
  return bits;
}

// ---- epoll ---------------------------------------------------------------

// epoll_wait and its variants over a set that may hold emulated watches:
// `wait_once(deadline)` is the client's own call with what is left of its
// timeout. When every event it returned was dropped (the model's state moved
// on), the wait goes on, as ep_poll() does when ep_send_events() finds none.
template <typename WaitOnce>
int epoll_wait_translated(struct epoll_event* events, const Deadline& deadline, WaitOnce wait_once) {
  emu::EpollWatches& watches = emu::EpollWatches::instance();
  while (true) {
    const int result = wait_once(deadline);
    if (result <= 0 || watches.empty()) return result;
    const int kept = watches.translate(events, result);
    if (kept > 0 || deadline.passed()) return kept;
  }
}

int do_ioctl(int fd, unsigned long request, void* arg) {
  std::shared_ptr<emu::EmulatedFile> file = Emulator::instance().fds().find(fd);
  if (!file) {
    const IoctlFn real_ioctl = next_ioctl.get();
    return real_ioctl ? real_ioctl(fd, request, arg) : no_next_function();
  }
  Emulator& emulator = Emulator::instance();
  emulator.counters().count_ioctl(request);
  // An injected fault fails the ioctl at its entry: the model never sees it.
  if (const int error = emulator.faults().on_ioctl(file->node_kind(), file->decoder_index(), request, arg)) {
    emulator.log("fd %d: %s -> %s (injected)", fd, emu::ioctl_name(request).c_str(), std::strerror(error));
    return finish(-error);
  }
  const int result = file->ioctl(fd, request, arg);
  if (result < 0)
    emulator.log("fd %d: %s -> %s", fd, emu::ioctl_name(request).c_str(), std::strerror(-result));
  else
    emulator.log("fd %d: %s -> %d", fd, emu::ioctl_name(request).c_str(), result);
  return finish(result);
}

int do_stat(const char* path, struct stat* st, NextFunction<StatFn>& next) {
  if (auto fake = Emulator::instance().stat_path(path)) {
    *st = *fake;
    return 0;
  }
  const StatFn fn = next.get();
  return fn ? fn(path, st) : no_next_function();
}

int do_fstat(int fd, struct stat* st) {
  const FstatFn real_fstat = next_fstat.get();
  if (!real_fstat) return no_next_function();
  const int result = real_fstat(fd, st);
  if (result == 0) Emulator::instance().patch_fstat(fd, *st);
  return result;
}

int do_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  if (is_absolute(path))
    if (auto fake = Emulator::instance().stat_path(path)) {
      *st = *fake;
      return 0;
    }
  const FstatatFn real_fstatat = next_fstatat.get();
  if (!real_fstatat) return no_next_function();
  const int result = real_fstatat(dirfd, path, st, flags);
  if (result == 0 && names_fd_itself(path, flags))
    Emulator::instance().patch_fstat(dirfd, *st);
  return result;
}

int do_open(const char* path, int flags, mode_t mode, NextFunction<OpenFn>& next) {
  int result = -1;
  if (emulated_open(path, flags, result)) return result;
  const OpenFn fn = next.get();
  return fn ? fn(path, flags, mode) : no_next_function();
}

int do_openat(int dirfd, const char* path, int flags, mode_t mode, NextFunction<OpenatFn>& next) {
  int result = -1;
  if ((dirfd == AT_FDCWD || is_absolute(path)) && emulated_open(path, flags, result)) return result;
  const OpenatFn fn = next.get();
  return fn ? fn(dirfd, path, flags, mode) : no_next_function();
}

mode_t mode_arg(int flags, va_list args) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

int dup_result(int oldfd, int newfd) {
  if (newfd < 0) return newfd;
  // What dup2/dup3 closed at newfd is dropped here, outside the table's lock.
  const std::shared_ptr<emu::EmulatedFile> replaced =
      Emulator::instance().fds().duplicate(oldfd, newfd);
  return newfd;
}

int do_fcntl(int fd, int cmd, void* arg, NextFunction<FcntlFn>& next) {
  const FcntlFn fn = next.get();
  if (!fn) return no_next_function();
  const int result = fn(fd, cmd, arg);
  if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && result >= 0) return dup_result(fd, result);
  return result;
}

void* do_mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
              NextFunction<MmapFn>& next) {
  if (fd >= 0 && !(flags & MAP_ANONYMOUS))
    if (auto file = Emulator::instance().fds().find(fd)) {
      if (file->node_kind() == emu::NodeKind::Video)
        if (const int error = Emulator::instance().faults().on_mmap(file->decoder_index())) {
          errno = error;
          return MAP_FAILED;
        }
      return file->mmap(addr, length, prot, flags, offset);
    }
  const MmapFn fn = next.get();
  if (!fn) {
    errno = ENOSYS;
    return MAP_FAILED;
  }
  return fn(addr, length, prot, flags, fd, offset);
}

// A read-only stream over `text` (a memfd, so it lives as long as the FILE).
FILE* text_stream(const std::string& text) {
  const int fd = static_cast<int>(::syscall(SYS_memfd_create, "emu-sysfs", MFD_CLOEXEC));
  if (fd < 0) return nullptr;
  if (::syscall(SYS_write, fd, text.data(), text.size()) != static_cast<long>(text.size()) ||
      ::syscall(SYS_lseek, fd, 0, SEEK_SET) != 0) {
    ::syscall(SYS_close, fd);
    return nullptr;
  }
  FILE* stream = ::fdopen(fd, "r");
  if (!stream) ::syscall(SYS_close, fd);
  return stream;
}

FILE* do_fopen(const char* path, const char* mode, NextFunction<FopenFn>& next) {
  if (mode && mode[0] == 'r')
    if (auto text = Emulator::instance().sysfs_text(path)) return text_stream(*text);
  const FopenFn fn = next.get();
  if (!fn) {
    errno = ENOSYS;
    return nullptr;
  }
  return fn(path, mode);
}

}  // namespace

extern "C" {

// ---- fopen (sysfs uevent files of the emulated nodes) --------------------
__attribute__((visibility("default"))) FILE* fopen(const char* path, const char* mode) {
  return do_fopen(path, mode, next_fopen);
}
__attribute__((visibility("default"))) FILE* fopen64(const char* path, const char* mode) {
  return do_fopen(path, mode, next_fopen64);
}

// ---- open ---------------------------------------------------------------
__attribute__((visibility("default"))) int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return do_open(path, flags, mode, next_open);
}
__attribute__((visibility("default"))) int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return do_open(path, flags, mode, next_open64);
}
__attribute__((visibility("default"))) int __open_2(const char* path, int flags) {
  return do_open(path, flags, 0, next_open);
}
__attribute__((visibility("default"))) int __open64_2(const char* path, int flags) {
  return do_open(path, flags, 0, next_open64);
}
__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return do_openat(dirfd, path, flags, mode, next_openat);
}
__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_arg(flags, args);
  va_end(args);
  return do_openat(dirfd, path, flags, mode, next_openat64);
}
__attribute__((visibility("default"))) int __openat_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags, 0, next_openat);
}
__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags, 0, next_openat64);
}

// ---- stat ---------------------------------------------------------------
__attribute__((visibility("default"))) int stat(const char* path, struct stat* st) noexcept {
  return do_stat(path, st, next_stat);
}
__attribute__((visibility("default"))) int stat64(const char* path, struct stat64* st) noexcept {
  return do_stat(path, reinterpret_cast<struct stat*>(st), next_stat64);
}
__attribute__((visibility("default"))) int lstat(const char* path, struct stat* st) noexcept {
  return do_stat(path, st, next_lstat);
}
__attribute__((visibility("default"))) int lstat64(const char* path, struct stat64* st) noexcept {
  return do_stat(path, reinterpret_cast<struct stat*>(st), next_lstat64);
}
__attribute__((visibility("default"))) int fstat(int fd, struct stat* st) noexcept {
  return do_fstat(fd, st);
}
__attribute__((visibility("default"))) int fstat64(int fd, struct stat64* st) noexcept {
  return do_fstat(fd, reinterpret_cast<struct stat*>(st));
}
__attribute__((visibility("default"))) int fstatat(int dirfd, const char* path, struct stat* st,
                                                   int flags) noexcept {
  return do_fstatat(dirfd, path, st, flags);
}
__attribute__((visibility("default"))) int fstatat64(int dirfd, const char* path,
                                                     struct stat64* st, int flags) noexcept {
  return do_fstatat(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}
__attribute__((visibility("default"))) int __xstat(int, const char* path, struct stat* st) {
  return do_stat(path, st, next_stat);
}
__attribute__((visibility("default"))) int __xstat64(int, const char* path, struct stat64* st) {
  return do_stat(path, reinterpret_cast<struct stat*>(st), next_stat64);
}
__attribute__((visibility("default"))) int __lxstat(int, const char* path, struct stat* st) {
  return do_stat(path, st, next_lstat);
}
__attribute__((visibility("default"))) int __lxstat64(int, const char* path, struct stat64* st) {
  return do_stat(path, reinterpret_cast<struct stat*>(st), next_lstat64);
}
__attribute__((visibility("default"))) int __fxstat(int, int fd, struct stat* st) {
  return do_fstat(fd, st);
}
__attribute__((visibility("default"))) int __fxstat64(int, int fd, struct stat64* st) {
  return do_fstat(fd, reinterpret_cast<struct stat*>(st));
}
__attribute__((visibility("default"))) int __fxstatat(int, int dirfd, const char* path,
                                                      struct stat* st, int flags) {
  return do_fstatat(dirfd, path, st, flags);
}
__attribute__((visibility("default"))) int __fxstatat64(int, int dirfd, const char* path,
                                                        struct stat64* st, int flags) {
  return do_fstatat(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}
__attribute__((visibility("default"))) int statx(int dirfd, const char* path, int flags,
                                                 unsigned int mask, struct statx* out) noexcept {
  if (is_absolute(path))
    if (auto fake = Emulator::instance().stat_path(path)) {
      fill_statx(out, *fake);
      return 0;
    }
  const StatxFn real_statx = next_statx.get();
  if (!real_statx) return no_next_function();
  const int result = real_statx(dirfd, path, flags, mask, out);
  if (result == 0 && names_fd_itself(path, flags)) {
    struct stat st {};
    if (Emulator::instance().patch_fstat(dirfd, st)) {
      out->stx_mode = static_cast<uint16_t>(st.st_mode);
      out->stx_rdev_major = major(st.st_rdev);
      out->stx_rdev_minor = minor(st.st_rdev);
      out->stx_size = 0;
    }
  }
  return result;
}
__attribute__((visibility("default"))) int access(const char* path, int mode) noexcept {
  if (Emulator::instance().stat_path(path)) return 0;
  const AccessFn real_access = next_access.get();
  return real_access ? real_access(path, mode) : no_next_function();
}

// ---- ioctl / close / dup / fcntl / mmap ---------------------------------
__attribute__((visibility("default"))) int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list args;
  va_start(args, request);
  void* arg = va_arg(args, void*);
  va_end(args);
  return do_ioctl(fd, request, arg);
}
__attribute__((visibility("default"))) int close(int fd) {
  // Drop the model object only after the real close, outside every lock.
  // Erased before the real close: once the kernel may reuse the number, the
  // table no longer names it.
  std::shared_ptr<emu::EmulatedFile> dropped = Emulator::instance().fds().erase(fd);
  emu::EpollWatches& watches = emu::EpollWatches::instance();
  if (!watches.empty()) {
    // eventpoll_release(): a file leaves every epoll set when its last fd
    // goes; an epoll fd takes its registrations with it.
    if (dropped && !Emulator::instance().fds().refers_to(dropped.get()))
      watches.file_released(dropped.get());
    if (!dropped) watches.epoll_fd_closed(fd);
  }
  const CloseFn real_close = next_close.get();
  return real_close ? real_close(fd) : no_next_function();
}
__attribute__((visibility("default"))) int dup(int fd) noexcept {
  const DupFn real_dup = next_dup.get();
  return real_dup ? dup_result(fd, real_dup(fd)) : no_next_function();
}
__attribute__((visibility("default"))) int dup2(int oldfd, int newfd) noexcept {
  const Dup2Fn real_dup2 = next_dup2.get();
  if (!real_dup2) return no_next_function();
  const int result = real_dup2(oldfd, newfd);
  return (result >= 0 && oldfd != newfd) ? dup_result(oldfd, result) : result;
}
__attribute__((visibility("default"))) int dup3(int oldfd, int newfd, int flags) noexcept {
  const Dup3Fn real_dup3 = next_dup3.get();
  return real_dup3 ? dup_result(oldfd, real_dup3(oldfd, newfd, flags)) : no_next_function();
}
__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return do_fcntl(fd, cmd, arg, next_fcntl);
}
__attribute__((visibility("default"))) int fcntl64(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return do_fcntl(fd, cmd, arg, next_fcntl64);
}
__attribute__((visibility("default"))) void* mmap(void* addr, size_t length, int prot, int flags,
                                                  int fd, off_t offset) noexcept {
  return do_mmap(addr, length, prot, flags, fd, offset, next_mmap);
}
__attribute__((visibility("default"))) void* mmap64(void* addr, size_t length, int prot, int flags,
                                                    int fd, off64_t offset) noexcept {
  return do_mmap(addr, length, prot, flags, fd, offset, next_mmap64);
}

// ---- poll / select ------------------------------------------------------
__attribute__((visibility("default"))) int poll(struct pollfd* fds, nfds_t count, int timeout_ms) {
  return poll_with_ms(fds, count, timeout_ms);
}
__attribute__((visibility("default"))) int __poll_chk(struct pollfd* fds, nfds_t count,
                                                      int timeout_ms, size_t) {
  return poll_with_ms(fds, count, timeout_ms);
}
__attribute__((visibility("default"))) int ppoll(struct pollfd* fds, nfds_t count,
                                                 const struct timespec* timeout,
                                                 const sigset_t* sigmask) {
  return emulated_ppoll(fds, count, timeout, sigmask);
}
__attribute__((visibility("default"))) int __ppoll_chk(struct pollfd* fds, nfds_t count,
                                                       const struct timespec* timeout,
                                                       const sigset_t* sigmask, size_t) {
  return emulated_ppoll(fds, count, timeout, sigmask);
}
__attribute__((visibility("default"))) int select(int nfds, fd_set* r, fd_set* w, fd_set* e,
                                                  struct timeval* timeout) {
  if (!sets_hold_emulated(nfds, r, w, e)) {
    const SelectFn real_select = next_select.get();
    return real_select ? real_select(nfds, r, w, e, timeout) : no_next_function();
  }
  struct timespec ts {};
  if (timeout) ts = {timeout->tv_sec, timeout->tv_usec * 1000};
  return select_via_poll(nfds, r, w, e, timeout ? &ts : nullptr, nullptr);
}
__attribute__((visibility("default"))) int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e,
                                                   const struct timespec* timeout,
                                                   const sigset_t* sigmask) {
  if (!sets_hold_emulated(nfds, r, w, e)) {
    const PselectFn real_pselect = next_pselect.get();
    return real_pselect ? real_pselect(nfds, r, w, e, timeout, sigmask) : no_next_function();
  }
  return select_via_poll(nfds, r, w, e, timeout, sigmask);
}

// ---- epoll ----------------------------------------------------------------
__attribute__((visibility("default"))) int epoll_ctl(int epfd, int op, int fd,
                                                     struct epoll_event* event) noexcept {
  const EpollCtlFn real_ctl = next_epoll_ctl.get();
  if (!real_ctl) return no_next_function();
  std::shared_ptr<emu::EmulatedFile> file = Emulator::instance().fds().find(fd);
  emu::PollTarget* target = file ? file->poll_target() : nullptr;
  if (!target) return real_ctl(epfd, op, fd, event);
  return finish(emu::EpollWatches::instance().control(real_ctl, epfd, op, fd, std::move(file),
                                                      *target, event));
}
__attribute__((visibility("default"))) int epoll_wait(int epfd, struct epoll_event* events,
                                                      int max, int timeout_ms) {
  const EpollWaitFn real_wait = next_epoll_wait.get();
  if (!real_wait) return no_next_function();
  return epoll_wait_translated(events, Deadline::after_ms(timeout_ms), [&](const Deadline& d) {
    return real_wait(epfd, events, max, d.remaining_ms());
  });
}
__attribute__((visibility("default"))) int epoll_pwait(int epfd, struct epoll_event* events,
                                                       int max, int timeout_ms,
                                                       const sigset_t* sigmask) {
  const EpollPwaitFn real_wait = next_epoll_pwait.get();
  if (!real_wait) return no_next_function();
  return epoll_wait_translated(events, Deadline::after_ms(timeout_ms), [&](const Deadline& d) {
    return real_wait(epfd, events, max, d.remaining_ms(), sigmask);
  });
}
__attribute__((visibility("default"))) int epoll_pwait2(int epfd, struct epoll_event* events,
                                                        int max, const struct timespec* timeout,
                                                        const sigset_t* sigmask) {
  const EpollPwait2Fn real_wait = next_epoll_pwait2.get();
  if (!real_wait) return no_next_function();
  return epoll_wait_translated(events, Deadline::after(timeout), [&](const Deadline& d) {
    struct timespec left {};
    return real_wait(epfd, events, max, d.remaining(left), sigmask);
  });
}

}  // extern "C"

// Counters go out when the process exits normally.
__attribute__((destructor)) static void write_counters_at_exit() {
  Emulator::instance().write_counters_at_exit();
}

// Firefox's child processes (RDD among them) leave with _exit()
// (ProcessChild::QuickExit), which runs no destructor: write the counters
// there too. exit() reaches libc's own _exit internally, not this one.
using ExitFn = void (*)(int);
constinit NextFunction<ExitFn> next_exit{"_exit"};
constinit NextFunction<ExitFn> next_upper_exit{"_Exit"};

[[noreturn]] static void leave(NextFunction<ExitFn>& next, int status) {
  Emulator::instance().write_counters_at_exit();
  if (const ExitFn real = next.get()) real(status);
  ::syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

extern "C" {
__attribute__((visibility("default"), noreturn)) void _exit(int status) { leave(next_exit, status); }
__attribute__((visibility("default"), noreturn)) void _Exit(int status) { leave(next_upper_exit, status); }
}

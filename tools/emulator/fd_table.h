// Which of the process' file descriptors are emulated device files. Each
// emulated fd is a real fd (a memfd) so dup/close/fork keep their kernel
// semantics; this table maps it to the model object behind it (which also
// answers poll/select/epoll, wait_queue.h). dup'd fds share the object, like
// they share an open file description.
//
// Thread safety: every method may be called from any thread. close() erases
// the entry before the real close, so a number the kernel hands out again can
// never meet a live entry; an entry left behind by a close the emulator did not
// see (close_range, a raw syscall) is recognised by the backing file's inode.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

#include "faults.h"

#if defined(__SANITIZE_THREAD__)
#define EMU_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EMU_THREAD_SANITIZER 1
#endif
#endif

#ifdef EMU_THREAD_SANITIZER
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace emu {

class PollTarget;

// ThreadSanitizer's blocking interceptors (poll, ppoll, select, pselect) call
// the next definition, the emulator's, with its own interceptors switched off,
// so the mutexes the emulator takes in there are invisible to it and every
// access made under them looks unsynchronised. Declaring a lock section with
// this (after locking, destroyed before unlocking) states its happens-before
// edges explicitly, on the lock's own address, which is where TSan keeps the
// lock's clock. Does nothing in other builds.
class SanitizerLockScope {
 public:
  explicit SanitizerLockScope(const void* lock) : lock_(const_cast<void*>(lock)) {
#ifdef EMU_THREAD_SANITIZER
    __tsan_acquire(lock_);
#endif
  }
  ~SanitizerLockScope() {
#ifdef EMU_THREAD_SANITIZER
    __tsan_release(lock_);
#endif
  }
  SanitizerLockScope(const SanitizerLockScope&) = delete;
  SanitizerLockScope& operator=(const SanitizerLockScope&) = delete;

 private:
  [[maybe_unused]] void* lock_;
};

class EmulatedFile {
 public:
  virtual ~EmulatedFile() = default;
  // Returns the ioctl's result (>= 0) or -errno.
  virtual int ioctl(int fd, unsigned long request, void* arg) = 0;
  virtual dev_t rdev() const = 0;
  // Which node this is and the index of its decoder (-1: none), for the
  // fault layer (faults.h).
  virtual NodeKind node_kind() const { return NodeKind::Other; }
  virtual int decoder_index() const { return -1; }
  // The driver's poll for this file (wait_queue.h), or null when the backing
  // fd's own readiness is the answer (render and media nodes).
  virtual PollTarget* poll_target() { return nullptr; }
  // mmap of the node (video buffers). Returns MAP_FAILED with errno set.
  virtual void* mmap(void* addr, size_t length, int prot, int flags, off_t offset);
};

class FdTable {
 public:
  // `fd` (just created by the emulator) now refers to `file`; replaces a
  // stale entry of the same number.
  void insert(int fd, std::shared_ptr<EmulatedFile> file);
  // The file behind `fd`, or null. A stale entry (the fd was closed behind
  // the emulator's back and its number reused) is detected by inode and dropped.
  std::shared_ptr<EmulatedFile> find(int fd);
  // Removes `fd`; returns the file so the caller drops it outside the lock.
  std::shared_ptr<EmulatedFile> erase(int fd);
  // After a successful dup: newfd refers to what oldfd refers to, in one step
  // (no moment where newfd is unknown). Returns what newfd referred to before
  // (dup2/dup3 close it), for the caller to drop outside the lock.
  std::shared_ptr<EmulatedFile> duplicate(int oldfd, int newfd);
  bool empty() const;
  // How many open fds are of each node kind.
  std::map<NodeKind, size_t> count_by_kind() const;
  // Whether any fd still refers to `file` (its open file description lives).
  bool refers_to(const EmulatedFile* file) const;
  void clear();

 private:
  struct Entry {
    std::shared_ptr<EmulatedFile> file;
    dev_t dev;
    ino_t ino;
  };
  // Whether `fd` still is the file `entry` was made for.
  static bool still_refers_to(int fd, const Entry& entry);

  mutable std::shared_mutex mutex_;
  std::unordered_map<int, Entry> entries_;
};

}  // namespace emu

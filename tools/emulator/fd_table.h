// Which of the process' file descriptors are emulated device files. Each
// emulated fd is a real fd (memfd or socket) so dup/close/poll/mmap keep their
// kernel semantics; this table maps it to the model object behind it. dup'd
// fds share the object, like they share an open file description.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace emu {

class EmulatedFile {
 public:
  virtual ~EmulatedFile() = default;
  // Returns the ioctl's result (>= 0) or -errno.
  virtual int ioctl(int fd, unsigned long request, void* arg) = 0;
  virtual dev_t rdev() const = 0;
  // poll(2) readiness the real driver would report for `requested`, or -1
  // when the backing fd's native readiness is already right.
  virtual int poll_events(short requested) { (void)requested; return -1; }
  // mmap of the node (video buffers). Returns MAP_FAILED with errno set.
  virtual void* mmap(void* addr, size_t length, int prot, int flags, off_t offset);
};

class FdTable {
 public:
  void insert(int fd, std::shared_ptr<EmulatedFile> file);
  // The file behind `fd`, or null. A stale entry (the fd was closed behind
  // the emulator's back and its number reused) is detected by inode and dropped.
  std::shared_ptr<EmulatedFile> find(int fd);
  // Removes `fd`; returns the file so the caller drops it outside the lock.
  std::shared_ptr<EmulatedFile> erase(int fd);
  // newfd now refers to what oldfd refers to (after a successful dup).
  void duplicate(int oldfd, int newfd);
  bool empty() const;
  void clear();

 private:
  struct Entry {
    std::shared_ptr<EmulatedFile> file;
    dev_t dev;
    ino_t ino;
  };
  mutable std::shared_mutex mutex_;
  std::unordered_map<int, Entry> entries_;
};

}  // namespace emu

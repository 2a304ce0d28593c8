#include "fd_table.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

namespace emu {
namespace {

bool identity_of(int fd, dev_t& dev, ino_t& ino) {
  struct stat st {};
  // The raw syscall: libc's fstat is interposed and would look the fd up here.
  if (::syscall(SYS_fstat, fd, &st) != 0) return false;
  dev = st.st_dev;
  ino = st.st_ino;
  return true;
}

}  // namespace

void* EmulatedFile::mmap(void*, size_t, int, int, off_t) {
  errno = ENODEV;
  return MAP_FAILED;
}

bool FdTable::still_refers_to(int fd, const Entry& entry) {
  dev_t dev = 0;
  ino_t ino = 0;
  return identity_of(fd, dev, ino) && dev == entry.dev && ino == entry.ino;
}

void FdTable::insert(int fd, std::shared_ptr<EmulatedFile> file) {
  Entry entry{std::move(file), 0, 0};
  identity_of(fd, entry.dev, entry.ino);
  std::shared_ptr<EmulatedFile> replaced;  // dropped after the unlock
  std::unique_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  Entry& slot = entries_[fd];
  replaced = std::move(slot.file);
  slot = std::move(entry);
}

std::shared_ptr<EmulatedFile> FdTable::find(int fd) {
  if (fd < 0) return nullptr;
  std::shared_ptr<EmulatedFile> stale;
  {
    std::shared_lock lock(mutex_);
    SanitizerLockScope sanitizer_scope(&mutex_);
    auto it = entries_.find(fd);
    if (it == entries_.end()) return nullptr;
    // Checked under the lock: a concurrent insert of the same number (after a
    // close the emulator did not see) is either fully before or after this.
    if (still_refers_to(fd, it->second)) return it->second.file;
    stale = it->second.file;
  }
  std::shared_ptr<EmulatedFile> dropped;  // destroyed after the unlock
  std::unique_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  auto it = entries_.find(fd);
  // Between the two locks another thread may have given the number a new
  // entry: only the stale one goes.
  if (it != entries_.end() && it->second.file == stale && !still_refers_to(fd, it->second)) {
    dropped = std::move(it->second.file);
    entries_.erase(it);
  }
  return nullptr;
}

std::shared_ptr<EmulatedFile> FdTable::erase(int fd) {
  std::unique_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  auto it = entries_.find(fd);
  if (it == entries_.end()) return nullptr;
  std::shared_ptr<EmulatedFile> file = std::move(it->second.file);
  entries_.erase(it);
  return file;
}

std::shared_ptr<EmulatedFile> FdTable::duplicate(int oldfd, int newfd) {
  if (oldfd == newfd) return nullptr;
  std::unique_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  std::shared_ptr<EmulatedFile> replaced;
  if (auto target = entries_.find(newfd); target != entries_.end()) {
    replaced = std::move(target->second.file);
    entries_.erase(target);
  }
  auto source = entries_.find(oldfd);
  // A dup shares the open file description, so newfd has oldfd's inode.
  if (source != entries_.end() && still_refers_to(newfd, source->second)) {
    Entry copy = source->second;
    entries_.emplace(newfd, std::move(copy));
  }
  return replaced;
}

bool FdTable::empty() const {
  std::shared_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  return entries_.empty();
}

std::map<NodeKind, size_t> FdTable::count_by_kind() const {
  std::shared_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  std::map<NodeKind, size_t> counts;
  for (const auto& [fd, entry] : entries_) ++counts[entry.file->node_kind()];
  return counts;
}

bool FdTable::refers_to(const EmulatedFile* file) const {
  std::shared_lock lock(mutex_);
  SanitizerLockScope sanitizer_scope(&mutex_);
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const auto& entry) { return entry.second.file.get() == file; });
}

void FdTable::clear() {
  std::unordered_map<int, Entry> dropped;
  {
    std::unique_lock lock(mutex_);
    SanitizerLockScope sanitizer_scope(&mutex_);
    dropped.swap(entries_);
  }
}

}  // namespace emu

#include "fd_table.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace emu {
namespace {

bool identity_of(int fd, dev_t& dev, ino_t& ino) {
  struct stat st {};
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

void FdTable::insert(int fd, std::shared_ptr<EmulatedFile> file) {
  Entry entry{std::move(file), 0, 0};
  identity_of(fd, entry.dev, entry.ino);
  std::unique_lock lock(mutex_);
  entries_[fd] = std::move(entry);
}

std::shared_ptr<EmulatedFile> FdTable::find(int fd) {
  if (fd < 0) return nullptr;
  Entry entry;
  {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(fd);
    if (it == entries_.end()) return nullptr;
    entry = it->second;
  }
  dev_t dev = 0;
  ino_t ino = 0;
  if (identity_of(fd, dev, ino) && dev == entry.dev && ino == entry.ino) return entry.file;
  std::shared_ptr<EmulatedFile> stale = erase(fd);
  return nullptr;
}

std::shared_ptr<EmulatedFile> FdTable::erase(int fd) {
  std::unique_lock lock(mutex_);
  auto it = entries_.find(fd);
  if (it == entries_.end()) return nullptr;
  std::shared_ptr<EmulatedFile> file = std::move(it->second.file);
  entries_.erase(it);
  return file;
}

void FdTable::duplicate(int oldfd, int newfd) {
  std::shared_ptr<EmulatedFile> file = find(oldfd);
  std::shared_ptr<EmulatedFile> replaced = erase(newfd);
  if (file) insert(newfd, std::move(file));
}

bool FdTable::empty() const {
  std::shared_lock lock(mutex_);
  return entries_.empty();
}

void FdTable::clear() {
  std::unordered_map<int, Entry> dropped;
  {
    std::unique_lock lock(mutex_);
    dropped.swap(entries_);
  }
}

}  // namespace emu

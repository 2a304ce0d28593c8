// Test-only LD_PRELOAD in front of the emulator: a file-access policy like
// the one Firefox's RDD process lives under (its broker,
// security/sandbox/linux/broker/SandboxBrokerPolicyFactory.cpp GetRDDPolicy).
// The broker answers EACCES for every path its policy does not name, whether
// the path exists or not; stat, open and opendir all go through it. Device
// nodes the policy allows reach the emulator (the kernel here).
//
// DISCOVERY_BROKER_ALLOW="/dev/dri/,/dev/media0,/dev/video0"
//   paths allowed under /dev and /sys (an entry ending in '/' allows the
//   tree); everything else under /dev and /sys is refused with EACCES
// DISCOVERY_BROKER_LIST_DEV=1
//   opendir("/dev") allowed (builds with MOZ_ENABLE_V4L2 add /dev read-only)

// Built without _FILE_OFFSET_BITS=64 so that `open`, `stat`, ... name the
// plain symbols and the *64 ones can be defined beside them.
#undef _FILE_OFFSET_BITS

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const std::vector<std::string>& allowed() {
  static const std::vector<std::string> list = [] {
    std::vector<std::string> out;
    const char* spec = std::getenv("DISCOVERY_BROKER_ALLOW");
    std::string rest = spec ? spec : "";
    size_t start = 0;
    while (start <= rest.size()) {
      size_t comma = rest.find(',', start);
      std::string entry = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!entry.empty()) out.push_back(entry);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }();
  return list;
}

// True when the policy refuses `path` (absolute paths under /dev or /sys only).
bool refused(const char* path) {
  std::string p = path;
  if (p.rfind("/dev/", 0) != 0 && p.rfind("/sys/", 0) != 0) return false;
  for (const std::string& entry : allowed()) {
    if (entry.back() == '/' ? p.rfind(entry, 0) == 0 : p == entry) return false;
  }
  return true;
}

template <typename Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

int refuse() {
  errno = EACCES;
  return -1;
}

mode_t mode_argument(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  if (refused(path)) return refuse();
  return next<int (*)(const char*, int, ...)>("open")(path, flags, mode);
}

__attribute__((visibility("default"))) int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  if (refused(path)) return refuse();
  return next<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  if (refused(path)) return refuse();
  return next<int (*)(int, const char*, int, ...)>("openat")(dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_argument(flags, args);
  va_end(args);
  if (refused(path)) return refuse();
  return next<int (*)(int, const char*, int, ...)>("openat64")(dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int stat(const char* path, struct stat* st) {
  if (refused(path)) return refuse();
  return next<int (*)(const char*, struct stat*)>("stat")(path, st);
}

__attribute__((visibility("default"))) int stat64(const char* path, struct stat64* st) {
  if (refused(path)) return refuse();
  return next<int (*)(const char*, struct stat64*)>("stat64")(path, st);
}

__attribute__((visibility("default"))) int lstat(const char* path, struct stat* st) {
  if (refused(path)) return refuse();
  return next<int (*)(const char*, struct stat*)>("lstat")(path, st);
}

__attribute__((visibility("default"))) int lstat64(const char* path, struct stat64* st) {
  if (refused(path)) return refuse();
  return next<int (*)(const char*, struct stat64*)>("lstat64")(path, st);
}

__attribute__((visibility("default"))) FILE* fopen(const char* path, const char* mode) {
  if (refused(path)) {
    errno = EACCES;
    return nullptr;
  }
  return next<FILE* (*)(const char*, const char*)>("fopen")(path, mode);
}

__attribute__((visibility("default"))) FILE* fopen64(const char* path, const char* mode) {
  if (refused(path)) {
    errno = EACCES;
    return nullptr;
  }
  return next<FILE* (*)(const char*, const char*)>("fopen64")(path, mode);
}

__attribute__((visibility("default"))) DIR* opendir(const char* path) {
  const char* list_dev = std::getenv("DISCOVERY_BROKER_LIST_DEV");
  bool dev_listable = list_dev && std::strcmp(list_dev, "1") == 0;
  if ((std::strcmp(path, "/dev") == 0 && !dev_listable) || refused(path)) {
    errno = EACCES;
    return nullptr;
  }
  return next<DIR* (*)(const char*)>("opendir")(path);
}

}  // extern "C"

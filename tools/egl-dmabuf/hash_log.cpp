#include "hash_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "v4l2/unique_fd.h"

namespace egl_dmabuf {

std::string record_json(int pid, uint64_t seq, const ImportRecord& r) {
  std::string planes;
  for (const auto& md5 : r.plane_md5) planes += (planes.empty() ? "\"" : ",\"") + md5 + "\"";
  return "{\"pid\":" + std::to_string(pid) + ",\"seq\":" + std::to_string(seq) +
         ",\"image\":" + std::to_string(r.image) + ",\"fourcc\":\"" + r.fourcc + "\",\"modifier\":\"" + r.modifier +
         "\",\"width\":" + std::to_string(r.width) + ",\"height\":" + std::to_string(r.height) + ",\"buffer\":\"" +
         r.buffer + "\",\"planes\":[" + planes + "]}";
}

HashLog::HashLog() {
  if (const char* path = std::getenv("EGL_DMABUF_HASH_LOG"); path && *path) path_ = path;
}

void HashLog::append(const ImportRecord& record) {
  if (path_.empty()) return;
  std::string line = record_json(static_cast<int>(::getpid()), seq_++, record) + "\n";
  v4l2va::UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    std::fprintf(stderr, "egl-dmabuf: open(%s) for the hash log failed: %s\n", path_.c_str(), std::strerror(errno));
    return;
  }
  ssize_t written = ::write(fd.get(), line.data(), line.size());
  if (written != static_cast<ssize_t>(line.size()))
    std::fprintf(stderr, "egl-dmabuf: write to %s failed: %s\n", path_.c_str(),
                 written < 0 ? std::strerror(errno) : "short write");
}

}  // namespace egl_dmabuf

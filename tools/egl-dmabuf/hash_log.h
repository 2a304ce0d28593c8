// EGL_DMABUF_HASH_LOG=path: one JSON line per texture made from an imported
// dma-buf, with the MD5 of every plane as it was read, so a test can compare
// what the compositor got with the software decoder's frames.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "imported_image.h"

namespace egl_dmabuf {

struct ImportRecord {
  uint64_t image = 0;  // the image's number in this process (creation order)
  std::string fourcc, modifier, buffer;
  uint32_t width = 0, height = 0;
  std::vector<std::string> plane_md5;
};

// {"pid":..,"seq":..,"image":..,"fourcc":"R8","modifier":"linear",
//  "width":..,"height":..,"buffer":"dev:ino","planes":["md5",..]}
std::string record_json(int pid, uint64_t seq, const ImportRecord& record);

class HashLog {
 public:
  // Reads EGL_DMABUF_HASH_LOG; an unset variable makes append() do nothing.
  HashLog();
  bool enabled() const { return !path_.empty(); }
  // Appends one line with one write(O_APPEND), so lines of concurrent
  // processes (Firefox's compositor and RDD) stay whole.
  void append(const ImportRecord& record);

 private:
  std::string path_;
  std::atomic<uint64_t> seq_{0};
};

}  // namespace egl_dmabuf
